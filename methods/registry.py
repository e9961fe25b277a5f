"""Method registry: name -> (Method class, default config at paper scale, one-line summary)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmark.registry import Registry

from .base import Method
from .overrides import ScopedOverrides, resolve_all


@dataclass(frozen=True)
class MethodSpec:
    name: str
    method_cls: type[Method]
    config: Any  # paper-scale defaults; presets change them through scoped blocks (methods/overrides.py)
    summary: str


METHODS: Registry[MethodSpec] = Registry("method")


def register_method(name: str, method_cls: type[Method], config: Any, summary: str) -> None:
    METHODS.add(name, MethodSpec(name, method_cls, config, summary), summary)


def method_config(name: str, preset: ScopedOverrides) -> Any:
    """The config a cell uses: paper default <- the preset's `supervised` or `data_free` block (by the
    config's class) <- its `per_method` entry. The whole preset is checked on every call, so a bad key
    fails whichever method is asked for (`ConfigKeyError`, naming the closest valid key)."""
    METHODS.get(name)  # an unknown name fails with the valid ones
    return method_configs(preset)[name]


def method_configs(preset: ScopedOverrides) -> dict[str, Any]:
    """Every registered method's resolved config under a preset, in registration order."""
    return resolve_all({entry.name: entry.factory.config for entry in METHODS.entries()}, preset)


def build_method(name: str, config: Any) -> Method:
    spec = METHODS.get(name)
    method = spec.method_cls(config)
    method.name = name
    return method
