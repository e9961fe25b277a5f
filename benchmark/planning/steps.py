"""One step of each phase of a cell, built as the sweep builds it but on the meta device (shapes only, no
compute), and counted: peak bytes of what the step allocates (LiveMemory, synthesizer/distiller state
built inside the count), FLOPs (torch's FlopCounterMode formulas, forward and backward) and the bytes its
operators read and write (WorkCount)."""
from __future__ import annotations

import dataclasses
from contextlib import nullcontext
from dataclasses import dataclass
from types import SimpleNamespace

import torch

from benchmark.core.features import FrontEndConfig, Normaliser
from methods import METHODS, build_method
from methods.inversion.loop import DataFreeMethod, kd_step as loop_kd_step, make_optimizer
from methods.inversion.pool import TensorPool
from models import create_model

from .memory import LiveMemory, WorkCount

META = torch.device("meta")


@dataclass(frozen=True)
class StepCount:
    peak_bytes: int  # allocated inside the step (and its one-off state), above the models' parameters
    flops: int
    bytes_moved: int = 0  # read + written by its operators, eager (planning.memory.WorkCount)


def model_bytes(model: torch.nn.Module) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def _count(step, flops: bool = True) -> StepCount:
    """Peak memory and (when asked) FLOPs and bytes moved of one run of `step`."""
    with LiveMemory() as live, (WorkCount() if flops else nullcontext()) as counter:
        step()
    return StepCount(live.peak, counter.flops, counter.bytes) if flops else StepCount(live.peak, 0)


def _models(teacher_arch: str, student_arch: str, classes: int, embedding_dim: int):
    torch.manual_seed(0)
    teacher = create_model(teacher_arch, classes, embedding_dim).to(META).eval().requires_grad_(False)
    student = create_model(student_arch, classes, embedding_dim).to(META)
    return teacher, student


def shape_only_data(classes: int, n_mels: int, frames: int) -> SimpleNamespace:
    """What a synthesizer reads of a dataset when only its shape is known: sizes, an identity normaliser and the
    default front end (digital silence for ADI's `init = "silence"`; its values change no count). The planner
    plans every data-free cell at the clip length `frames`: a synthesis scene's teacher passes and pool are that
    long, and an event-length synthesis is shorter, so the plan is an upper bound."""
    identity = Normaliser(torch.zeros(n_mels, 1, device=META), torch.ones(n_mels, 1, device=META))
    return SimpleNamespace(num_classes=classes, n_mels=n_mels, normaliser=identity, frontend=FrontEndConfig(),
                           typical_frames=lambda: frames)


def synthesis_step(method_name: str, config, teacher_arch: str, student_arch: str, classes: int, n_mels: int, frames: int,
                   embedding_dim: int, flops: bool = True) -> StepCount:
    """One synthesis step at the config's batch: the synthesizer (generator, head, memory bank full, as after
    the first rounds) and the step. The local view is taken at full length, its largest."""
    config = dataclasses.replace(config, iterations=1, views=dataclasses.replace(config.views, local_min_fraction=1.0))
    method = build_method(method_name, config)
    if not method.optimises_samples:
        return StepCount(config.synth_batch * n_mels * frames * 4, 0)  # one batch of input-sized samples
    teacher, student = _models(teacher_arch, student_arch, classes, embedding_dim)
    ctx = SimpleNamespace(data=shape_only_data(classes, n_mels, frames), device=META, seed=0, amp=False)

    def step():
        synthesizer = resident_synthesizer(method, ctx, teacher, student.eval(), frames)
        synthesizer.to_steady_state()  # e.g. Fast past its warm-up: the adversarial pass is counted
        try:
            synthesizer.synthesize()
        finally:
            synthesizer.close()

    return _count(step, flops)


def resident_synthesizer(method, ctx, teacher, student, frames: int):
    """The synthesizer as it stays on the device for the whole cell: generator, head, optimizer state and a
    full memory bank (CMI's holds 2 x the teacher's BN channels per row: 2.6 GiB for ResNet-34 at the paper's
    40960 rows), as after the first rounds."""
    synthesizer = method.make_synthesizer(ctx, teacher, student, frames)
    bank = getattr(synthesizer, "bank", None)
    if bank is not None:
        bank.add(torch.empty(bank.size, bank.data.shape[1], device=ctx.device))
    return synthesizer


def kd_step(method_name: str, config, teacher_arch: str, student_arch: str, classes: int, n_mels: int, frames: int,
            embedding_dim: int, flops: bool = True) -> StepCount:
    """One KD step at the config's batch: distiller, optimizer state, a pool batch, loss, backward, step, beside
    the synthesizer's resident state (the loop keeps its synthesizer through the KD phase: the first GPU check
    measured ResNet-34->18 CMI's KD step at 3.57 GiB against 1.70 counted without its bank)."""
    method = build_method(method_name, config)
    teacher, student = _models(teacher_arch, student_arch, classes, embedding_dim)
    ctx = SimpleNamespace(data=shape_only_data(classes, n_mels, frames), device=META, seed=0, amp=False)

    def step():
        distiller = method.make_distiller(ctx, teacher, student).to(META)
        opt = make_optimizer(config, list(student.parameters()) + list(distiller.parameters()))
        # the controls' synthesizers hold nothing on the device between rounds (and kd-subset's reads real clips)
        synthesizer = resident_synthesizer(method, ctx, teacher, student, frames) if method.optimises_samples else None
        if method.keeps_pool:
            pool = TensorPool(config.kd_batch)  # the pool itself is counted in plan.py
            pool.add(torch.empty(config.kd_batch, 1, n_mels, frames, device=META))
        else:  # fresh generator samples at every KD step (the generator methods): its forward is in the step
            pool = method.make_transfer_set(synthesizer)
        student.train()
        try:
            loop_kd_step(ctx, config, pool, None, distiller, opt)
        finally:
            if synthesizer is not None:
                synthesizer.close()

    return _count(step, flops)


def train_step(config, arch: str, teacher_arch: str | None, classes: int, n_mels: int, frames: int,
               embedding_dim: int, flops: bool = True) -> StepCount:
    """One supervised step (teacher, student or KD on real batches): AdamW, as training.train_supervised."""
    torch.manual_seed(0)
    model = create_model(arch, classes, embedding_dim).to(META).train()
    teacher = None if teacher_arch is None else _models(teacher_arch, arch, classes, embedding_dim)[0]

    def step():
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
        x = torch.empty(config.batch_size, 1, n_mels, frames, device=META)
        logits = model(x)
        if teacher is not None:
            with torch.no_grad():
                teacher(x)
        loss = logits.float().logsumexp(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return _count(step, flops)


def forward_step(arch: str, classes: int, n_mels: int, frames: int, embedding_dim: int, batch: int) -> StepCount:
    """One evaluation forward (no grad) of a batch: what a validation or test pass repeats."""
    model = create_model(arch, classes, embedding_dim).to(META).eval()

    def step():
        with torch.no_grad():
            model(torch.empty(batch, 1, n_mels, frames, device=META))

    return _count(step)


def is_data_free(method: str) -> bool:
    return issubclass(METHODS.get(method).method_cls, DataFreeMethod)
