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
names the valid keys). The changes are kept on the preset (`Preset.overrides`), so every record
stores them in its config, and its config hash differs from the preset's own.
"""
from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any, Mapping

from methods import METHODS, method_configs
from methods.overrides import SCOPES, ConfigKeyError, replace_checked, unknown_key

from .presets import Preset

NESTED_CONFIGS = ("data", "frontend")  # preset fields that are typed configs themselves


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
            raise ConfigKeyError(f"--config {path}: {block!r} must be a table ([{block}]) of field = value lines")
    return document


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
    return result
