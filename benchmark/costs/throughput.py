"""`python -m benchmark throughput`: what one step of each method's phases costs on this device.

A sweep record holds whole-phase wall times; those mix step cost with step counts. Here
every phase is one step measured in isolation (warm-up, then timed repetitions), built
the way the sweep builds it (same context, teacher, configs, autocast), so a preset's
cost can be predicted and a slow phase found. The synthesis step's FLOPs over its time,
against the device's measured matrix-multiply peak, say how far a step is from
compute-bound (small convolutions, hooks and Python overheads dominate at small scale).

Phases: features (log-mel of clips, no cache), synthesis and distill (data-free methods),
train (teacher, student, kd on real batches), evaluate (forward under no_grad).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from methods import METHODS, build_method
from methods.inversion.compiled import compile_function
from methods.inversion.hooks import frozen
from methods.inversion.loop import DataFreeMethod, autocast, kd_canvas, kd_step, make_optimizer, synthesis_layout
from methods.inversion.pool import TensorPool
from methods.inversion.randomness import device_generator
from methods.kd import KnowledgeDistillation, kd_batch_loss
from methods.supervised import StudentMethod, TeacherMethod

from ..core.features import LogMel
from ..core.training import cross_entropy_loss
from ..data import DATASETS
from ..execution.loading import data_config
from .workbench import Measurement, Workbench

FEATURE_CLIPS = 64  # clips per feature-extraction "step"
EVAL_BATCH = 64  # training.predict's batch size


# --- the phases ------------------------------------------------------------------------------

def measure_features(bench: Workbench, clips: int = FEATURE_CLIPS) -> Measurement:
    """Log-mel of training clips with the raw transform (no feature cache), on the CPU where the
    pipeline runs it; waveforms are loaded first so file reading is not timed."""
    clipset = DATASETS.get(bench.dataset)(data_config(bench.spec))
    frontend = bench.preset.frontend
    max_samples = None if frontend.max_seconds is None else int(frontend.max_seconds * frontend.sample_rate)
    waves = [torch.from_numpy(np.asarray(clipset.load(c), dtype=np.float32)[:max_samples])
             for c in clipset.split("train")[:clips]]
    logmel = LogMel(frontend)

    def step():
        with torch.no_grad():
            for wave in waves:
                logmel(wave)

    seconds = sum(len(w) for w in waves) / frontend.sample_rate
    return bench.measure("-", "features", "LogMel (cpu)", len(waves), step, flops=False,
                         note=f"{seconds / len(waves):.2f} s of audio per clip", device=torch.device("cpu"))


def data_free_method(name: str, bench: Workbench, **changes) -> DataFreeMethod:
    if not issubclass(METHODS.get(name).method_cls, DataFreeMethod):
        raise ValueError(f"method {name!r} synthesizes nothing; data-free methods: " + ", ".join(data_free_names()))
    return build_method(name, bench.config(name, **changes))


def data_free_names() -> list[str]:
    return [n for n in METHODS.names() if issubclass(METHODS.get(n).method_cls, DataFreeMethod)]


def steady_synthesizer(method: DataFreeMethod, bench: Workbench, teacher: torch.nn.Module,
                       student: torch.nn.Module, frames: int):
    """The method's synthesizer as it runs after the first rounds: CMI's memory bank full of past embeddings,
    Fast past its warm-up (with its adversarial pass). The student goes in eval mode, as synthesis holds it."""
    synthesizer = method.make_synthesizer(bench.ctx, teacher, student.eval(), frames)
    bank = getattr(synthesizer, "bank", None)
    if bank is not None:
        bank.add(torch.randn(bank.size, bank.data.shape[1], device=bank.data.device))
    synthesizer.to_steady_state()
    return synthesizer


def measure_synthesis_step(name: str, bench: Workbench, synth_batch: int | None = None,
                           rounds: int | None = None) -> Measurement:
    """One optimisation step of the method's synthesizer (its config with iterations=1), in its steady state; with
    `rounds`, each call in the state of another of a cell's rounds (Synthesizer.at_round), spread evenly over them,
    so the mean of the calls is what the cell's steps average (CMI's bank fills over its first rounds)."""
    changes = {"iterations": 1} | ({"synth_batch": synth_batch} if synth_batch else {})
    method = data_free_method(name, bench, **changes)
    teacher, student = bench.synthesis_models()
    frames = method.synthesized_frames(bench.ctx)
    synthesizer = steady_synthesizer(method, bench, teacher, student, frames)
    round_of_call = bench.turn(f"rounds:{name}", rounds) if rounds else None

    def step():
        if round_of_call is not None:
            synthesizer.at_round(next(round_of_call))
        with autocast(bench.ctx):
            synthesizer.synthesize()

    try:
        with synthesis_layout(student, bench.device):  # as the loop holds it for a round's synthesis
            return bench.measure(name, "synthesis", f"{bench.teacher_arch}->{bench.student_arch}",
                                 method.config.synth_batch, step, bench.data_free_precision,
                                 count=lambda: synthesizer.sample_iterations, note=f"{frames} frames")
    finally:
        synthesizer.close()


def measure_distill_step(name: str, bench: Workbench, kd_batch: int | None = None,
                         rounds: int | None = None) -> Measurement:
    """One KD step on a pool batch: sample from the pool, distiller loss, backward, optimizer step. With `rounds`,
    each call draws the batch of another of the cell's KD rounds (DataFreeMethod.kd_batch_in_round: a pool that
    gains one synthesis batch a round gives the first rounds smaller batches), spread evenly over them, so the
    mean of the calls is what the cell's KD steps average."""
    method = data_free_method(name, bench, **({"kd_batch": kd_batch} if kd_batch else {}))
    cfg = method.config
    teacher, student = bench.synthesis_models()
    distiller = method.make_distiller(bench.ctx, teacher, student).to(bench.device)
    opt = make_optimizer(cfg, list(student.parameters()) + list(distiller.parameters()))
    frames = method.synthesized_frames(bench.ctx)
    generator = device_generator(torch.Generator().manual_seed(bench.seed), bench.device, bench.seed)
    synthesizer = None
    if method.keeps_pool:
        steady = torch.randn(min(cfg.pool_size, 2 * cfg.kd_batch), 1, bench.data.n_mels, frames,
                             generator=generator, device=bench.device)
        pools = {}

        def pool_of(samples: int) -> TensorPool:
            """A pool a KD step draws `samples` from (all of it, or kd_batch of more)."""
            rows = samples if samples < cfg.kd_batch else len(steady)
            if rows not in pools:
                pools[rows] = TensorPool(cfg.pool_size)
                pools[rows].add(steady[:rows])
            return pools[rows]

        kd_rounds = range(cfg.first_kd_round, rounds or 0)
        order = bench.turn(f"kd-rounds:{name}", len(kd_rounds)) if kd_rounds else None

        def next_pool() -> TensorPool:
            if order is None:  # the steady state: full batches
                return pool_of(cfg.kd_batch)
            return pool_of(method.kd_batch_in_round(kd_rounds[next(order)]))  # another KD round's batch each call
    else:  # the generator methods draw a fresh batch of their generator at every KD step: part of the step
        synthesizer = method.make_synthesizer(bench.ctx, teacher, student, frames)
        fresh = method.make_transfer_set(synthesizer)

        def next_pool():
            return fresh
    student.train()

    kd_loss = compile_function(distiller, cfg.compile)  # as the loop runs it
    canvas = kd_canvas(cfg, bench.ctx)  # a cell places its KD batches in a canvas when its config asks for one

    def step():
        kd_step(bench.ctx, cfg, next_pool(), generator, kd_loss, opt, canvas=canvas)

    try:
        return bench.measure(name, "distill", f"{bench.teacher_arch}->{bench.student_arch}", cfg.kd_batch, step,
                             bench.data_free_precision,
                             note=f"{frames} frames" + ("" if method.keeps_pool else "; fresh generator samples"))
    finally:  # take off what they put on the shared teacher (ZSKT's attention taps), or every later pass runs it
        distiller.close()
        if synthesizer is not None:
            synthesizer.close()


def step_keys(name: str, bench: Workbench) -> dict[str, tuple | None]:
    """The method's synthesis and KD step keys at the bench's models (DataFreeMethod.synthesis_step_key and
    kd_step_key): two methods with equal keys for a step do the same work in it."""
    method = data_free_method(name, bench)
    teacher, student = bench.synthesis_models()
    distiller = method.make_distiller(bench.ctx, teacher, student)
    try:
        return {"synthesis": method.synthesis_step_key(bench.ctx), "distill": method.kd_step_key(bench.ctx, distiller)}
    finally:
        distiller.close()


def measure_train_step(name: str, bench: Workbench) -> Measurement:
    """A supervised step as training.train_supervised takes it (AdamW, fp32, batch moved to the device), each call
    on another of an epoch's batches (Workbench.turn), so that the time is the epoch's average step."""
    method_cls, cfg = METHODS.get(name).method_cls, bench.config(name)
    arch = bench.teacher_arch if issubclass(method_cls, TeacherMethod) else bench.student_arch
    is_kd = issubclass(method_cls, KnowledgeDistillation)
    loss_fn = kd_batch_loss(bench.teacher(), cfg) if is_kd else cross_entropy_loss
    model = bench.new_model(arch).train()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = bench.epoch("train", cfg.batch_size)
    order = bench.turn(f"train:{name}", len(batches))

    def step():
        loss = loss_fn(model, batches[next(order)].to(bench.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    label = f"{bench.teacher_arch}->{arch}" if is_kd else arch
    clips, note = epoch_shape(batches)
    return bench.measure(name, "train", label, clips, step, note=note)


def measure_evaluate(bench: Workbench, arch: str) -> Measurement:
    """Forward of a model on the test split's batches under no_grad, one batch a step, as training.predict runs
    them (length-sorted)."""
    model = bench.teacher() if arch == bench.teacher_arch else bench.new_model(arch)
    model.eval()
    batches = bench.epoch("test", EVAL_BATCH, shuffled=False)
    order = bench.turn(f"evaluate:{arch}", len(batches))

    def step():
        with torch.no_grad():
            b = batches[next(order)].to(bench.device)
            model(b.x, b.lengths).argmax(dim=1).cpu()

    clips, note = epoch_shape(batches)
    return bench.measure("-", "evaluate", arch, clips, step, note=note)


def epoch_shape(batches) -> tuple[int, str]:
    """(clips a step, rounded mean; a note of the padded frames) of an epoch's batches."""
    clips = sum(len(b.labels) for b in batches) / len(batches)
    frames = [b.x.shape[-1] for b in batches]
    return round(clips), (f"{frames[0]} frames (padded)" if min(frames) == max(frames) else
                          f"{min(frames)}-{max(frames)} frames (padded), {len(batches)} batches in turn")


def measure_input_gradient(name: str, bench: Workbench) -> Measurement:
    """The teacher's forward plus backward to its input at the method's synthesis batch and shape, with
    frozen weights and no hooks or losses: the network part of every synthesis step, so its fraction of
    the matmul peak is the ceiling a synthesis step of this teacher can reach at this batch."""
    method = data_free_method(name, bench)
    teacher, _ = bench.synthesis_models()
    teacher.eval()
    frames = method.synthesized_frames(bench.ctx)
    x = torch.randn(method.config.synth_batch, 1, bench.data.n_mels, frames, device=bench.device, requires_grad=True)

    def step():
        x.grad = None
        with autocast(bench.ctx):
            teacher(x).float().logsumexp(dim=1).sum().backward()

    with frozen(teacher):
        return bench.measure("-", "input-grad", bench.teacher_arch, method.config.synth_batch, step,
                             bench.data_free_precision, note=f"{frames} frames; ceiling of synthesis")


def phases_of(name: str) -> list[Callable[[str, Workbench], Measurement]]:
    method_cls = METHODS.get(name).method_cls
    if issubclass(method_cls, DataFreeMethod):
        return [measure_synthesis_step, measure_distill_step]
    if issubclass(method_cls, (TeacherMethod, StudentMethod, KnowledgeDistillation)):
        return [measure_train_step]
    return []


def measure_all(bench: Workbench, methods: list[str]) -> tuple[list[Measurement], list[str]]:
    """Every phase of every method, then the shared phases; returns (measurements, methods skipped).
    The matmul peaks come first, on an otherwise idle device."""
    for precision in ("fp32", "bf16") if bench.device.type == "cuda" else ("fp32",):
        bench.matmul_peak(precision)
    measurements, skipped = [measure_features(bench)], []
    for name in methods:
        phases = phases_of(name)
        if not phases:
            skipped.append(name)
        measurements.extend(measure(name, bench) for measure in phases)
    data_free = [n for n in methods if n in data_free_names()]
    if data_free:
        measurements.append(measure_input_gradient(data_free[0], bench))
    measurements.extend(measure_evaluate(bench, arch) for arch in (bench.student_arch, bench.teacher_arch))
    return measurements, skipped
