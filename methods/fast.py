"""Fast (FastMeta: "Up to 100x Faster Data-free Knowledge Distillation", Fang et al., AAAI 2022), for log-mels.

A generator whose initialisation is meta-learned (methods/inversion/meta.py): every batch starts from the
shared "common features", runs a few steps (the reference scripts' --g_steps 2-10) of
  bn * R_bn(momentum) + oh * CE + adv * L_adv          (CMI's terms without the contrastive one)
on the generator and its latents, keeps the step with the lowest loss, adds it to the pool, and the shared
weights take one meta step. KD on the whole pool as CMI's loop does; the first `warmup` rounds synthesize only.

Reference: zju-vipa/Fast-Datafree, datafree/synthesis/fast_meta.py at commit c1884872 ("fast_meta.py:LINE"),
datafree_kd.py (the `fast_meta` branch), scripts/fast_cifar.sh ("fast_cifar.sh:LINE"), and the momentum BN hook
`DeepInversionHook(module, mmt_rate)` of datafree/hooks.py (not in the stored copy of Fast-Datafree; read in a
fork that keeps it unchanged, JHShi777/CSP-DFKD datafree/hooks.py:79-117). Every setting of FastConfig cites
its line; methods/README.md, "Reference settings of the `paper` preset", has the table.

Spectrogram adaptations (as ADI's and CMI's): the reference's synthesis augmentation (random crop with padding 4
+ horizontal flip, fast_meta.py:95-99) becomes a roll in time by up to `views.max_roll_fraction` of the clip (no
flip: it reverses time; no roll in frequency: it would wrap pitch); the generator ends in 4*tanh in normalised
log-mel units instead of a sigmoid over pixels (methods/inversion/generator.py); the student and the teacher pool
over time, so clips of any length pass; the pool is a tensor ring, not PNG files.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.core.ranges import NON_NEGATIVE, POSITIVE, OneOf, at_least, between

from .base import CellContext
from .cmi import adversarial_loss
from .inversion.augment import roll_time
from .inversion.distill import LogitDistiller
from .inversion.generator import SpectrogramGenerator
from .inversion.hooks import BatchNormStatistics, frozen
from .inversion.loop import BestSoFar, DataFreeConfig, DataFreeMethod, Synthesizer
from .inversion.memory import StepMemory
from .inversion.meta import META_GRADIENTS, MetaInitialisation
from .inversion.randomness import device_generator
from .registry import register_method


@dataclass(frozen=True)
class FastConfig(DataFreeConfig):
    """Defaults: fast_cifar.sh:8, the ResNet-34 -> ResNet-18 "Fast-10" run (CIFAR: "modify --dataset", line 2)."""

    rounds: int = 220  # --epochs 220; ep_steps // kd_steps = 1 synthesized batch per epoch (datafree_kd.py loop)
    warmup: int = 20  # --warmup 20: rounds that synthesize without KD; the adversarial term starts with round 20
    synth_batch: int = 256  # --batch_size 256 (synthesis_batch_size defaults to batch_size, datafree_kd.py)
    iterations: int = 10  # --g_steps 10 (2 and 5 on fast_cifar.sh:4 and :6)
    kd_steps: int = 400  # --kd_steps 400 --ep_steps 400
    kd_batch: int = 256  # --batch_size 256
    kd_lr: float = 0.2  # --lr 0.2 (SGD momentum 0.9, wd 1e-4: datafree_kd.py defaults)
    temperature: float = 20.0  # --T 20
    pool_size: int = 220 * 256  # the reference keeps every batch (ImagePool): 220 rounds x 256
    lr_g: float = 2e-3  # --lr_g 2e-3: the fast generator's Adam step (betas 0.5/0.999, fast_meta.py:123-126)
    lr_z: float = 0.01  # --lr_z 0.01: the latents' step (fast_meta.py:125)
    nz: int = 256  # datafree_kd.py fast_meta branch: Generator(nz=256, ngf=64, ...)
    generator_width: int = 64  # ngf 64
    bn_weight: float = 10.0  # --bn 10.0
    oh_weight: float = 0.5  # --oh 0.5 (the WRN runs use 0.4, fast_cifar.sh:20-40)
    adv_weight: float = 1.33  # --adv 1.33 (the WRN runs use 1.1)
    bn_momentum: float = 0.9  # --bn_mmt 0.9: BN prior against a running average of past batches' statistics
    meta_gradient: str = "fomaml"  # --is_maml 1 (first-order MAML); "reptile" is --is_maml 0
    reset_l0: bool = True  # --reset_l0 1: re-draw the shared generator's first layers once (fast_meta.py:110-111)
    reset_bn: bool = False  # --reset_bn 0 (the reference defines reset_bn, fast_meta.py:37-41, and never calls it)
    reset_round: int = 120  # the reset happens at round warmup + 120 (1-based; fast_meta.py:110)
    RANGES: ClassVar[dict[str, Any]] = {
        "warmup": at_least(0), "lr_g": POSITIVE, "lr_z": POSITIVE, "nz": at_least(1), "generator_width": at_least(1),
        "bn_weight": NON_NEGATIVE, "oh_weight": NON_NEGATIVE, "adv_weight": NON_NEGATIVE,
        "bn_momentum": between(0, 1, high_open=True), "meta_gradient": OneOf(META_GRADIENTS),
        "reset_round": at_least(1)}

    @property
    def first_kd_round(self) -> int:
        """datafree_kd.py: `if epoch >= args.warmup: train(...)` (epochs counted from 0)."""
        return self.warmup


class MomentumBatchNormStatistics(BatchNormStatistics):
    """DeepInversion's BN prior with Fast's momentum (hooks.py:92-117 of the fork cited above). Once a batch has
    been made, each layer's statistics are compared after blending with a running average of past batches:
      r_l = ||mu_BN - ((1-m) mu + m mu_avg)||_2 + ||var_BN - ((1-m) var + m var_avg)||_2,
    and after every batch `update_averages()`: avg <- the last step's (mu, var) the first time, else
    m avg + (1-m) last. Why: the generator is only run a few steps per batch, so the batch need not match the
    teacher's statistics alone; together with the batches before it, it should."""

    def __init__(self, model: nn.Module, momentum: float):
        super().__init__(model, instance_means=False)
        self.momentum = momentum
        self.averages: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    def _last_statistics(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per layer the (mean, var) of the last pass."""
        if any(m is None for m in self.moments):
            raise RuntimeError("no pass of the teacher was recorded: run a synthesis step before update_averages()")
        sizes = [layer.num_features for layer in self.layers]
        return list(zip(*(part.split(sizes) for part in super().compared_statistics())))

    def compared_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        mean, var = super().compared_statistics()
        if self.averages is None:
            return mean, var
        m = self.momentum
        mean_avg, var_avg = (torch.cat(parts) for parts in zip(*self.averages))
        return (1 - m) * mean + m * mean_avg, (1 - m) * var + m * var_avg

    def update_averages(self) -> None:
        last = [(mean.detach(), var.detach()) for mean, var in self._last_statistics()]
        if self.averages is None:
            self.averages = last
            return
        m = self.momentum
        self.averages = [(m * mean_avg + (1 - m) * mean, m * var_avg + (1 - m) * var)
                         for (mean_avg, var_avg), (mean, var) in zip(self.averages, last)]


def reset_first_layers(generator: SpectrogramGenerator) -> None:
    """fast_meta.py:30-34 (reset_l0): the projection (reference `l1.0`) and the first BatchNorm (`conv_blocks.0`)
    re-drawn with weights N(0, 0.02), the BatchNorm's scale included as the reference does, and biases 0."""
    for module in (generator.project, generator.body[0]):
        nn.init.normal_(module.weight, 0.0, 0.02)
        nn.init.zeros_(module.bias)


def reset_batchnorms(generator: SpectrogramGenerator) -> None:
    """fast_meta.py:37-41 (reset_bn): every BatchNorm scale N(1, 0.02), shift 0."""
    for module in generator.modules():
        if isinstance(module, nn.BatchNorm2d):
            nn.init.normal_(module.weight, 1.0, 0.02)
            nn.init.zeros_(module.bias)


class FastMetaSynthesizer(Synthesizer):
    def __init__(self, cfg: FastConfig, teacher, student, num_classes: int, n_mels: int, frames: int,
                 device: torch.device, seed: int):
        super().__init__()
        self.cfg, self.teacher, self.student, self.device = cfg, teacher, student, device
        self.num_classes = num_classes
        self.rng = torch.Generator().manual_seed(seed)
        self.device_rng = device_generator(self.rng, device, seed)
        torch.manual_seed(seed)
        # PyTorch's default initialisation, as the reference's `Generator(...)`; no reset_model (fast_meta.py:77)
        shared = SpectrogramGenerator(cfg.nz, n_mels, frames, cfg.generator_width).to(device)
        self.meta = MetaInitialisation(shared, cfg.lr_g * cfg.iterations, cfg.meta_gradient)  # fast_meta.py:87-90
        self.generator = self.meta.fast  # the per-batch generator (what StepMemory checkpoints)
        self.bn = MomentumBatchNormStatistics(teacher, cfg.bn_momentum)
        self.memory = StepMemory(cfg.checkpointing, (teacher, student), self.generator, compile=cfg.compile)
        self.rounds_done = 0  # the reference's `self.ep`, counted from 1 at the start of synthesize()

    def to_steady_state(self) -> None:
        """After the warm-up: the adversarial term (and its student pass) is on."""
        self.rounds_done = max(self.rounds_done, self.cfg.warmup)

    def at_round(self, round_index: int) -> None:
        """Round `round_index` counts itself as round_index + 1 when it starts (synthesize), so the adversarial
        pass is on from round warmup - 1 on."""
        self.rounds_done = round_index

    @property
    def adversarial_on(self) -> bool:
        """fast_meta.py:144: `self.adv > 0 and self.ep >= self.ep_start`."""
        return self.cfg.adv_weight > 0 and self.rounds_done >= self.cfg.warmup

    def synthesize(self) -> torch.Tensor:
        cfg, n = self.cfg, self.cfg.synth_batch
        self.rounds_done += 1
        if self.rounds_done == cfg.warmup + cfg.reset_round:  # fast_meta.py:110-111, once
            if cfg.reset_l0:
                reset_first_layers(self.meta.shared)
            if cfg.reset_bn:
                reset_batchnorms(self.meta.shared)
        z = torch.randn(n, cfg.nz, generator=self.device_rng, device=self.device).requires_grad_()
        y = torch.randint(0, self.num_classes, (n,), generator=self.device_rng, device=self.device)
        self.last_targets = y
        fast = self.meta.start_batch()
        opt = torch.optim.Adam([{"params": fast.parameters()}, {"params": [z], "lr": cfg.lr_z}], lr=cfg.lr_g,
                               betas=(0.5, 0.999))
        with self.bn.active(), frozen(self.student), self.memory.during_synthesis():
            best = self._optimise(z, y, opt)
        if cfg.bn_momentum:  # fast_meta.py:167-169, after the batch's last step
            self.bn.update_averages()
        self.meta.finish_batch()
        return best

    def step_terms(self, z: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One step's loss terms (unweighted) and the generated batch (un-augmented, as the pool keeps it)."""
        x = self.generator(z)
        view = roll_time(x, int(self.cfg.views.max_roll_fraction * x.shape[-1]), self.device_rng)
        t_logits, bn_loss = self.memory.run(self._teacher_pass, view)
        terms = {"bn": bn_loss, "oh": F.cross_entropy(t_logits.float(), y)}
        terms["adv"] = (adversarial_loss(self.memory.run(self.student, view), t_logits) if self.adversarial_on
                        else z.new_zeros((), dtype=torch.float32))
        return terms, x

    def _teacher_pass(self, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.teacher(view), self.bn.loss()

    def weighted_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.cfg  # fast_meta.py:150
        return cfg.bn_weight * terms["bn"] + cfg.oh_weight * terms["oh"] + cfg.adv_weight * terms["adv"]

    def _optimise(self, z: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer) -> torch.Tensor:
        best = BestSoFar()  # fast_meta.py:152-155: the batch of the lowest loss
        for _ in range(self.cfg.iterations):
            terms, x = self.step_terms(z, y)
            loss = self.weighted_loss(terms)
            best.offer(loss, x)
            opt.zero_grad(set_to_none=True)
            self.memory.backward(loss)
            self.meta.after_step()  # fast_meta.py:160-163, before the fast step
            opt.step()
            self.sample_iterations += len(z)
        self.last_losses = {k: v.detach() for k, v in terms.items()} | {"total": best.loss}
        return best.values[0]


class FastMeta(DataFreeMethod):
    def check_settings(self) -> None:
        """Refuses a warm-up as long as the cell: its student would never be distilled. (Not a config CONSTRAINT:
        presets lower `rounds` for every data-free method in one block before Fast's own block lowers `warmup`,
        and a rule between the two would reject that half-way state.)"""
        cfg: FastConfig = self.config
        if cfg.warmup >= cfg.rounds:
            raise ValueError(f"fast: warmup = {cfg.warmup} >= rounds = {cfg.rounds}, so no round would distil; "
                             f"set per_method.fast.warmup below rounds (e.g. --set fast.warmup={cfg.rounds // 10})")

    def run(self, ctx: CellContext):
        self.check_settings()  # `run` checked the grid before work; a cell built elsewhere is checked here
        return super().run(ctx)

    def make_synthesizer(self, ctx: CellContext, teacher, student, frames: int) -> Synthesizer:
        return FastMetaSynthesizer(self.config, teacher, student, ctx.data.num_classes, ctx.data.n_mels, frames,
                                   ctx.device, ctx.seed)

    def make_distiller(self, ctx: CellContext, teacher, student):
        return LogitDistiller(teacher, student, self.config.temperature)  # datafree_kd.py: KLDiv(T=args.T)


register_method("fast", FastMeta, FastConfig(),
                "Fast (FastMeta): meta-learned generator init, a few steps per batch (BN momentum/CE/adversarial), "
                "KD T=20", groups=("field",))
