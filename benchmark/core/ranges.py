"""Valid ranges of config fields, declared next to the fields and checked before anything runs.

Every typed config (TrainConfig, DataFreeConfig and the methods' subclasses, DataConfig, FrontEndConfig, ...)
declares, in its class body, a `RANGES` table (field -> `Range`, `OneOf` or `Matches`) and optionally
`CONSTRAINTS` between fields (`Constraint`). A subclass adds its own table to its bases' (the tables are merged
along the MRO). `check_field` checks one value as `--set`/`--config`/a preset block changes it
(methods/overrides.replace_checked), `check_config` a whole config (every field, nested configs, constraints).
A value outside its range raises `ConfigRangeError`, one line naming the field, the value and the range, so
`run`, `config`, `samples`, `curve` and `throughput` stop before any work (exit code 2).

A `None` is left to the field's type (Optional fields), a bool to its type, and a tuple is checked element-wise.

The other declaration beside a field is what a config hash sees of it (`hashed_fields`): field metadata
`hashed: False` (cannot change a result) or `unhashed_value` (a field added later, left out at the value every
earlier record had, so their hashes stay valid).
"""
from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping


class ConfigRangeError(ValueError):
    """A config value outside its field's valid range; the message names the field, the value and the range."""


@dataclass(frozen=True)
class Range:
    """low <= value <= high (either end open with `low_open` / `high_open`, or missing)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: Any) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def __str__(self) -> str:
        if self.low is None and self.high is None:
            return "any finite number"
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}{')' if self.high_open else ']'}"


def at_least(low: float) -> Range:
    return Range(low=low)


def above(low: float) -> Range:
    return Range(low=low, low_open=True)


def between(low: float, high: float, low_open: bool = False, high_open: bool = False) -> Range:
    return Range(low, high, low_open, high_open)


POSITIVE = above(0)  # a step size, a temperature, a length
NON_NEGATIVE = at_least(0)  # a loss weight (0 turns its term off), a decay
FRACTION = between(0, 1)


@dataclass(frozen=True)
class OneOf:
    choices: tuple[Any, ...]

    def __contains__(self, value: Any) -> bool:
        return value in self.choices

    def __str__(self) -> str:
        return "one of " + ", ".join(map(repr, self.choices))


@dataclass(frozen=True)
class Matches:
    """A string matching `pattern` (whole), described as `text`."""

    pattern: str
    text: str

    def __contains__(self, value: Any) -> bool:
        return isinstance(value, str) and re.fullmatch(self.pattern, value) is not None

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Constraint:
    """A rule between fields of one config: `holds(config)` must be true; `text` says it in words."""

    fields: tuple[str, ...]
    holds: Callable[[Any], bool]
    text: str


def ranges_of(cls: type) -> dict[str, Any]:
    """The merged RANGES tables of a config class and its bases (a subclass's entry wins)."""
    merged: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        merged.update(klass.__dict__.get("RANGES", {}))
    return merged


def constraints_of(cls: type) -> list[Constraint]:
    out: list[Constraint] = []
    for klass in reversed(cls.__mro__):
        out.extend(klass.__dict__.get("CONSTRAINTS", ()))
    return out


def _fits(valid: Any, value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(item in valid for item in value)
    return value in valid


def check_field(cls: type, name: str, value: Any, where: str, label: str | None = None) -> None:
    """Raise ConfigRangeError if `value` is outside the declared range of field `name` of `cls` (`label`: the
    field as the user wrote it, e.g. `kd.temperature`)."""
    valid = ranges_of(cls).get(name)
    if valid is None or value is None or isinstance(value, bool) or dataclasses.is_dataclass(value):
        return
    if not _fits(valid, value):
        raise ConfigRangeError(f"{where}: {label or name} = {value!r} is outside its valid range ({valid})")


def check_config(config: Any, where: str) -> None:
    """Every field of `config` (nested configs too) within its range, then the config's constraints."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            check_config(value, f"{where}.{f.name}")
        else:
            check_field(type(config), f.name, value, where)
    check_constraints(config, where)


def check_constraints(config: Any, where: str) -> None:
    for rule in constraints_of(type(config)):
        if not rule.holds(config):
            values = ", ".join(f"{name} = {getattr(config, name)!r}" for name in rule.fields)
            raise ConfigRangeError(f"{where}: {values} breaks the rule {rule.text}")


def undeclared_fields(cls: type) -> list[str]:
    """Fields of `cls` that need a range (numbers, strings, tuples of them) but have none; nested configs, bools
    and paths are checked by their own type."""
    declared = ranges_of(cls)
    hints = _hints(cls)
    return [f.name for f in dataclasses.fields(cls)
            if f.name not in declared and _needs_range(hints.get(f.name))]


def _hints(cls: type) -> Mapping[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _needs_range(hint: Any) -> bool:
    import typing

    if hint is None or hint is bool or (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
        return False
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) is tuple:
        return all(a in (int, float, str) for a in args if a is not Ellipsis)
    if args:  # X | None
        return any(_needs_range(a) for a in args)
    return hint in (int, float, str)


def hashed_fields(config: Any) -> dict:
    """A config as a dict without the fields that cannot change a result (field metadata `hashed: False`, e.g.
    how a step's memory is bounded), nor a later field at the value every record made before it had (metadata
    `unhashed_value`): what a cell's identity hashes (method configs, DataConfig)."""
    out = dataclasses.asdict(config)
    for f in dataclasses.fields(config):
        if f.metadata.get("hashed", True) is False:
            out.pop(f.name, None)
        elif "unhashed_value" in f.metadata and out.get(f.name) == f.metadata["unhashed_value"]:
            out.pop(f.name, None)
    return out
