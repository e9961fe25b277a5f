"""curve: a bad --vary gets the harness's own message, not argparse's 'invalid parse value';
a method without the varied field (kd under data_free.iterations) runs once, not once per value."""
from __future__ import annotations

import json

import pytest

from benchmark.cli import main
from benchmark.config.customize import customized
from benchmark.config.presets import PRESETS
from benchmark.reporting.curve import methods_per_value


@pytest.mark.parametrize("vary", ["data_free.iterations=", "data_free.iterations=4", "data_free.iterations"])
def test_a_bad_vary_says_what_is_expected(vary, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["curve", "--preset", "micro", "--vary", vary, "--out", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid parse value" not in err
    assert f"--vary takes block.field=v1,v2,... with two or more values (e.g. data_free.iterations=1,4,12,32), " \
           f"got {vary!r}" in err


def test_methods_the_axis_does_not_change_run_at_the_first_value_only():
    micro = PRESETS.get("micro")
    presets = [customized(micro, {"data_free": {"iterations": v}}) for v in (1, 2, 3)]
    assert methods_per_value(("kd", "cmi", "teacher"), presets) == [("kd", "cmi", "teacher"), ("cmi",), ("cmi",)]
    supervised = [customized(micro, {"supervised": {"epochs": v}}) for v in (1, 2)]
    assert methods_per_value(("kd", "cmi"), supervised) == [("kd", "cmi"), ("kd", "cmi")]  # the teacher changes


def test_the_curve_runs_kd_once(tmp_path, capsys):
    assert main(["curve", "--preset", "micro", "--methods", "kd,cmi", "--seeds", "1", "--vary",
                 "data_free.iterations=1,2", "--out", str(tmp_path)]) == 0
    methods = [json.loads(line)["method"] for line in (tmp_path / "runs.jsonl").read_text().splitlines()]
    assert sorted(methods) == ["cmi", "cmi", "kd"]
    assert "data_free.iterations=2: 1 cells run" in capsys.readouterr().out
