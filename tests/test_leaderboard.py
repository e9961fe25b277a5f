import math

import pytest

from benchmark.reporting.leaderboard import leaderboard, mean_ci, write_leaderboard
from benchmark.store.record_schema import RunRecord


def _rec(method, acc, seed, synth_s=0.0, its=0, status="ok"):
    phases = {"synthesis": {"seconds": synth_s, "sample_iterations": its}} if its else {}
    return RunRecord("synth", "t", "s", "t:s", method, seed, "cpu", status, accuracy=acc, phases=phases,
                     wall_seconds=1.0)


RECORDS = ([_rec("teacher", 90, s) for s in range(3)] + [_rec("student", 70, s) for s in range(3)]
           + [_rec("frami", a, s, 10.0, 1000) for s, a in enumerate([78, 80, 82])]
           + [_rec("adi", None, 0, status="failed")])


def test_mean_ci_by_hand():
    # values 78, 80, 82: mean 80, sd 2, se 2/sqrt3, t_{0.975,2} = 4.302653
    mean, half = mean_ci([78, 80, 82])
    assert mean == pytest.approx(80.0)
    assert half == pytest.approx(4.302653 * 2 / math.sqrt(3), rel=1e-5)


def test_ranking_gap_and_cost():
    board = leaderboard(RECORDS).set_index("method")
    assert board.loc["teacher", "rank"] == 1 and board.loc["frami", "rank"] == 2 and board.loc["student", "rank"] == 3
    assert board.loc["frami", "gap_closed_%"] == pytest.approx(50.0)  # (80 - 70) / (90 - 70)
    assert board.loc["frami", "sample_iterations"] == 1000
    assert "adi" not in board.index  # failed cells are never averaged


def test_write_leaderboard_files(tmp_path):
    write_leaderboard(RECORDS, tmp_path, "# header\n")
    text = (tmp_path / "leaderboard.md").read_text()
    # 78, 80, 82 without per-clip predictions: the seed-level percentile bootstrap. All three draws are 78 with
    # probability 1/27 > 2.5% (and 82 likewise), so the 95% interval is exactly [78, 82].
    assert text.startswith("# header") and "80.00 [78.00, 82.00]" in text
    assert (tmp_path / "leaderboard_ranking.png").stat().st_size > 1000
    assert (tmp_path / "leaderboard_cost.png").stat().st_size > 1000
