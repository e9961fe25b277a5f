"""Nonsense settings fail before any work, naming the field: every config field has a valid
range declared beside it (benchmark/core/ranges.py), checked with the types by `config` and `run`; a sweep estimated far
beyond its preset's work is refused unless --allow-expensive; a NaN synthesis loss ends the cell as `diverged`; a
split the data leaves empty is refused up front, naming dataset, split and counts."""
from __future__ import annotations

import dataclasses
import json

import pytest

from benchmark.cli import main
from benchmark.config.customize import check_preset_rules, customized
from benchmark.config.presets import PRESETS
from benchmark.core.features import FrontEndConfig
from benchmark.core.ranges import check_config, undeclared_fields
from benchmark.costs.cost_estimate import EXPENSIVE_FACTOR, TooExpensive, refuse_if_expensive
from benchmark.data import synth
from benchmark.data.base import DataConfig
from benchmark.execution import loading
from benchmark.execution.grid import SweepSpec
from methods import METHODS, method_configs

# Nonsense settings and what each one's one-line error must say: (--set assignments, message)
NONSENSE = [
    (["kd.temperature=-1"], "kd.temperature = -1.0 is outside its valid range (> 0)"),
    (["data_free.iterations=0"], "data_free.iterations = 0 is outside its valid range (>= 1)"),
    (["data_free.synth_batch=0"], "data_free.synth_batch = 0 is outside its valid range (>= 2)"),
    (["cmi.cr_temperature=0"], "cmi.cr_temperature = 0.0 is outside its valid range (> 0)"),
    (["cmi.bank_size=-5"], "cmi.bank_size = -5 is outside its valid range (>= 1)"),
    (["supervised.epochs=0"], "supervised.epochs = 0 is outside its valid range (>= 1)"),
    (["supervised.epochs=-1"], "supervised.epochs = -1 is outside its valid range (>= 1)"),
    (["data.synth_clips_per_class=3"], "data.synth_clips_per_class = 3 is outside its valid range (>= 6)"),
    (["data.synth_clips_per_class=1"], "data.synth_clips_per_class = 1 is outside its valid range (>= 6)"),
    (["data.synth_min_seconds=0.6", "data.synth_max_seconds=0.5"],
     "synth_min_seconds = 0.6, synth_max_seconds = 0.5 breaks the rule synth_min_seconds <= synth_max_seconds"),
    (["data.synth_max_seconds=0.01"],
     "synth_min_seconds = 0.5, synth_max_seconds = 0.01 breaks the rule synth_min_seconds <= synth_max_seconds"),
    (["data.synth_min_seconds=0.01", "data.synth_max_seconds=0.02"],
     "data.synth_min_seconds = 0.01 makes synth clips of 160 samples, shorter than one analysis window"),
    (["cmi.kd_optimizer=adam"], "cmi.kd_optimizer = 'adam' is outside its valid range (one of 'sgd', 'adamw')"),
    (["frontend.n_fft=256"], "win_length = 400, n_fft = 256 breaks the rule win_length <= n_fft"),
]


def sets(assignments: list[str]) -> list[str]:
    return [arg for a in assignments for arg in ("--set", a)]


@pytest.mark.parametrize("assignments,needle", NONSENSE, ids=[" ".join(a) for a, _ in NONSENSE])
def test_config_refuses_a_nonsense_setting_in_one_line(assignments, needle, capsys):
    assert main(["config", "--preset", "micro", *sets(assignments)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and needle in err and "\n" not in err


@pytest.mark.parametrize("assignments,needle", NONSENSE[:2] + NONSENSE[7:8], ids=["kd", "iterations", "clips"])
def test_run_refuses_it_before_any_work(assignments, needle, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--preset", "micro", "--methods", "kd,cmi", "--seeds", "1", "--out", str(out),
                 *sets(assignments)]) == 2
    assert needle in capsys.readouterr().err and not out.exists()  # nothing made, not even the folder


def all_config_classes() -> set[type]:
    """Every config class a setting can reach: the methods' configs, their nested configs, data, front end."""
    found, todo = set(), [type(entry.factory.config) for entry in METHODS.entries()] + [DataConfig, FrontEndConfig]
    while todo:
        cls = todo.pop()
        if cls not in found:
            found.add(cls)
            todo += [type(getattr(cls(), f.name)) for f in dataclasses.fields(cls)
                     if dataclasses.is_dataclass(getattr(cls(), f.name))]
    return found


@pytest.mark.parametrize("cls", sorted(all_config_classes(), key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_every_config_field_has_a_valid_range(cls):
    assert undeclared_fields(cls) == []


@pytest.mark.parametrize("name", PRESETS.names())
def test_every_preset_and_the_paper_defaults_are_within_range(name):
    preset = PRESETS.get(name)
    for method, config in method_configs(preset).items():
        check_config(config, f"preset {name!r}, method {method!r}")
    check_config(preset.data, f"preset {name!r} data")
    check_config(preset.frontend, f"preset {name!r} frontend")
    check_preset_rules(preset, f"preset {name!r}")


def test_six_clips_a_class_is_the_fewest_that_leave_every_synth_split_a_clip():
    def splits(n):
        spec = synth.SynthSpec(16000, n, 0.5, 0.6, 0)
        return {synth.split_of(spec, i) for i in range(n)}

    assert all(splits(n) != {"train", "val", "test"} for n in range(1, 6))
    assert all(splits(n) == {"train", "val", "test"} for n in range(6, 200))


# --- a sweep far beyond its preset ---------------------------------------------------------------------------

def spec_of(preset, methods=("kd", "cmi")) -> SweepSpec:
    return SweepSpec(preset, ("synth",), (("wrn16_2_tiny", "wrn10_2_tiny"),), methods, (0,))


def test_a_sweep_far_beyond_the_preset_is_refused_before_it_starts(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", "--preset", "micro", "--methods", "cmi", "--seeds", "1", "--out", str(out),
                 "--set", "data_free.rounds=1000000000"]) == 2
    err = capsys.readouterr().err
    assert "times the work of preset 'micro' on the same cells" in err and "data_free.rounds=1000000000" in err
    assert "--allow-expensive" in err and not out.exists()


def test_the_estimate_compares_the_same_cells_and_allows_on_request():
    micro = PRESETS.get("micro")
    assert refuse_if_expensive(spec_of(micro), micro) == pytest.approx(1.0)
    bigger = customized(micro, {"data_free": {"iterations": 4}})  # twice the synthesis steps: fine
    assert 1.0 < refuse_if_expensive(spec_of(bigger), micro) < EXPENSIVE_FACTOR
    huge = customized(micro, {"data_free": {"rounds": 10_000}})
    with pytest.raises(TooExpensive, match="times the work of preset 'micro'"):
        refuse_if_expensive(spec_of(huge), micro)
    assert refuse_if_expensive(spec_of(huge), micro, allow=True) > EXPENSIVE_FACTOR
    assert refuse_if_expensive(spec_of(huge, ("kd",)), micro) == pytest.approx(1.0)  # kd has no rounds


# --- NaN synthesis loss, empty split --------------------------------------------------------------------------

def test_a_nan_synthesis_loss_is_recorded_as_diverged(tmp_path, monkeypatch):
    from methods.cmi import ContrastiveSynthesizer

    real = ContrastiveSynthesizer.weighted_loss
    monkeypatch.setattr(ContrastiveSynthesizer, "weighted_loss", lambda self, terms: real(self, terms) * float("nan"))
    assert main(["run", "--preset", "micro", "--methods", "cmi", "--seeds", "1", "--out", str(tmp_path),
                 "--no-tables", "--no-floor"]) == 0
    (record,) = [json.loads(line) for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert record["status"] == "diverged", record.get("traceback") or record.get("error")
    assert "non-finite loss" in record["error"] and "cmi synthesis round 0" in record["error"]


def test_a_split_left_empty_by_the_data_is_refused_up_front(tmp_path, monkeypatch, capsys):
    real = synth.load_synth

    def without_test(cfg):
        clipset = real(cfg)
        clipset.clips = [c for c in clipset.clips if c.split != "test"]
        return clipset

    class OnlySynthWithoutTest:
        @staticmethod
        def get(name):
            return without_test

    monkeypatch.setattr(loading, "DATASETS", OnlySynthWithoutTest)
    out = tmp_path / "out"
    assert main(["run", "--preset", "micro", "--methods", "kd", "--seeds", "1", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "dataset 'synth': split 'test' has 0 clips (train 60, val 10, test 0)" in err
    assert not (out / "runs.jsonl").exists()
