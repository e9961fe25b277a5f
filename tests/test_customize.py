"""--set block.field=value and --config FILE.toml: checked against the typed configs, recorded in every
record and its config hash; with them the paper preset runs at a tiny budget on the test fixtures."""
from __future__ import annotations

import json

import pytest

from benchmark.cli import main
from benchmark.config.cells import Cell, cell_config, config_hash
from benchmark.config.customize import collect_changes, customized, parse_assignment, parse_value
from benchmark.config.presets import PRESETS
from methods import method_config
from methods.overrides import ConfigKeyError
from tests.helpers import make_esc50

CPU = PRESETS.get("cpu")


@pytest.mark.parametrize("text, value", [("3", 3), ("0.1", 0.1), ("1e-3", 1e-3), ("true", True), ('"x"', "x"),
                                         ("adamw", "adamw"), ("[1, 2]", [1, 2]), ("none", None)])
def test_values_are_toml_literals_or_bare_strings(text, value):
    assert parse_value(text) == value


def test_an_assignment_names_block_field_and_value():
    assert parse_assignment("adi.input_lr=0.2") == ("adi", "input_lr", 0.2)
    assert parse_assignment("frami-no-finv.t_finv_weight = 2") == ("frami-no-finv", "t_finv_weight", 2)
    with pytest.raises(ConfigKeyError, match="block.field=value"):
        parse_assignment("iterations=3")


def test_a_change_reaches_exactly_its_block():
    preset = customized(CPU, {"adi": {"input_lr": 0.3}, "data_free": {"iterations": 5},
                              "supervised": {"epochs": 2}, "frontend": {"n_mels": 40}})
    assert method_config("adi", preset).input_lr == 0.3
    assert method_config("cmi", preset).iterations == method_config("adi", preset).iterations == 5
    assert method_config("teacher", preset).epochs == method_config("kd", preset).epochs == 2
    assert preset.frontend.n_mels == 40 and preset.name == "cpu"
    assert method_config("adi", CPU).input_lr != 0.3  # the registered preset is untouched


@pytest.mark.parametrize("changes, message", [
    ({"adi": {"input_lrr": 0.3}}, "closest valid key: 'input_lr'"),
    ({"adx": {"input_lr": 0.3}}, "unknown block 'adx'; closest valid block: 'adi'"),
    ({"data_free": {"iteratons": 3}}, "closest valid key: 'iterations'"),
    ({"adi": {"input_lr": "fast"}}, "'input_lr' takes float, got 'fast'"),
    ({"data": {"synth_clips_per_class": 1.5}}, "'synth_clips_per_class' takes int"),
    ({"frontend": {"n_melz": 40}}, "closest valid key: 'n_mels'"),
])
def test_a_bad_key_or_type_is_an_error_naming_the_valid_keys(changes, message):
    with pytest.raises(ConfigKeyError, match=message):
        customized(CPU, changes)


def test_the_file_comes_first_then_each_set_in_order(tmp_path):
    path = tmp_path / "changes.toml"
    path.write_text("[data_free]\niterations = 7\nkd_steps = 3\n[adi]\ninput_lr = 0.1\n")
    changes = collect_changes(path, ["data_free.iterations=9", "adi.input_lr=0.4", "adi.input_lr=0.5"])
    assert changes == {"data_free": {"iterations": 9, "kd_steps": 3}, "adi": {"input_lr": 0.5}}
    path.write_text("adi = 7\n")
    with pytest.raises(ConfigKeyError, match=r"'adi' must be a table \(\[adi\]\)"):
        collect_changes(path, [])
    path.write_text("[data_free\n")
    with pytest.raises(ConfigKeyError, match="not valid TOML"):
        collect_changes(path, [])
    with pytest.raises(FileNotFoundError, match="no such file"):
        collect_changes(tmp_path / "missing.toml", [])


def test_changes_enter_the_config_hash_and_no_changes_leave_it_alone():
    cell = Cell("synth", "wrn16_2_tiny", "wrn10_2_tiny", "adi", 0)
    plain = cell_config(cell, CPU)
    assert "overrides" not in plain and cell_config(cell, customized(CPU, {})) == plain
    changed = cell_config(cell, customized(CPU, {"adi": {"input_lr": 0.3}}))
    assert changed["overrides"] == {"adi": {"input_lr": 0.3}} and changed["method"]["input_lr"] == 0.3
    assert config_hash(changed) != config_hash(plain)


@pytest.mark.parametrize("changes", [{"data_free": {"compile": "inductor"}}, {"frami": {"checkpointing": "passes"}},
                                     {"data_free": {"compile": "aot_eager", "checkpointing": "blocks"}}])
def test_changes_to_fields_the_hash_leaves_out_name_the_same_cell(changes):
    """Compiling or bounding memory is the same math: the cell is the one the preset names (and the one a preset that
    sets these itself names), so its records resume and pair with the eager ones."""
    cell = Cell("synth", "wrn16_2_tiny", "wrn10_2_tiny", "frami", 0)
    plain = cell_config(cell, CPU)
    changed = customized(CPU, changes)
    assert changed.overrides == changes  # still recorded as changes, only not hashed
    assert cell_config(cell, changed) == plain
    mixed = cell_config(cell, customized(CPU, {"data_free": {"compile": "inductor", "iterations": 3}}))
    assert mixed["overrides"] == {"data_free": {"iterations": 3}} and config_hash(mixed) != config_hash(plain)


def test_cli_errors_name_the_bad_key(capsys):
    assert main(["run", "--preset", "micro", "--set", "adi.input_lrr=1"]) == 2
    assert "closest valid key: 'input_lr'" in capsys.readouterr().err


def test_run_records_the_changes_and_resumes_only_the_same_ones(tmp_path, capsys):
    out = tmp_path / "runs"
    argv = ["run", "--preset", "micro", "--methods", "student", "--seeds", "1", "--out", str(out), "--no-tables"]
    config = tmp_path / "c.toml"
    config.write_text("[supervised]\nepochs = 2\n")
    assert main(argv + ["--config", str(config), "--set", "supervised.batch_size=8"]) == 0
    (record,) = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert record["config"]["overrides"] == {"supervised": {"epochs": 2, "batch_size": 8}}
    assert record["config"]["method"]["epochs"] == 2 and record["config"]["method"]["batch_size"] == 8
    assert "--set supervised.batch_size=8" in record["command"]
    assert main(argv + ["--config", str(config), "--set", "supervised.batch_size=8"]) == 0
    assert "0 cells run" in capsys.readouterr().out  # same changes: resumed, nothing to do
    assert main(argv) == 2  # no changes: another setting, refused in this folder...
    assert main(argv + ["--allow-mixed"]) == 0  # ...unless asked: another cell identity
    assert len((out / "runs.jsonl").read_text().splitlines()) == 2


TINY_PAPER = ["supervised.epochs=1", "supervised.batch_size=8", "supervised.min_epochs_before_stop=1",
              "data_free.rounds=1", "data_free.iterations=1", "data_free.synth_batch=4", "data_free.kd_steps=1",
              "data_free.kd_batch=4", "data_free.pool_size=8", "data_free.bank_size=8", "data_free.n_negatives=4",
              "fast.warmup=0"]  # Fast's warm-up rounds (20 in the reference) must leave a round that distils


@pytest.mark.slow
def test_the_paper_preset_runs_at_a_tiny_budget_on_the_fixtures(tmp_path):
    """The paper's code paths without a GPU: ResNet-34/18 and WRN-40-2/16-2, the 32 kHz front end, every
    method of Table 2 and Table 3, on a 60-clip ESC-50 tree in the official layout."""
    root = tmp_path / "data"
    make_esc50(root)
    out = tmp_path / "runs"
    argv = ["run", "--preset", "paper", "--datasets", "esc50", "--data-root", str(root), "--methods", "all",
            "--seeds", "1", "--out", str(out), "--device", "cpu", "--no-tables"]
    for assignment in TINY_PAPER:
        argv += ["--set", assignment]
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]
    assert {r["pair"] for r in records} == {"resnet34:resnet18", "wrn40_2:wrn16_2"}
    assert {r["method"] for r in records} >= {"teacher", "student", "kd", "adi", "cmi", "frami",
                                               "frami-no-finv", "frami-no-reused", "frami-no-finv-no-reused"}
    assert all(r["status"] == "ok" for r in records), [(r["method"], r["error"]) for r in records if r["error"]]
    for r in records:
        assert r["preset"] == "paper" and r["config"]["frontend"]["sample_rate"] == 32000
        assert r["config"]["overrides"]["data_free"]["iterations"] == 1
