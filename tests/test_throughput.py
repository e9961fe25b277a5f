"""`python -m benchmark throughput`: structure, counts and sanity of the numbers, never timings."""
import json
import math
import re

import pytest
import torch

from benchmark.cli import main
from benchmark.config.presets import PRESETS
from benchmark.costs.throughput import measure_distill_step, measure_synthesis_step
from benchmark.costs.workbench import Workbench

METHODS = ["student", "adi", "frami"]
PAIR = "wrn16_2_tiny:wrn10_2_tiny"  # the other tests' pair: one smoke teacher per session
NUMBERS = ("batch", "ms_per_step_median", "ms_per_step_mean", "ms_per_step_min", "samples_per_s", "ms_per_sample", "peak_memory_mb",
           "sample_iterations_per_step", "sample_iterations_per_s", "flops_per_step", "achieved_flops_per_s",
           "fraction_of_matmul_peak", "bytes_per_step", "roofline_ms", "fraction_of_roofline")


def run_cli(tmp_path, methods="student,adi,frami"):
    return main(["throughput", "--preset", "smoke", "--methods", methods, "--pair", PAIR, "--out", str(tmp_path),
                 "--repeats", "2", "--warmup", "1", "--device", "cpu", "--matmul-size", "512"])


def test_throughput_writes_every_method_and_phase(tmp_path):
    assert run_cli(tmp_path) == 0
    report = json.loads((tmp_path / "throughput.json").read_text())
    assert report["preset"] == "smoke" and report["device"].startswith("cpu")
    assert report["warmup"] == 1 and report["repeats"] == 2 and report["torch_threads"] >= 1
    assert "--methods student,adi,frami" in report["command"]
    assert torch.__version__.startswith(report["packages"]["torch"])

    phases = {}
    for m in report["measurements"]:
        phases.setdefault(m["method"], set()).add(m["phase"])
    assert phases == {"-": {"features", "input-grad", "evaluate"}, "student": {"train"},
                      "adi": {"synthesis", "distill"}, "frami": {"synthesis", "distill"}}
    # The ceiling row is the network part of every synthesis step: no step can count fewer FLOPs.
    (ceiling,) = [m for m in report["measurements"] if m["phase"] == "input-grad"]
    assert ceiling["batch"] == PRESETS.get("smoke").data_free["synth_batch"]

    for m in report["measurements"]:
        for key in NUMBERS:
            if m[key] is not None:
                assert math.isfinite(m[key]) and m[key] > 0, (m["method"], m["phase"], key, m[key])
        assert m["ms_per_step_min"] <= m["ms_per_step_median"] and m["ms_per_step_min"] <= m["ms_per_step_mean"]
        if m["phase"] != "features":  # FFTs are not counted; every model step is
            assert m["flops_per_step"] > 0 and 0 < m["fraction_of_matmul_peak"] <= 10
            # the roofline is the least time the step could take: its fraction is at most 1 (up to timing noise)
            assert m["bytes_per_step"] > 0 and 0 < m["fraction_of_roofline"] <= 1.5 and m["bound"] in ("compute",
                                                                                                   "memory")
            assert m["roofline_ms"] == pytest.approx(m["fraction_of_roofline"] * m["ms_per_step_median"])
    assert report["bandwidth"]["bytes_per_s"] > 0
    synthesis = [m for m in report["measurements"] if m["phase"] == "synthesis"]
    assert len(synthesis) == 2
    for m in synthesis:  # one step of the synthesizer optimises every sample of its batch once
        assert m["flops_per_step"] >= ceiling["flops_per_step"]
        assert m["sample_iterations_per_step"] == m["batch"] == PRESETS.get("smoke").data_free["synth_batch"]
    (peak,) = report["matmul_peak"]
    assert peak["precision"] == "fp32" and peak["n"] == 512 and peak["flops_per_s"] > 0

    md = (tmp_path / "throughput.md").read_text()
    assert report["git_commit"] in md and "smoke" in md and "matrix-multiply peak: fp32" in md
    rows = [line for line in md.splitlines() if line.startswith("|")]
    for method in METHODS:
        method_rows = [r for r in rows if re.match(rf"\|\s*{re.escape(method)}\s*\|", r)]
        assert len(method_rows) == len(phases[method]), method


def test_synthesis_and_distill_work_grow_with_batch():
    bench = Workbench(PRESETS.get("smoke"), pair=PAIR, device=torch.device("cpu"), warmup=0, repeats=1, matmul_size=256)
    flop_ratio = {}
    for method in ("adi", "frami"):
        small, large = (measure_synthesis_step(method, bench, synth_batch=n) for n in (4, 8))
        assert (small.sample_iterations_per_step, large.sample_iterations_per_step) == (4, 8)
        assert (small.batch, large.batch) == (4, 8)
        flop_ratio[method] = large.flops_per_step / small.flops_per_step
    # ADI's work is all per sample. FRAMI (as CMI) adds parts that do not scale with the batch: the
    # memory bank's negatives through the contrastive head (fixed) and the InfoNCE similarities (quadratic).
    assert 1.5 < flop_ratio["adi"] < 2.5
    assert flop_ratio["frami"] > 1.0
    small, large = (measure_distill_step("frami", bench, kd_batch=n) for n in (8, 16))
    assert (small.batch, large.batch) == (8, 16)
    assert 1.5 < large.flops_per_step / small.flops_per_step < 2.5


def test_supervised_and_evaluation_steps_go_through_a_whole_epoch_of_batches(monkeypatch):
    """A supervised cell's epoch mixes batches of every length bucket: timing one batch priced every step at that
    batch's length. Each call takes another of the epoch's batches, evenly, and a later measurement of the same
    step (a calibration's next pass) goes on where the last stopped instead of timing the same batches again."""
    from collections import Counter

    from benchmark.costs import throughput

    bench = Workbench(PRESETS.get("smoke"), pair=PAIR, trained_teacher=False, count_work=False)
    batch_size = bench.config("student").batch_size
    epoch = bench.epoch("train", batch_size)
    assert sorted(torch.cat([b.index for b in epoch]).tolist()) == list(range(len(bench.data.train)))
    assert len(epoch) == math.ceil(len(bench.data.train) / batch_size) >= 2
    seen = []

    def spied_loss(model, batch):
        seen.append(tuple(batch.index.tolist()))
        return model(batch.x, batch.lengths).sum()

    monkeypatch.setattr(throughput, "cross_entropy_loss", spied_loss)
    bench.warmup, bench.repeats = 1, len(epoch)
    measured = throughput.measure_train_step("student", bench)
    first_pass = list(seen)
    throughput.measure_train_step("student", bench)  # the next pass
    assert seen[len(first_pass):] != first_pass  # not the same batches again
    visits = Counter(seen)
    assert set(visits) == {tuple(b.index.tolist()) for b in epoch}  # every batch of the epoch
    assert max(visits.values()) - min(visits.values()) <= 2  # and evenly
    assert measured.batch == round(len(bench.data.train) / len(epoch))
    evaluation = bench.epoch("test", throughput.EVAL_BATCH, shuffled=False)  # predict's length-sorted batches
    lengths = torch.cat([bench.data.test.lengths[b.index] for b in evaluation])
    assert torch.equal(lengths, lengths.sort().values)


def test_synthesis_refuses_a_method_that_synthesizes_nothing():
    bench = Workbench(PRESETS.get("smoke"), pair=PAIR, device=torch.device("cpu"), warmup=0, repeats=1, matmul_size=256)
    with pytest.raises(ValueError, match="data-free methods: adi, cmi"):
        measure_synthesis_step("kd", bench)


def test_unknown_method_exits_non_zero_listing_valid_names(tmp_path, capsys):
    assert run_cli(tmp_path, "student,nope") == 2
    err = capsys.readouterr().err
    assert "unknown method or group 'nope'" in err and "frami-no-finv" in err and "teacher" in err
    assert "groups: paper, field, all" in err
    assert not (tmp_path / "throughput.json").exists()


def test_bad_repetition_counts_are_refused(tmp_path, capsys):
    code = main(["throughput", "--preset", "smoke", "--methods", "adi", "--out", str(tmp_path), "--repeats", "0",
                 "--device", "cpu"])
    assert code == 2 and "--repeats" in capsys.readouterr().err


def test_profile_reports_top_operators_and_time_outside_them(tmp_path):
    assert main(["throughput", "--preset", "micro", "--methods", "cmi", "--out", str(tmp_path), "--repeats", "1",
                 "--warmup", "0", "--device", "cpu", "--matmul-size", "256", "--profile", "synthesis"]) == 0
    report = json.loads((tmp_path / "throughput.json").read_text())
    (synthesis,) = [m for m in report["measurements"] if m["phase"] == "synthesis"]
    profile = synthesis["profile"]
    assert 0 < profile["operator_ms_per_step"] <= profile["wall_ms_per_step"] * 1.05
    assert 0 <= profile["outside_operators_share"] < 1
    top = profile["top"]
    assert top and all(o["name"].startswith("aten::") and o["calls"] >= 1 for o in top)
    assert [o["ms_per_step"] for o in top] == sorted((o["ms_per_step"] for o in top), reverse=True)
    assert all(m["profile"] is None for m in report["measurements"] if m["phase"] != "synthesis")
    md = (tmp_path / "throughput.md").read_text()
    assert "## Profiles" in md and "outside operators" in md and f"`{top[0]['name']}`" in md
