"""Which records may be averaged together: those of one *setting* (a preset plus its --set/--config changes)
and, per table cell, one config hash.

A smoke run and a cpu run written into one folder once gave a Table 2 cell averaging a 50% and a 90% teacher.
Reports now split records by setting (a separate section or row each) and, where one setting holds several
config hashes for the same dataset, pair and method (the code changed a config between runs), keep only the
newest hash's records and say how many were left out.
"""
from __future__ import annotations

import json
import warnings

from .record_schema import RunRecord


def setting_name(preset: str, overrides: dict | None, teacher_checkpoint: str | None = None) -> str:
    """The preset, plus its command-line changes when there are any (they change what a method does), plus the
    given teacher's hash (run --teacher-checkpoint: another teacher than the harness trains)."""
    name = preset if not overrides else f"{preset} + {json.dumps(overrides, sort_keys=True, separators=(',', ':'))}"
    return f"{name} + teacher {teacher_checkpoint[:12]}" if teacher_checkpoint else name


def setting_of(record: RunRecord) -> str:
    config = record.config or {}
    return setting_name(record.preset, config.get("overrides"), config.get("teacher_checkpoint"))


def newest_config_only(records: list[RunRecord]) -> list[RunRecord]:
    """Per (dataset, pair, method, setting): the records of the config hash of the newest record (file order)."""
    newest = {(r.dataset, r.pair, r.method, setting_of(r)): r.config_hash for r in records}
    kept = [r for r in records if newest[(r.dataset, r.pair, r.method, setting_of(r))] == r.config_hash]
    if len(kept) < len(records):
        warnings.warn(f"{len(records) - len(kept)} record(s) of an older config hash left out of the reports "
                      "(the same preset and method with another config: results of different configs are never "
                      "averaged); write runs of another config to another --out")
    return kept


def split_by_setting(records: list[RunRecord]) -> dict[str, list[RunRecord]]:
    """Records grouped by setting (first-seen order), one config hash per cell group."""
    parts: dict[str, list[RunRecord]] = {}
    for r in newest_config_only(records):
        parts.setdefault(setting_of(r), []).append(r)
    return parts


class MixedSettings(ValueError):
    """A run would add records of another setting to a folder that holds some."""


def check_not_mixed(records: list[RunRecord], setting: str, out) -> None:
    """Refuse to add `setting` to a folder whose records are of another setting (run --allow-mixed skips this)."""
    others = sorted({setting_of(r) for r in records} - {setting})
    if others:
        raise MixedSettings(f"{out} already holds records of another setting ({', '.join(others)}); this run is "
                            f"{setting}. Use another --out, or pass --allow-mixed to keep both (reports show each "
                            "setting separately, never averaged)")
