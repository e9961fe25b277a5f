"""Method registry: name -> (Method class, default config at paper scale, one-line summary)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from benchmark.registry import Registry

from .base import Method, apply_overrides


@dataclass(frozen=True)
class MethodSpec:
    name: str
    method_cls: type[Method]
    config: Any  # paper-scale defaults; presets override fields by name
    summary: str


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(name: str, method_cls: type[Method], config: Any, summary: str) -> None:
    METHODS.add(name, MethodSpec(name, method_cls, config, summary), summary)


def method_config(name: str, overrides: Mapping[str, Any] = {}, per_method: Mapping[str, Mapping] = {}) -> Any:
    """The config a cell uses: paper defaults <- preset-wide overrides <- per-method overrides."""
    config = apply_overrides(METHODS.get(name).config, overrides)
    return apply_overrides(config, per_method.get(name, {}))


def build_method(name: str, config: Any) -> Method:
    spec = METHODS.get(name)
    method = spec.method_cls(config)
    method.name = name
    return method
