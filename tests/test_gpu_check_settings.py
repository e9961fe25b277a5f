"""The prepared GPU check (tests/gpu/check.py) asks for settings `run` accepts, checked on the CPU: a GPU is
lent rarely and for minutes, and its first run lost both pairs' Fast cells to a warm-up longer than the cut
sweep (2 rounds against the paper's 20 warm-up rounds)."""
from __future__ import annotations

from pathlib import Path

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
