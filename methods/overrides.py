"""Scoped, checked overrides: how a preset changes the methods' paper-default configs.

A preset used to hold one flat dict applied to *any* config field of the same name, so the
supervised `lr` silently became ADI's input step size and a misspelt key changed nothing.
Now a preset has three blocks, each with a fixed reach:

- `supervised`: every config that is a `benchmark.core.training.TrainConfig` (teacher, student, kd);
- `data_free`:  every config that is a `methods.inversion.loop.DataFreeConfig` (adi, cmi, frami, ...);
- `per_method`: method name -> changes to that one method's config (applied last).

Scope membership is read from the config's class, so a new method needs no edit here. A scoped
key reaches the configs of its scope that have the field (`bank_size` reaches cmi and frami, not
adi); a key that no config of its scope has, a per-method key its method lacks, an unknown method
name and a value of the wrong type are errors (`ConfigKeyError`) naming the closest valid key, and a
value outside its field's valid range (the RANGES table beside the fields, benchmark/core/ranges.py) is a
`ConfigRangeError` naming the field, the value and the range.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from typing import Any, Mapping, Protocol

from benchmark.core.ranges import check_constraints, check_field
from benchmark.core.training import TrainConfig

from .inversion.loop import DataFreeConfig

# Scope name -> the config class whose instances (and subclasses' instances) it reaches.
SCOPES: dict[str, type] = {"supervised": TrainConfig, "data_free": DataFreeConfig}


class ConfigKeyError(ValueError):
    """A preset override that cannot apply: unknown key or method, or a value of the wrong type."""


class ScopedOverrides(Protocol):
    """What resolution needs from a preset (benchmark.config.presets.Preset has these fields)."""

    name: str
    supervised: Mapping[str, Any]
    data_free: Mapping[str, Any]
    per_method: Mapping[str, Mapping[str, Any]]


def scope_of(config: Any) -> str | None:
    """The scope whose block reaches this config, or None (then only `per_method` does)."""
    return next((scope for scope, cls in SCOPES.items() if isinstance(config, cls)), None)


def closest(key: str, valid: list[str]) -> str:
    """The valid name most like `key` (always one, so the message can name it)."""
    return max(valid, key=lambda name: difflib.SequenceMatcher(None, key, name).ratio())


def field_names(config: Any) -> set[str]:
    return {f.name for f in dataclasses.fields(config) if f.init}


def unknown_key(where: str, key: str, valid: list[str], what: str = "key") -> ConfigKeyError:
    valid = sorted(valid)
    if not valid:
        return ConfigKeyError(f"{where}: unknown {what} {key!r}; nothing in this scope takes overrides")
    return ConfigKeyError(f"{where}: unknown {what} {key!r}; closest valid {what}: {closest(key, valid)!r} "
                          f"(valid: {', '.join(valid)})")


# Field type -> the value types it accepts (bool is an int to Python, never to a config).
_ACCEPTS: dict[type, tuple[type, ...]] = {bool: (bool,), int: (int,), float: (int, float), str: (str,)}


def check_value(where: str, key: str, expected: Any, value: Any, current: Any) -> Any:
    """`value` as the field `key` of type `expected` holds it, or ConfigKeyError.

    Loose on purpose: an int is accepted (and stored as a float) where a float is expected, so the
    record reads the same whichever literal the preset used; a dict for a nested config changes
    only the fields it names; lists become tuples. Types this does not know are passed through."""

    def wrong() -> ConfigKeyError:
        return ConfigKeyError(f"{where}: {key!r} takes {getattr(expected, '__name__', expected)}, "
                              f"got {value!r} ({type(value).__name__})")

    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if expected is Any:
        return value
    if dataclasses.is_dataclass(expected):
        if isinstance(value, expected):
            return value
        if isinstance(value, Mapping):
            return replace_checked(current, value, f"{where}.{key}")
        raise wrong()
    if origin in (typing.Union, types.UnionType):  # Optional[X], X | None
        for option in args:
            try:
                return check_value(where, key, option, value, current)
            except ConfigKeyError:
                pass
        raise wrong()
    if origin is typing.Literal:
        if value in args:
            return value
        raise wrong()
    if expected in _ACCEPTS:
        if isinstance(value, _ACCEPTS[expected]) and (expected is bool or not isinstance(value, bool)):
            return float(value) if expected is float else value
        raise wrong()
    if expected is type(None):
        if value is None:
            return value
        raise wrong()
    if origin is tuple:
        if isinstance(value, (tuple, list)):
            return tuple(value)
        raise wrong()
    if isinstance(origin or expected, type) and not isinstance(value, origin or expected):
        raise wrong()
    return value


def replace_checked(config: Any, changes: Mapping[str, Any], where: str) -> Any:
    """`config` with `changes` applied; every key must be a field, every value of its type and within the field's
    valid range (benchmark/core/ranges.py), and the result must keep the config's rules between fields."""
    hints = typing.get_type_hints(type(config))
    where = f"{where} ({type(config).__name__})"
    checked = {}
    for key, value in changes.items():
        if key not in field_names(config):
            raise unknown_key(where, key, list(field_names(config)))
        checked[key] = check_value(where, key, hints[key], value, getattr(config, key))
        check_field(type(config), key, checked[key], where)
    result = dataclasses.replace(config, **checked)
    if checked:
        check_constraints(result, where)
    return result


def check_keys(overrides: ScopedOverrides, defaults: Mapping[str, Any]) -> None:
    """Every scoped key is a field of some config in its scope; every per-method entry names a
    registered method and fields of its config. Values are checked when they are applied."""
    for scope in SCOPES:
        in_scope = [config for config in defaults.values() if scope_of(config) == scope]
        valid = set().union(*(field_names(config) for config in in_scope))
        for key in getattr(overrides, scope):
            if key not in valid:
                raise unknown_key(f"preset {overrides.name!r}, {scope} block", key, list(valid))
    for method, changes in overrides.per_method.items():
        if method not in defaults:
            raise unknown_key(f"preset {overrides.name!r}, per_method", method, list(defaults), "method")
        for key in changes:
            if key not in field_names(defaults[method]):
                raise unknown_key(f"preset {overrides.name!r}, per_method[{method!r}] "
                                  f"({type(defaults[method]).__name__})", key, list(field_names(defaults[method])))


def resolve(name: str, default: Any, overrides: ScopedOverrides) -> Any:
    """One method's config: paper default <- its scope's block (fields it has) <- its per_method entry."""
    config = default
    scope = scope_of(default)
    if scope is not None:
        block = getattr(overrides, scope)
        mine = {key: value for key, value in block.items() if key in field_names(default)}
        config = replace_checked(config, mine, f"preset {overrides.name!r}, {scope} block, method {name!r}")
    return replace_checked(config, overrides.per_method.get(name, {}),
                           f"preset {overrides.name!r}, per_method[{name!r}]")


def resolve_all(defaults: Mapping[str, Any], overrides: ScopedOverrides) -> dict[str, Any]:
    """Every method's config under a preset. Checks the whole preset, so a bad key fails whichever
    method is asked for, not only the cells of the method it was meant for."""
    check_keys(overrides, defaults)
    return {name: resolve(name, default, overrides) for name, default in defaults.items()}
