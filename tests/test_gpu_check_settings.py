"""The prepared GPU check (tests/gpu/check.py) asks for settings `run` accepts, checked on the CPU: a GPU is
lent rarely and for minutes, and its first run lost both pairs' Fast cells to a warm-up longer than the cut
sweep (2 rounds against the paper's 20 warm-up rounds)."""
from __future__ import annotations


import pytest

from benchmark.cli import build_parser
from benchmark.commands.options import sweep_spec
from benchmark.execution.sweep import check_method_settings
from tests.gpu.check import commands


@pytest.mark.parametrize("name", ["sweep", "determinism-1", "packed-2"])
def test_the_gpu_checks_sweeps_pass_the_settings_checks(name, tmp_path):
    command = dict(commands(tmp_path))[name]
    argv = command[command.index("benchmark") + 1:]
    args = build_parser().parse_args(argv)
    spec = sweep_spec(args)
    assert "fast" in spec.methods or name != "sweep"
    check_method_settings(spec)  # raises ValueError naming the contradiction


def test_the_gpu_checks_calibration_parses_as_a_plan(tmp_path):
    command = dict(commands(tmp_path))["calibrate"]
    args = build_parser().parse_args(command[command.index("benchmark") + 1:])
    assert args.command == "plan" and args.calibrate and args.device == "cuda" and args.json == tmp_path / "plan.json"


@pytest.mark.parametrize("name, mode", [("throughput", "off"), ("throughput-compiled", "inductor")])
def test_the_gpu_checks_throughput_runs_eager_and_compiled(name, mode, tmp_path):
    from benchmark.commands.options import preset_from_args
    from methods import method_config
    command = dict(commands(tmp_path))[name]
    args = build_parser().parse_args(command[command.index("benchmark") + 1:])
    assert args.command == "throughput"
    assert method_config("frami", preset_from_args(args)).compile == mode


def test_the_gpu_checks_report_holds_compiled_steps_against_eager_ones(tmp_path):
    import json
    from tests.gpu.check import compiled_lines
    for folder, ms in (("throughput", 300.0), ("throughput-compiled", 100.0)):
        (tmp_path / folder).mkdir()
        rows = [{"method": "adi", "phase": "synthesis", "ms_per_step_median": ms, "fraction_of_roofline": 30 / ms},
                {"method": "-", "phase": "evaluate", "ms_per_step_median": 1.0}]
        (tmp_path / folder / "throughput.json").write_text(json.dumps({"measurements": rows}))
    assert compiled_lines(tmp_path)[1:] == ["  - adi synthesis: 300.0 -> 100.0 ms a step (3.00x), roofline 0.1 -> 0.3"]
