"""Synthesis whose memory is bounded with the same math: gradients equal with and without
checkpointing, losses in fp32 under bf16 autocast, and memory counted without a GPU."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.config.presets import PRESETS
from benchmark.planning.memory import LiveMemory
from benchmark.planning.plan import Device, plan_cell
from methods.adi import ADIConfig, DeepInversionSynthesizer, competition_loss
from methods.cmi import CMIConfig, ContrastiveSynthesizer, adversarial_loss
from methods.frami import FeatureInvarianceSynthesizer, FRAMIConfig
from methods.inversion.contrastive import (feature_invariance, feature_invariance_contrastive_loss,
                                           instance_contrastive_loss)
from methods.inversion.distill import moment_matching
from methods.inversion.hooks import BatchNormStatistics
from methods.losses import kd_kl
from models import create_model
from models.pooling import masked_mean_var

CPU = torch.device("cpu")
LEVELS = ("off", "blocks", "passes")


def _pair():
    torch.manual_seed(0)
    teacher = create_model("wrn10_2_tiny", 4, embedding_dim=8).eval().requires_grad_(False)
    student = create_model("resnet18_tiny", 4, embedding_dim=8).eval()
    return teacher, student


def _generator_gradients(synthesizer_cls, config):
    teacher, student = _pair()
    synth = synthesizer_cls(config, teacher, student, 4, 16, 24, CPU, 0)
    synth.bank.add(torch.randn(synth.bank.size, synth.bank.data.shape[1], generator=torch.Generator().manual_seed(1)))
    synth.synthesize()  # one step: the gradients of that step stay in .grad
    grads = [p.grad.clone() for p in synth.generator.parameters()] + [p.grad.clone() for p in synth.head.parameters()]
    synth.close()
    return grads


@pytest.mark.parametrize("synthesizer_cls,config_cls", [(ContrastiveSynthesizer, CMIConfig),
                                                        (FeatureInvarianceSynthesizer, FRAMIConfig)])
@pytest.mark.parametrize("level", ["blocks", "passes"])
def test_checkpointing_leaves_the_generator_gradients_equal(synthesizer_cls, config_cls, level):
    small = dict(synth_batch=4, iterations=1, nz=8, generator_width=8, bank_size=16, n_negatives=8)
    if config_cls is FRAMIConfig:
        small["num_chunks"] = 2
    reference = _generator_gradients(synthesizer_cls, config_cls(**small, checkpointing="off"))
    bounded = _generator_gradients(synthesizer_cls, config_cls(**small, checkpointing=level))
    assert len(reference) == len(bounded) and sum(g.abs().sum() for g in reference) > 0
    for a, b in zip(reference, bounded):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("level", ["blocks", "passes"])
def test_checkpointing_leaves_the_input_gradients_equal_in_deepinversion(level):
    def gradient(checkpointing):
        teacher, student = _pair()
        cfg = ADIConfig(synth_batch=4, iterations=1, competition_weight=1.0, checkpointing=checkpointing)
        synth = DeepInversionSynthesizer(cfg, teacher, student, 4, (1, 16, 24), CPU, 0)
        x = torch.randn(4, 1, 16, 24, generator=torch.Generator().manual_seed(2), requires_grad=True)
        with synth.bn.active(), synth.memory.during_synthesis():
            synth._optimise(x, torch.arange(4), torch.optim.SGD([x], lr=0.0))
        synth.close()
        return x.grad

    reference, bounded = gradient("off"), gradient(level)
    assert reference.abs().sum() > 0
    torch.testing.assert_close(bounded, reference, rtol=1e-5, atol=1e-6)


def _peak_of_frami_step(level: str) -> int:
    teacher, student = _pair()
    cfg = FRAMIConfig(synth_batch=8, iterations=1, nz=8, generator_width=8, bank_size=16, n_negatives=8,
                      num_chunks=2, checkpointing=level)
    synth = FeatureInvarianceSynthesizer(cfg, teacher, student, 4, 32, 64, CPU, 0)
    with LiveMemory() as live:
        synth.synthesize()
    synth.close()
    return live.peak


def test_checkpointing_lowers_the_counted_peak_of_a_frami_step():
    off, blocks, passes = (_peak_of_frami_step(level) for level in LEVELS)
    assert blocks < off and passes < off, (off, blocks, passes)


def test_live_memory_counts_new_storages_and_their_release():
    with LiveMemory() as live:
        a = torch.empty(1000, dtype=torch.float32)  # 4000 bytes
        b = a.view(10, 100)  # a view: nothing new
        c = torch.empty(500, dtype=torch.float64)  # 4000 bytes: peak 8000
        del a, b, c
        d = torch.empty(250, dtype=torch.float32)  # 1000 bytes after both were freed
    assert live.peak == 8000
    assert live.current == 1000
    del d


def test_bn_prior_keeps_no_copy_beyond_what_batchnorm_keeps():
    """The prior's moments keep only the BN input itself for backward (ChannelMoments)."""
    teacher, _ = _pair()
    x = torch.randn(4, 1, 16, 24, requires_grad=True)

    def saved_bytes(hooks_on: bool) -> int:
        from benchmark.planning.memory import SavedTensors
        stats = BatchNormStatistics(teacher)
        with stats.active(hooks_on), SavedTensors() as saved:
            loss = teacher(x).sum() + (stats.loss() if hooks_on else 0)
        stats.remove()
        del loss
        return saved.bytes

    without, with_prior = saved_bytes(False), saved_bytes(True)
    # Stock BatchNorm keeps its input for backward, so the tap's x costs nothing extra there; the CPU's
    # eval-mode BatchNorm (models/norm.py, an addcmul with frozen weights) keeps only its scale, so there the
    # tap may add each BN input once, and nothing more than that.
    inputs = []
    handles = [m.register_forward_pre_hook(lambda m, args: inputs.append(args[0].numel() * args[0].element_size()))
               for m in teacher.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        teacher(x)
    for handle in handles:
        handle.remove()
    assert with_prior - without < sum(inputs) + 0.02 * without, (without, with_prior, sum(inputs))


# --- fp32 where bf16 would change the answer ------------------------------------------------------------

def _bf16_exact(*shape, seed=0):
    """Values exactly representable in bf16, so the only difference left is the arithmetic."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).bfloat16().float()


def _close_under_autocast(loss_fn, *inputs):
    reference = loss_fn(*inputs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        autocast_value = loss_fn(*[t.bfloat16() for t in inputs])
    assert autocast_value.dtype == torch.float32
    rel = (autocast_value - reference).abs() / reference.abs().clamp_min(1e-12)
    assert rel < 1e-3, (float(reference), float(autocast_value))


def _unit(*shape, seed):
    return torch.nn.functional.normalize(_bf16_exact(*shape, seed=seed), dim=1).bfloat16().float()


def test_contrastive_losses_are_fp32_under_bf16_autocast():
    local, global_ = _unit(12, 32, seed=1), _unit(12, 32, seed=2)
    _close_under_autocast(lambda a, b: instance_contrastive_loss(a, b, 0.1, 6), local, global_)
    finv = _bf16_exact(6, seed=3).sigmoid().bfloat16().float()
    _close_under_autocast(lambda a, b, f: feature_invariance_contrastive_loss(a, b, 0.1, 6, f), local, global_, finv)
    _close_under_autocast(lambda c: feature_invariance(c).sum(), _bf16_exact(5, 4, 16, seed=4))


def test_logit_losses_are_fp32_before_the_temperature_under_bf16_autocast():
    s, t = 8 * _bf16_exact(16, 10, seed=5), 8 * _bf16_exact(16, 10, seed=6)
    s, t = s.bfloat16().float(), t.bfloat16().float()
    _close_under_autocast(lambda a, b: kd_kl(a, b, 20.0), s, t)
    _close_under_autocast(lambda a, b: competition_loss(a, b, 3.0), s, t)
    _close_under_autocast(lambda a, b: adversarial_loss(a, b) - 1.0, s, t)


def test_pooling_and_moment_matching_are_fp32_under_bf16_autocast():
    h = 3 + _bf16_exact(4, 8, 50, seed=7)  # an offset makes bf16 variance sums lose digits
    _close_under_autocast(lambda x: masked_mean_var(x, None)[1].sum(), h)
    moments = [_bf16_exact(16, seed=s) for s in (8, 9, 10, 11)]
    _close_under_autocast(moment_matching, *moments)


def test_bn_moments_are_fp32_under_bf16_autocast():
    teacher, _ = _pair()
    x = 2 + _bf16_exact(8, 1, 16, 24, seed=10)
    stats = BatchNormStatistics(teacher)

    def prior(inputs):
        with stats.active():
            teacher(inputs)
        return stats.loss()

    reference = prior(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with stats.active():
            teacher(x)
        moments = stats.moments
    assert all(m[0].dtype == torch.float32 and m[1].dtype == torch.float32 for m in moments if m is not None)
    stats.remove()
    assert torch.isfinite(reference)


# --- the planner ---------------------------------------------------------------------------------------

def test_planner_prices_a_cell_without_data_and_finds_the_largest_batch_that_fits():
    preset = PRESETS.get("micro")
    cell = plan_cell(preset, "synth", "wrn16_2_tiny", "wrn10_2_tiny", "frami", 1, Device())
    assert cell.fits and cell.largest_batch_that_fits is None
    assert cell.flops_per_synthesis_step > 0 and cell.flops_per_kd_step > 0 and cell.peak_memory_gb > 0
    tight = Device(memory_gb=(cell.peak_memory_gb + cell.model_gb) / 2)
    squeezed = plan_cell(preset, "synth", "wrn16_2_tiny", "wrn10_2_tiny", "frami", 1, tight)
    assert not squeezed.fits
    assert squeezed.largest_batch_that_fits is not None and squeezed.largest_batch_that_fits < cell.batch


def test_planner_counts_the_synthesizers_resident_state_in_the_kd_step():
    """The loop keeps its synthesizer through the KD phase, so a KD step sits beside CMI's memory bank. The
    first GPU check measured ResNet-34->18 CMI's KD step at 3.57 GiB against 1.70 counted (ADI's count: no
    bank); the count now holds at least the bank's rows of 2 x the teacher's BN channels in fp32."""
    from benchmark.planning.steps import kd_step
    from methods import method_config
    preset = PRESETS.get("micro")
    adi = method_config("adi", preset)
    cmi = dataclasses.replace(method_config("cmi", preset), bank_size=4096)
    teacher = create_model("wrn16_2_tiny", 10, embedding_dim=16)
    channels = sum(m.num_features for m in teacher.modules() if isinstance(m, torch.nn.BatchNorm2d))
    shape = ("wrn16_2_tiny", "wrn10_2_tiny", 10, 32, 40, 16, False)
    bank_bytes = cmi.bank_size * 2 * channels * 4
    assert kd_step("cmi", cmi, *shape).peak_bytes - kd_step("adi", adi, *shape).peak_bytes >= bank_bytes


def test_planner_refuses_nonsense_devices():
    with pytest.raises(ValueError, match="efficiency"):
        Device(efficiency=1.5)
    with pytest.raises(ValueError, match="memory"):
        Device(memory_gb=0)


def test_run_refuses_a_cell_that_does_not_fit_before_any_work(tmp_path, capsys):
    from benchmark.cli import main
    code = main(["run", "--preset", "micro", "--methods", "frami", "--seeds", "1", "--out", str(tmp_path / "out"),
                 "--device-memory", "0.001"])
    err = capsys.readouterr().err
    assert code == 2
    assert "cell synth wrn16_2_tiny:wrn10_2_tiny frami needs" in err and "GB of device memory" in err
    assert "Fix:" in err and "plan" in err
    assert not (tmp_path / "out" / "runs.jsonl").exists()  # nothing ran


def test_plan_command_writes_every_cell_as_json(tmp_path, capsys):
    import json

    from benchmark.cli import main
    out = tmp_path / "plan.json"
    assert main(["plan", "--preset", "micro", "--methods", "teacher,kd,adi,kd-noise", "--json", str(out)]) == 0
    cells = json.loads(out.read_text())
    assert [c["method"] for c in cells] == ["teacher", "kd", "adi", "kd-noise"]
    for cell in cells:
        assert {"dataset", "pair", "method", "peak_memory_gb", "flops_per_cell", "fits"} <= set(cell)
        assert cell["fits"] and cell["flops_per_cell"] > 0 and cell["peak_memory_gb"] > 0
    assert "GPU-hours" in capsys.readouterr().out


def test_flop_count_equals_torch_flop_counter_and_keeps_nothing_alive():
    from torch.utils.flop_counter import FlopCounterMode

    from benchmark.planning.memory import WorkCount
    teacher, _ = _pair()
    x = torch.randn(4, 1, 16, 24, requires_grad=True)
    with FlopCounterMode(display=False) as reference:
        teacher(x).sum().backward()
    with WorkCount() as counted:
        teacher(x).sum().backward()
    assert counted.flops == reference.get_total_flops() > 0
    with LiveMemory() as alone:
        _peak_of_frami_step("passes")
    with WorkCount(), LiveMemory() as with_flops:
        _peak_of_frami_step("passes")
    assert with_flops.peak == alone.peak


def test_step_counts_are_stored_as_json_and_read_back(tmp_path, monkeypatch):
    from benchmark.planning import plan
    monkeypatch.setenv("DFKD_CACHE", str(tmp_path))
    plan._data_free_steps.cache_clear()
    first = plan_cell(PRESETS.get("micro"), "synth", "wrn16_2_tiny", "wrn10_2_tiny", "adi", 1, Device())
    stored = list((tmp_path / "plans").glob("*.json"))
    assert stored and all(isinstance(e["peak_bytes"], int) for f in stored for e in __import__("json").loads(f.read_text()))
    plan._data_free_steps.cache_clear()
    monkeypatch.setattr(plan, "synthesis_step", lambda *a, **k: pytest.fail("counted again instead of read"))
    again = plan_cell(PRESETS.get("micro"), "synth", "wrn16_2_tiny", "wrn10_2_tiny", "adi", 1, Device())
    assert again == first
