"""No step waits on the host: a synthesis step and a KD step read nothing back from the
device. Proven on the meta device, where a tensor has no data: any .item(), .cpu(), .tolist(), .numpy(),
bool() or int() of a device tensor inside a step is counted here (and would fail there)."""
from __future__ import annotations

import dataclasses
from collections import Counter
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch

from benchmark.config.presets import PRESETS
from methods import build_method, method_config
from methods.inversion.loop import KDCanvas, kd_step, make_optimizer
from methods.inversion.pool import TensorPool
from models import create_model

META = torch.device("meta")
SYNCS = ("item", "cpu", "tolist", "numpy", "__bool__", "__int__", "__float__")


@contextmanager
def counting_host_syncs():
    """Count calls that read a non-CPU tensor on the host."""
    counts: Counter = Counter()
    originals = {name: getattr(torch.Tensor, name) for name in SYNCS}

    def wrap(name, original):
        def counted(self, *args, **kwargs):
            if self.device.type != "cpu":
                counts[name] += 1
            return original(self, *args, **kwargs)
        return counted

    for name, original in originals.items():
        setattr(torch.Tensor, name, wrap(name, original))
    try:
        yield counts
    finally:
        for name, original in originals.items():
            setattr(torch.Tensor, name, original)


def test_the_counter_sees_a_sync():
    with counting_host_syncs() as counts:
        with pytest.raises(Exception):
            torch.empty((), device=META).item()
        float(torch.ones(()))  # a CPU tensor: not a device read
    assert counts == Counter({"item": 1})


def _setup(method: str):
    preset = PRESETS.get("micro")
    config = dataclasses.replace(method_config(method, preset), iterations=3)
    torch.manual_seed(0)
    teacher = create_model("wrn16_2_tiny", 10, 16).to(META).eval().requires_grad_(False)
    student = create_model("wrn10_2_tiny", 10, 16).to(META)
    ctx = SimpleNamespace(data=SimpleNamespace(num_classes=10, n_mels=32), device=META, seed=0, amp=False)
    return build_method(method, config), config, teacher, student, ctx


GENERATOR_METHODS = ("dafl", "dfad", "zskt", "dfq")  # fresh generator samples at KD time, no pool


@pytest.mark.parametrize("method", ["adi", "cmi", "frami", "kd-noise", "fast", *GENERATOR_METHODS])
@pytest.mark.parametrize("checkpointing", ["off", "passes"])
def test_a_synthesis_round_reads_nothing_back(method, checkpointing):
    built, config, teacher, student, ctx = _setup(method)
    built.config = dataclasses.replace(config, checkpointing=checkpointing)
    synthesizer = built.make_synthesizer(ctx, teacher, student.eval(), 40)
    with counting_host_syncs() as counts:
        batch = synthesizer.synthesize()  # every step of a round (3 here), best batch kept on the device
    synthesizer.close()
    assert batch.device.type == "meta" and counts == Counter()


@pytest.mark.parametrize("method", ["adi", "frami"])
def test_a_synthesis_round_in_a_learned_scene_reads_nothing_back(method):
    """Events placed in a clip-length scene: offsets, texture and the background's Adam
    step all stay on the device."""
    from benchmark.planning.steps import shape_only_data
    built, config, teacher, student, ctx = _setup(method)
    built.config = dataclasses.replace(config, length_from="events", scene="learned")
    ctx.data = shape_only_data(10, 32, 96)
    synthesizer = built.make_synthesizer(ctx, teacher, student.eval(), 40)
    with counting_host_syncs() as counts:
        batch = synthesizer.synthesize()
    synthesizer.close()
    assert batch.shape[-1] == 96 and counts == Counter()


@pytest.mark.parametrize("method, canvas", [("adi", None), ("frami", None), ("fast", None), ("adi", "silence")])
def test_a_kd_step_reads_nothing_back(method, canvas):
    built, config, teacher, student, ctx = _setup(method)
    distiller = built.make_distiller(ctx, teacher, student).to(META)
    opt = make_optimizer(config, list(student.parameters()) + list(distiller.parameters()))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    pool = TensorPool(config.pool_size)
    pool.add(torch.empty(config.pool_size, 1, 32, 40, device=META))
    student.train()
    place = None if canvas is None else KDCanvas(96, torch.empty(32, 1, device=META))
    with counting_host_syncs() as counts:
        for _ in range(2):
            loss = kd_step(ctx, config, pool, None, distiller, opt, sched, place)
    assert loss.device.type == "meta" and counts == Counter()


def test_the_pool_and_the_bank_live_on_the_device_they_are_fed_from():
    from methods.inversion.contrastive import MemoryBank
    pool = TensorPool(6)
    pool.add(torch.empty(4, 1, 2, 3, device=META, dtype=torch.bfloat16))
    assert pool.data.device.type == "meta" and pool.data.dtype == torch.bfloat16  # exact: stored as it came
    assert pool.sample(3).device.type == "meta"
    bank = MemoryBank(8, 4, META)
    bank.add(torch.empty(5, 4, device=META))
    assert bank.sample(3).device.type == "meta"


@pytest.mark.parametrize("method", GENERATOR_METHODS)
def test_a_kd_step_on_fresh_samples_reads_nothing_back(method):
    built, config, teacher, student, ctx = _setup(method)
    synthesizer = built.make_synthesizer(ctx, teacher, student, 40)
    source = built.make_transfer_set(synthesizer)
    distiller = built.make_distiller(ctx, teacher, student).to(META)
    opt = make_optimizer(config, list(student.parameters()) + list(distiller.parameters()))
    student.train()
    with counting_host_syncs() as counts:
        for _ in range(2):
            loss = kd_step(ctx, config, source, None, distiller, opt)
    synthesizer.close()
    assert loss.device.type == "meta" and counts == Counter()
