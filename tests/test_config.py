"""Preset overrides are scoped and checked; `benchmark config` prints what cells run with; the table of the paper
preset's reference settings in methods/README.md matches the resolved configs."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.core.registry import Entry
from benchmark.core.training import TrainConfig
from methods import METHODS, ConfigKeyError, method_config, method_configs
from methods.inversion.loop import DataFreeConfig
from methods.overrides import resolve_all

PAPER = PRESETS.get("paper")
SMOKE = PRESETS.get("smoke")
README = Path(__file__).resolve().parents[1] / "methods" / "README.md"


def with_blocks(preset=SMOKE, **blocks):
    return dataclasses.replace(preset, **blocks)


@pytest.mark.parametrize("preset", PRESETS.names())
def test_every_preset_resolves_for_every_method(preset):
    configs = method_configs(PRESETS.get(preset))
    assert set(configs) == set(METHODS.names())
    for name, config in configs.items():
        assert type(config) is type(METHODS.get(name).config)


def test_the_supervised_lr_does_not_reach_adi():
    assert method_config("adi", PAPER).input_lr == 0.05  # the reference, not the supervised 1e-3
    for name in ("teacher", "student", "kd"):
        assert method_config(name, PAPER).lr == 1e-3
    assert method_config("adi", SMOKE).input_lr == 0.2  # the short-budget per-method change


def test_a_scoped_key_reaches_only_the_configs_that_have_it():
    preset = with_blocks(data_free={"bank_size": 99, "synth_batch": 7}, supervised={"temperature": 2.0})
    assert method_config("cmi", preset).bank_size == method_config("frami-no-finv", preset).bank_size == 99
    assert not hasattr(method_config("adi", preset), "bank_size")
    assert method_config("adi", preset).synth_batch == 7
    assert method_config("kd", preset).temperature == 2.0  # KD's T, from the supervised block ...
    assert method_config("adi", preset).temperature == METHODS.get("adi").config.temperature  # ... never ADI's


def test_scopes_come_from_the_config_class_so_new_methods_need_no_edit():
    @dataclasses.dataclass(frozen=True)
    class NewConfig(DataFreeConfig):
        novelty: float = 1.0

    preset = with_blocks(data_free={"novelty": 3.0, "rounds": 2}, per_method={})
    configs = resolve_all({"new": NewConfig(), "teacher": TrainConfig()}, preset)
    assert configs["new"].novelty == 3.0 and configs["new"].rounds == 2
    assert configs["teacher"] == TrainConfig(**SMOKE.supervised)


@pytest.mark.parametrize("blocks,needles", [
    ({"data_free": {"synth_bach": 8}}, ["data_free", "'synth_bach'", "closest valid key: 'synth_batch'"]),
    ({"supervised": {"synth_batch": 8}}, ["supervised", "'synth_batch'", "closest valid key: 'batch_size'"]),
    ({"data_free": {"lr": 0.1}}, ["data_free", "'lr'"]),  # the old collision is now an error
    ({"per_method": {"adi": {"lr": 0.2}}}, ["per_method['adi']", "'lr'", "input_lr"]),
    ({"per_method": {"cmii": {"nz": 8}}}, ["unknown method 'cmii'", "closest valid method: 'cmi'"]),
    ({"data_free": {"synth_batch": "32"}}, ["'synth_batch' takes int, got '32' (str)"]),
    ({"data_free": {"synth_batch": 32.0}}, ["'synth_batch' takes int, got 32.0 (float)"]),
    ({"per_method": {"frami": {"feature_invariance": 1}}}, ["'feature_invariance' takes bool, got 1 (int)"]),
    ({"data_free": {"views": {"max_roll": 0.2}}}, ["views", "'max_roll'", "closest valid key: 'max_roll_fraction'"]),
])
def test_bad_overrides_fail_naming_the_key_and_the_closest_valid_one(blocks, needles):
    preset = with_blocks(**blocks)
    for method in ("teacher", "cmi"):  # the whole preset is checked, whichever method is asked for
        with pytest.raises(ConfigKeyError) as error:
            method_config(method, preset)
        for needle in needles:
            assert needle in str(error.value), (needle, str(error.value))
        assert "preset 'smoke'" in str(error.value)


def test_values_are_coerced_loosely_and_nested_configs_take_dicts():
    preset = with_blocks(data_free={"kd_lr": 1, "views": {"gain_db": 3}}, per_method={"frami": {"reused": {"frame": 0}}})
    cmi, frami = method_config("cmi", preset), method_config("frami", preset)
    assert cmi.kd_lr == 1.0 and isinstance(cmi.kd_lr, float)  # same record whichever literal the preset used
    assert cmi.views.gain_db == 3.0 and cmi.views.max_roll_fraction == METHODS.get("cmi").config.views.max_roll_fraction
    assert frami.reused.frame == 0.0 and frami.reused.utterance == METHODS.get("frami").config.reused.utterance
    assert method_config("frami-no-reused", preset).reused.frame == METHODS.get("frami").config.reused.frame


def test_config_command_prints_the_resolved_config(capsys):
    assert main(["config", "--preset", "paper", "--method", "adi"]) == 0
    out = capsys.readouterr().out
    assert "[adi]  ADIConfig, scope: data_free" in out
    assert re.search(r"^  input_lr += 0\.05$", out, re.M), out
    assert main(["config", "--preset", "smoke", "--method", "adi,kd"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  input_lr += 0\.2  \(default 0\.05\)$", out, re.M), out
    assert "[kd]  KDConfig, scope: supervised" in out and "[cmi]" not in out


def test_config_command_json_is_what_records_store(capsys):
    assert main(["config", "--preset", "cpu", "--method", "all", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed)[:3] == ["teacher", "student", "kd"] and len(printed) == len(METHODS.names())
    assert printed["frami"] == dataclasses.asdict(method_config("frami", PRESETS.get("cpu")))


def test_config_command_reports_a_bad_preset_key(capsys, monkeypatch):
    bad = with_blocks(name="typo", data_free={"synth_bach": 8})
    monkeypatch.setitem(PRESETS._entries, "typo", Entry("typo", bad, "a preset with a typo"))
    assert main(["config", "--preset", "typo", "--method", "teacher"]) == 2
    assert "closest valid key: 'synth_batch'" in capsys.readouterr().err


def readme_table(heading: str) -> list[dict[str, str]]:
    """The first markdown table after `heading`, as one dict per row keyed by the header cells."""
    lines = README.read_text().splitlines()
    start = lines.index(heading)
    rows = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("|"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif rows:
            break
    header, _separator, *body = rows
    return [dict(zip(header, row)) for row in body]


def parse_value(text: str):
    text = text.strip("`")
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def test_readme_reference_table_matches_the_paper_preset():
    rows = readme_table("## Reference settings of the `paper` preset")
    configs = method_configs(PAPER)
    checked = set()
    mismatches = []
    for row in rows:
        expected = parse_value(row["value"])
        for method in (m.strip() for m in row["method"].split(",")):
            actual = getattr(configs[method], row["field"])
            same = actual is expected if isinstance(expected, bool) else (
                not isinstance(actual, bool) and actual == expected)
            if not same:
                mismatches.append(f"{method}.{row['field']}: README {expected!r}, resolved {actual!r}")
            checked.add(method)
    assert not mismatches, "\n".join(mismatches)
    assert {"teacher", "student", "kd", "adi", "cmi", "frami"} <= checked
