"""Changing a preset from the command line: `--set block.field=value` (repeatable) and
`--config FILE.toml`, so a researcher tries a budget or a weight without editing code.

A block is one of the preset's scoped override blocks (`supervised`, `data_free`: methods/overrides.py),
a method name (its `per_method` entry), `data` (DataConfig) or `frontend` (FrontEndConfig). A TOML
file holds the same blocks as tables:

    [data_free]
    iterations = 4
    [adi]
    input_lr = 0.1

The file is applied first, then each `--set` in order. Every key and value is checked against the
typed configs before anything runs (unknown block, unknown field, wrong type: a ConfigKeyError that
names the valid keys; a value outside its field's valid range, or settings that break a rule between
fields: a ConfigRangeError naming the field as written, the value and the range, benchmark/core/ranges.py). The changes are kept on the preset (`Preset.overrides`), so every record
stores them in its config, and its config hash differs from the preset's own.
"""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path
from typing import Any, Mapping

from methods import METHODS, method_configs
from methods.overrides import SCOPES, ConfigKeyError, check_value, field_names, replace_checked, scope_of, unknown_key

from ..core.features import FrontEndConfig
from ..core.ranges import ConfigRangeError, check_constraints, check_field
from ..data.base import DataConfig
from .presets import Preset

NESTED_CONFIGS = ("data", "frontend")  # preset fields that are typed configs themselves
_NESTED_DEFAULTS = {"data": DataConfig, "frontend": FrontEndConfig}


def blocks() -> list[str]:
    """Every block name a change may start with."""
    return [*SCOPES, *NESTED_CONFIGS, *METHODS.names()]


def parse_value(text: str) -> Any:
    """A TOML literal (3, 0.1, true, "x", [1, 2]); `none`/`null` for None; anything else a bare string."""
    if text.strip().lower() in ("none", "null"):
        return None
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def parse_assignment(text: str) -> tuple[str, str, Any]:
    """'adi.input_lr=0.1' -> ('adi', 'input_lr', 0.1)."""
    key, sep, raw = text.partition("=")
    block, dot, field = key.strip().partition(".")
    if not sep or not dot or not block or not field:
        raise ConfigKeyError(f"--set takes block.field=value (e.g. adi.input_lr=0.1, data_free.iterations=4), "
                             f"got {text!r}; blocks: {', '.join(blocks())}")
    return block, field, parse_value(raw.strip())


def read_config_file(path: Path) -> dict[str, dict[str, Any]]:
    """The tables of a TOML config file, each one block of changes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"--config {path}: no such file")
    try:
        document = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigKeyError(f"--config {path}: not valid TOML: {exc}") from None
    for block, table in document.items():
        if not isinstance(table, dict):
            raise ConfigKeyError(f"--config {path}: {top_level_key_message(block, table)}")
    return document


def top_level_key_message(key: str, value: Any) -> str:
    """What to write instead of a top-level `key = value`: the tables whose configs have that field."""
    holders = [block for block in blocks() if any(key in field_names(c) for c in reached_configs(block))]
    if key in blocks():
        return f"{key!r} must be a table ([{key}]) of field = value lines, got {key} = {value!r}"
    if not holders:
        return (f"top-level key {key!r} is no field of any block; keys go under a table ([block] then "
                f"field = value), blocks: {', '.join(blocks())}")
    return (f"top-level key {key!r} must go under the table of its block: [{holders[0]}] then {key} = {value!r}"
            + (f" (tables that hold {key!r}: {', '.join(f'[{b}]' for b in holders)})" if len(holders) > 1 else ""))


def reached_configs(block: str, preset: Preset | None = None) -> list[Any]:
    """The configs a block changes: a scope's (every method config of its class), a method's, data's or
    frontend's (the preset's, or the defaults)."""
    if block in SCOPES:
        return [entry.factory.config for entry in METHODS.entries() if scope_of(entry.factory.config) == block]
    if block in NESTED_CONFIGS:
        return [getattr(preset, block) if preset is not None else _NESTED_DEFAULTS[block]()]
    if block in METHODS.names():
        return [METHODS.get(block).config]
    return []


def check_change_ranges(block: str, fields: Mapping[str, Any], preset: Preset | None = None) -> None:
    """Each --set/--config value within its field's valid range, named as written (`block.field`). Unknown
    keys and wrong types are left to the resolution, which names the closest valid key."""
    for key, value in fields.items():
        config = next((c for c in reached_configs(block, preset) if key in field_names(c)), None)
        if config is None:
            continue
        try:
            value = check_value("", key, typing.get_type_hints(type(config))[key], value, getattr(config, key))
        except ConfigKeyError:
            continue
        check_field(type(config), key, value, "--set/--config", f"{block}.{key}")


def check_preset_rules(preset: Preset, where: str) -> None:
    """Rules between blocks: the data's and front end's own rules, and a synth clip at least one analysis
    window long (a shorter one is a bad file)."""
    check_constraints(preset.data, f"{where} block 'data'")
    check_constraints(preset.frontend, f"{where} block 'frontend'")
    shortest = int(preset.data.synth_min_seconds * preset.frontend.sample_rate)
    if shortest < preset.frontend.n_fft:
        raise ConfigRangeError(
            f"{where}: data.synth_min_seconds = {preset.data.synth_min_seconds!r} makes synth clips of "
            f"{shortest} samples, shorter than one analysis window (frontend.n_fft = {preset.frontend.n_fft} samples "
            f"at {preset.frontend.sample_rate} Hz): data.synth_min_seconds >= "
            f"{preset.frontend.n_fft / preset.frontend.sample_rate:g}")


def collect_changes(config_file: Path | None, assignments: list[str] | None) -> dict[str, dict[str, Any]]:
    """The file's blocks, then each --set on top (later wins)."""
    changes: dict[str, dict[str, Any]] = {}
    for block, table in (read_config_file(config_file) if config_file else {}).items():
        changes.setdefault(block, {}).update(table)
    for text in assignments or ():
        block, field, value = parse_assignment(text)
        changes.setdefault(block, {})[field] = value
    return changes


def customized(preset: Preset, changes: Mapping[str, Mapping[str, Any]]) -> Preset:
    """`preset` with `changes` applied and checked; the preset itself when there are none."""
    if not changes:
        return preset
    updates: dict[str, Any] = {"supervised": dict(preset.supervised), "data_free": dict(preset.data_free),
                               "per_method": {name: dict(block) for name, block in preset.per_method.items()}}
    for block, fields in changes.items():
        check_change_ranges(block, fields, preset)
    for block, fields in changes.items():
        if block in SCOPES:
            updates[block].update(fields)
        elif block in NESTED_CONFIGS:
            current = updates.get(block, getattr(preset, block))
            updates[block] = replace_checked(current, fields, f"--set/--config block {block!r}")
        elif block in METHODS.names():
            updates["per_method"].setdefault(block, {}).update(fields)
        else:
            raise unknown_key("--set/--config", block, blocks(), "block")
    merged = {block: dict(fields) for block, fields in preset.overrides.items()}
    for block, fields in changes.items():
        merged.setdefault(block, {}).update(fields)
    result = dataclasses.replace(preset, **updates, overrides=merged)
    method_configs(result)  # every key and value checked now, before anything runs
    check_preset_rules(result, "--set/--config")
    return result
