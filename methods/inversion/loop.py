"""The data-free training loop shared by ADI, CMI and FRAMI (CMI's alternation):

    for each round: synthesize a batch -> add it to the pool -> `kd_steps` KD steps on
    batches drawn from the whole pool;  every `eval_every` rounds: validation accuracy
    (model selection on the validation split, never the test split).

A method is a synthesizer (how the transfer set is made) plus a distiller (what the
student matches); both are chosen by the method's config.
"""
from __future__ import annotations

import contextlib
import copy
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import torch
from torch import nn

from benchmark.core.progress import Progress
from benchmark.core.ranges import NON_NEGATIVE, POSITIVE, OneOf, at_least
from benchmark.core.training import DivergedError, EndOfBudget, PhaseStats, accuracy, check_finite

from ..base import CellContext, Method, MethodResult, SynthesizedSamples
from .augment import ViewConfig, kd_view, place_in_canvas
from .compiled import COMPILE_MODES, compile_function, compiling, fresh_cache, tuned_convolutions
from .diagnostics import pool_diagnostics, teacher_view
from .randomness import device_generator
from .scene import silence_fill


@dataclass(frozen=True)
class DataFreeConfig:
    """Loop settings; defaults are the CMI CIFAR reference scale (the `paper` preset)."""

    rounds: int = 200  # CMI: 200 epochs, one synthesized batch each
    synth_batch: int = 256
    iterations: int = 200  # optimisation steps per synthesized batch (CMI g_steps)
    kd_steps: int = 400  # KD steps after each synthesis (CMI kd_steps = ep_steps)
    kd_batch: int = 128  # CMI scripts/reproduce/adv_cmi_cifar10.sh --batch_size 128
    kd_optimizer: str = "sgd"  # "sgd" (momentum 0.9, CMI reference) or "adamw" (short-budget presets)
    kd_lr: float = 0.1  # cosine-annealed over all KD steps
    kd_weight_decay: float = 1e-4  # CMI datafree_kd.py --wd default
    # Augment every pool batch at every KD step, as CMI's reference does by reading its pool through
    # the training transform (datafree/synthesis/contrastive.py and deepinversion.py:
    # `data_pool.get_dataset(transform=self.transform)`, CIFAR: pad-4 random crop + flip). For
    # spectrograms: a per-clip roll in time (the crop's translation) + time/frequency masks; no flip.
    kd_augment: bool = True
    temperature: float = 20.0  # KD temperature (CMI: T=20)
    pool_size: int = 51200
    eval_every: int = 10  # rounds between validation checks
    length_factor: float = 1.0  # synthesized frames = length_factor * median training frames
    # What "training frames" means above: "clips", the padded clip's length (the paper's protocol), or "events",
    # the median sounding span of the training clips (PreparedData.typical_event_frames), for long, mostly quiet
    # clips such as synth-long and ESC-50's padded 5 s clips (methods/README.md, "Options for long, mostly silent
    # clips").
    # Records made before the field existed used "clips", so that value is left out of the config hash.
    length_from: str = field(default="clips", metadata={"unhashed_value": "clips"})
    # KD batches placed at random offsets in a canvas of the training clips' median length, so a student
    # distilled on short synthesized events sees inputs shaped like the long, mostly quiet clips it will classify
    # (such as synth-long and ESC-50's padded 5 s clips): "off"; "mean", filled with 0 (the normalised training
    # mean); "silence", filled with digital silence as the front end renders it (log of its log_offset,
    # normalised): what a padded clip holds.
    kd_canvas: str = field(default="off", metadata={"unhashed_value": "off"})
    views: ViewConfig = field(default_factory=ViewConfig)
    # Valid ranges (benchmark/core/ranges.py), checked before anything runs. A KD batch (at most the pool, at first
    # one synthesized batch) goes through the student's BatchNorm in training mode: two samples at least.
    RANGES: ClassVar[dict[str, Any]] = {
        "rounds": at_least(1), "synth_batch": at_least(2), "iterations": at_least(1), "kd_steps": at_least(1),
        "kd_batch": at_least(2), "kd_optimizer": OneOf(("sgd", "adamw")), "kd_lr": POSITIVE,
        "kd_weight_decay": NON_NEGATIVE, "temperature": POSITIVE, "pool_size": at_least(2),
        "eval_every": at_least(1), "length_factor": POSITIVE, "length_from": OneOf(("clips", "events")),
        "kd_canvas": OneOf(("off", "mean", "silence")),
        "checkpointing": OneOf(("off", "blocks", "passes")), "compile": OneOf(COMPILE_MODES)}
    # Activation checkpointing of synthesis steps (methods/inversion/memory.py): "off", "blocks" or "passes".
    # The same math (gradients equal, tests/test_memory_bound.py), so it is left out of the config hash
    # (`hashed: False`): a cell's identity does not depend on how its memory was bounded.
    checkpointing: str = field(default="passes", metadata={"hashed": False})
    # torch.compile of the synthesis steps' model passes and of the KD loss (methods/inversion/compiled.py): "off"
    # (eager), "inductor", or "aot_eager" (traced the same way, run by eager kernels: a quick check that a new
    # method's passes trace). The same math within float rounding (tests/test_compiled_steps.py), so it is left out
    # of the config hash, as checkpointing is.
    compile: str = field(default="off", metadata={"hashed": False})
    # Fields only KD steps and the validation schedule read, never a synthesizer: two configs that differ only here
    # synthesize alike (DataFreeMethod.synthesis_step_key), so a calibration prices their synthesis from one timing.
    KD_ONLY: ClassVar[frozenset[str]] = frozenset({"kd_steps", "kd_batch", "kd_optimizer", "kd_lr", "kd_weight_decay",
                                                   "kd_augment", "kd_canvas", "temperature", "eval_every"})

    @property
    def first_kd_round(self) -> int:
        """The first round followed by KD steps: 0, every round distils (Fast's warm-up rounds only synthesize)."""
        return 0

    @property
    def kd_rounds(self) -> int:
        """Rounds followed by `kd_steps` KD steps (the loop, its cosine schedule, the planner and the cost
        estimate count these)."""
        return max(0, self.rounds - self.first_kd_round)


def autocast(ctx: CellContext):
    """bf16 autocast on CUDA when the preset asks for it; fp32 on CPU."""
    if ctx.amp and ctx.device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


class Synthesizer(ABC):
    """Makes one batch of synthetic log-mels per call; counts its own work."""

    def __init__(self):
        self.sample_iterations = 0  # teacher forward+backward per synthesized sample per step
        # The last batch's loss terms as 0-d device tensors: read on the host once a round (loss_values),
        # never inside the step loop, so a step on a GPU does not wait for the host.
        self.last_losses: dict[str, torch.Tensor] = {}
        self.bn = None  # BatchNormStatistics hooks on the teacher, if the synthesizer uses them

    @abstractmethod
    def synthesize(self) -> torch.Tensor: ...

    def to_steady_state(self) -> None:
        """Put the synthesizer in the state it has after the first rounds, so that the planner and the
        throughput command count a typical step (CMI's full memory bank is filled by them; Fast ends its
        warm-up here). Nothing by default."""

    def at_round(self, round_index: int) -> None:
        """Put the synthesizer in the state a cell's round `round_index` (from 0) starts in, as far as a step's
        cost goes (CMI's bank fill, Fast's warm-up), so that a calibration can time the steps of every round and
        price a cell by their mean rather than by the steady state's. Nothing by default: the same cost each
        round."""

    def loss_values(self) -> dict[str, float]:
        """The last batch's loss terms as numbers (one host read per round)."""
        return {k: float(v) for k, v in self.last_losses.items()}

    def close(self) -> None:
        """Remove hooks from the (shared, cached) teacher."""
        if self.bn is not None:
            self.bn.remove()


class BestSoFar:
    """The values of the step with the lowest loss so far (the reference codes keep the best batch),
    chosen on the device: `torch.where` instead of `loss.item() < best`, so no step waits for the host.
    A non-finite loss is never better; if no step has a finite loss, `loss` stays inf and `values` are
    the first step's (the caller's finite check, once a round, turns that into a diverged cell)."""

    def __init__(self):
        self.loss: torch.Tensor | None = None
        self.values: list[torch.Tensor] = []

    def offer(self, loss: torch.Tensor, *values: torch.Tensor) -> None:
        loss = loss.detach().float()
        if self.loss is None:
            self.loss = torch.full_like(loss, float("inf"))
            self.values = [v.detach().clone() for v in values]
        better = loss < self.loss
        self.values = [torch.where(better, new.detach(), old) for new, old in zip(values, self.values)]
        self.loss = torch.where(better, loss, self.loss)


class Distiller(nn.Module, ABC):
    """Loss of the student on a pool batch; may own trainable parts (e.g. projections)."""

    @abstractmethod
    def forward(self, x: torch.Tensor) -> torch.Tensor: ...

    def close(self) -> None:
        """Take off whatever the distiller put on the (shared, cached) teacher. Nothing by default."""

    def work_key(self) -> tuple:
        """What sets this loss's work (two distillers with equal keys run the same operators on a batch): its
        class and the shapes of its own trainable parts. A setting that only scales a term, such as the
        temperature, leaves the work alike; a distiller whose settings switch terms on or off adds them."""
        return (type(self).__qualname__, *(tuple(p.shape) for p in self.parameters()))


class DataFreeMethod(Method):
    optimises_samples = True  # synthesis runs teacher forward+backward passes (the controls' does not)
    keeps_pool = True  # KD batches come from a pool of past batches (the generator methods draw fresh ones)

    @abstractmethod
    def make_synthesizer(self, ctx: CellContext, teacher: nn.Module, student: nn.Module, frames: int) -> Synthesizer:
        ...

    @abstractmethod
    def make_distiller(self, ctx: CellContext, teacher: nn.Module, student: nn.Module) -> Distiller: ...

    def make_transfer_set(self, synthesizer: Synthesizer):
        """Where KD batches come from: a bounded pool of synthesized batches (the generator methods of
        methods/inversion/generative.py draw fresh samples of their generator instead)."""
        from .pool import TensorPool
        return TensorPool(self.config.pool_size)

    def kd_batch_in_round(self, round_index: int) -> int:
        """Samples a KD step of round `round_index` draws: kd_batch, or the whole pool while it holds fewer (it
        gains one synthesis batch a round, up to pool_size), so with synth_batch < kd_batch a cell's first KD
        rounds run smaller batches. A generator method draws kd_batch fresh samples every step."""
        cfg = self.config
        if not self.keeps_pool:
            return cfg.kd_batch
        return min(cfg.kd_batch, cfg.pool_size, (round_index + 1) * cfg.synth_batch)

    def synthesis_step_key(self, ctx: CellContext) -> tuple:
        """What sets a synthesis step's work, so that steps with equal keys can be priced from one pooled timing:
        the method's class (which synthesizer), the clips' length and every setting but those only KD reads
        (DataFreeConfig.KD_ONLY); FRAMI with and without its reused-backend KD synthesize alike."""
        cfg = self.config
        settings = tuple((f.name, getattr(cfg, f.name)) for f in fields(cfg) if f.name not in cfg.KD_ONLY)
        return (type(self).__qualname__, self.synthesized_frames(ctx), settings)

    def kd_step_key(self, ctx: CellContext, distiller: Distiller) -> tuple | None:
        """What sets a KD step's work (kd_step: a pool batch drawn, augmented, placed, the distiller's loss and an
        optimizer step), so that steps with equal keys can be priced from one pooled timing: the distiller's work,
        the clips' length, the augmentation, the canvas, the optimizer and the batch of every KD round. None for
        the generator methods, whose KD step draws fresh samples of their own generator."""
        if not self.keeps_pool:
            return None
        cfg = self.config
        batches = tuple(self.kd_batch_in_round(r) for r in range(cfg.first_kd_round, cfg.rounds))
        return (distiller.work_key(), self.synthesized_frames(ctx), cfg.kd_augment and cfg.views, cfg.kd_canvas,
                cfg.kd_optimizer, cfg.compile, batches)

    def synthesized_frames(self, ctx: CellContext) -> int:
        """Length of synthesized clips: `length_factor` times the median training clip (`length_from` "clips") or
        the median sounding span of the training clips ("events")."""
        typical = ctx.data.typical_event_frames() if self.config.length_from == "events" else ctx.data.typical_frames()
        return max(8, round(self.config.length_factor * typical))

    def run(self, ctx: CellContext) -> MethodResult:
        from .pool import TensorPool

        cfg: DataFreeConfig = self.config
        if compiling(cfg.compile):
            fresh_cache()
        teacher, _ = ctx.teacher()
        teacher.eval().requires_grad_(False)
        student = ctx.new_student()
        teacher, student = models_for_device(teacher, student, ctx.device)
        frames = self.synthesized_frames(ctx)
        synthesizer = self.make_synthesizer(ctx, teacher, student, frames)
        distiller = self.make_distiller(ctx, teacher, student).to(ctx.device)
        params = list(student.parameters()) + list(distiller.parameters())  # e.g. FRAMI projections
        opt = make_optimizer(cfg, params)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, cfg.kd_rounds * cfg.kd_steps))
        pool = self.make_transfer_set(synthesizer)
        intended = TensorPool(cfg.pool_size)  # the labels synthesizers aimed for, beside their samples
        # pool indices and KD-time augmentation are drawn on the cell's device (the host generator on CPU)
        sampler = device_generator(torch.Generator().manual_seed(ctx.seed), ctx.device, ctx.seed)
        synth_stats, kd_stats = PhaseStats(), PhaseStats()
        kd_loss = compile_function(distiller, cfg.compile)  # the distiller itself when not compiling
        try:
            with tuned_convolutions(cfg.compile, ctx.device, torch.are_deterministic_algorithms_enabled()) as tuned:
                best_acc, best_state, end = self._loop(ctx, cfg, teacher, synthesizer, kd_loss, student, opt, sched,
                                                       pool, intended, sampler, synth_stats, kd_stats)
        finally:
            synthesizer.close()
            distiller.close()
        student.load_state_dict(best_state)
        result = self._result(student, best_acc, synthesizer, pool, frames, synth_stats, kd_stats)
        result.end_of_budget = end
        result.extras["compiled"] = {"mode": cfg.compile, "cudnn_benchmark": tuned}
        result.extras["diagnostics"] = pool_diagnostics(
            teacher, pool.all(), intended.all() if len(intended) == len(pool) else None, ctx.data.train,
            ctx.data.num_classes, cfg.synth_batch, ctx.device, ctx.seed, student=student)
        result.samples = self._samples(ctx, teacher, pool, sampler)
        return result

    def _loop(self, ctx, cfg, teacher, synthesizer, distiller, student, opt, sched, pool, intended, sampler,
              synth_stats, kd_stats):
        """Alternate synthesis and KD; returns (best validation accuracy, its student weights, the student after the
        last round). The last round is always evaluated."""
        best_acc, best_state = -1.0, None
        canvas = kd_canvas(cfg, ctx)  # read once, not in the step loop
        with Progress(f"{self.name} {ctx.teacher_arch}->{ctx.student_arch}", total=cfg.rounds) as progress:
            for round_index in range(cfg.rounds):
                student.eval()
                start = time.perf_counter()
                with autocast(ctx), synthesis_layout(student, ctx.device):
                    batch = synthesizer.synthesize()
                synchronize(ctx.device)
                synth_stats.seconds += time.perf_counter() - start
                synth_stats.samples += len(batch)
                synth_stats.steps += cfg.iterations
                check_synthesis_finite(synthesizer, f"{self.name} synthesis round {round_index}")  # once a round
                pool.add(batch)
                targets = getattr(synthesizer, "last_targets", None)
                if targets is not None:
                    intended.add(targets)
                teacher_on_batch = teacher_view(teacher, batch, targets, ctx.data.num_classes, ctx.device)

                student.train()
                start = time.perf_counter()
                finite = torch.ones((), dtype=torch.bool, device=ctx.device)
                loss = None
                steps = cfg.kd_steps if round_index >= cfg.first_kd_round else 0  # none in a warm-up round
                for _ in range(steps):  # no host read inside: the finite check is once a round
                    loss = kd_step(ctx, cfg, pool, sampler, distiller, opt, sched, canvas)
                    finite &= torch.isfinite(loss)
                    kd_stats.samples += cfg.kd_batch if len(pool) >= cfg.kd_batch else len(pool)
                    kd_stats.steps += 1
                synchronize(ctx.device)
                kd_stats.seconds += time.perf_counter() - start
                if not bool(finite):
                    raise DivergedError(f"non-finite loss in {self.name} KD round {round_index} (a KD step's loss "
                                        f"was NaN or inf; the cell stops at the end of that round)")
                ctx.log({"round": round_index, **({} if loss is None else {"kd_loss": loss.item()}),
                         **{f"synth/{k}": v for k, v in synthesizer.loss_values().items()},
                         **{f"diagnostics/{k}": v for k, v in teacher_on_batch.items()}})
                if (round_index + 1) % cfg.eval_every == 0 or round_index + 1 == cfg.rounds:
                    val_acc = accuracy(student, ctx.data.val, ctx.device)
                    if val_acc > best_acc:
                        best_acc, best_state = val_acc, copy.deepcopy(student.state_dict())
                    progress.advance(f"val {val_acc:.1f}% (best {best_acc:.1f}%)", 0)
                progress.advance()
        return best_acc, best_state, EndOfBudget.of(student, val_acc)

    def _result(self, student, best_acc, synthesizer, pool, frames, synth_stats, kd_stats) -> MethodResult:
        synth_stats.extra = {
            "sample_iterations": synthesizer.sample_iterations,
            "sample_iterations_per_s": synthesizer.sample_iterations / max(synth_stats.seconds, 1e-9),
            "synthesized_frames": frames,
        }
        extras = {"pool_samples": len(pool), "pool_bytes": pool.nbytes, "final_synth_losses": synthesizer.loss_values()}
        return MethodResult(student, best_acc, {"synthesis": synth_stats, "distill": kd_stats}, extras)


    @staticmethod
    @torch.no_grad()
    def _samples(ctx: CellContext, teacher: nn.Module, pool, sampler: torch.Generator,
                 count: int = 8) -> SynthesizedSamples:
        inputs = pool.sample(count, sampler).float()
        probs = teacher(inputs.to(ctx.device)).float().softmax(1).cpu()
        return SynthesizedSamples(inputs.cpu(), probs)


def check_synthesis_finite(synthesizer: Synthesizer, where: str) -> None:
    """A batch whose best loss is not finite (no step of it had a finite loss) ends the cell as diverged, as a
    non-finite KD loss does, instead of entering the pool. One host read per round."""
    total = synthesizer.last_losses.get("total")
    if total is not None:
        check_finite(torch.as_tensor(total), where)


def kd_step(ctx: CellContext, cfg: DataFreeConfig, pool, sampler: torch.Generator | None, distiller: Distiller,
            opt: torch.optim.Optimizer, sched=None, canvas: "KDCanvas | None" = None) -> torch.Tensor:
    """One KD step on a pool batch (in `canvas`, see DataFreeConfig.kd_canvas); returns the loss, detached, on
    the device (nothing read on the host)."""
    x = draw_kd_batch(pool, cfg, sampler, ctx.device)
    if canvas is not None:
        x = place_in_canvas(x, canvas.frames, sampler, canvas.fill)
    with autocast(ctx):
        loss = distiller(x)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    if sched is not None:
        sched.step()
    return loss.detach()


@dataclass(frozen=True)
class KDCanvas:
    frames: int
    fill: torch.Tensor | None  # (n_mels, 1) on the cell's device; None: zeros


def kd_canvas(cfg: DataFreeConfig, ctx: CellContext) -> KDCanvas | None:
    """The canvas KD batches are placed in (DataFreeConfig.kd_canvas), or None."""
    if cfg.kd_canvas == "off":
        return None
    fill = silence_fill(ctx.data, ctx.device) if cfg.kd_canvas == "silence" else None
    return KDCanvas(ctx.data.typical_frames(), fill)


def draw_kd_batch(pool, cfg: DataFreeConfig, sampler: torch.Generator | None,
                  device: torch.device) -> torch.Tensor:
    """A uniformly random pool batch, augmented (kd_augment) as the reference reads its pool. The pool lives on
    the cell's device, so this is a no-op `.to`; fp32 for the student (a bf16 pool is exact, and autocast
    casts again where it pays)."""
    x = pool.sample(cfg.kd_batch, sampler).to(device, torch.float32)
    return kd_view(x, cfg.views, sampler) if cfg.kd_augment else x


def models_for_device(teacher: nn.Module, student: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """Teacher and student as the loop runs them (the throughput command measures the same): a channels-last
    copy of the teacher, and on CUDA a channels-last student. NHWC convolutions are faster on tensor cores
    (bf16 autocast), and on the CPU too: a WRN-16-2-tiny teacher forward+backward to its input 17% faster,
    the WRN-10-2-tiny student's 38% (one thread, batch 32 x 32 mels x 76 frames). On the CPU the student
    trains in NCHW and is channels-last only while synthesis runs (`synthesis_layout`): a channels-last
    student in training mode corrupted the heap in the backward of FRAMI's reused-backend KD step (torch
    2.9.1, oneDNN: "double free or corruption", then a segfault with the frame states made contiguous)."""
    if device.type == "cuda":
        return channels_last_copy(teacher), student.to(memory_format=torch.channels_last)
    return channels_last_copy(teacher), student


@contextlib.contextmanager
def synthesis_layout(student: nn.Module, device: torch.device):
    """The student channels-last for the synthesis phase on the CPU (its frozen, eval-mode passes), back to
    NCHW for KD (see models_for_device). Two conversions of the student's weights a round; nothing on CUDA,
    where the student is channels-last throughout."""
    if device.type == "cuda":
        yield student
        return
    student.to(memory_format=torch.channels_last)
    try:
        yield student
    finally:
        student.to(memory_format=torch.contiguous_format)


def channels_last_copy(model: nn.Module) -> nn.Module:
    """A channels-last copy: `Module.to(memory_format=...)` converts in place, and the teacher is
    shared through the teacher cache, so converting it would make later cells depend on order."""
    return copy.deepcopy(model).to(memory_format=torch.channels_last)


def make_optimizer(cfg: DataFreeConfig, params: list) -> torch.optim.Optimizer:
    if cfg.kd_optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.kd_lr, momentum=0.9, weight_decay=cfg.kd_weight_decay)
    if cfg.kd_optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.kd_lr, weight_decay=cfg.kd_weight_decay)
    raise ValueError(f"unknown kd_optimizer {cfg.kd_optimizer!r}; valid: sgd, adamw")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock timings measure it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
