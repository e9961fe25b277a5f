"""ADI: Adaptive DeepInversion (Yin et al., CVPR 2020), adapted to log-mel spectrograms.

Inputs are optimised directly from noise with Adam:
  CE(teacher(x), y) + a_bn * sum_l (||mu_l - mu_l^BN|| + ||var_l - var_l^BN||)
  + a_tv * TV_L2(x) + a_l2 * ||x|| + a_adi * (1 - JS(teacher || student))
Defaults are ONE reference setting, DeepInversion's CIFAR-10 script (small inputs, small
nets), file NVlabs/DeepInversion cifar10/deepinversion_cifar10.py ("DI.py" below) run with the
"paper parameters" of cifar10/README.md (--bs=256 --r_feature_weight=10 --di_lr=0.05):
  - Adam with default betas and no schedule: DI.py `optim.Adam([inputs], lr=args.di_lr)`;
  - every BatchNorm2d weighted equally (no first-layer multiplier; that is the ImageNet
    script's setting, where it goes with r_feature 0.01-0.05);
  - balanced targets: DI.py get_images, `targets = [0..9] * 25 + [0..5]` (random_labels=False);
  - TV-L2 2.5e-5 and L2 0 (--di_var_scale, --di_l2_scale defaults), norms over the whole batch;
  - competition weight 0.01: get_images' default `competitive_scale=0.01` (DI.py line 76; the
    script's --cig_scale defaults to 0, i.e. plain DeepInversion), T = 3 in the JS term;
  - 2000 iterations (--iters_mi); jitter: roll by up to 2 of 32 pixels (`lim_0, lim_1 = 2, 2`).
Adaptations: jitter is a circular roll in time only (no mirroring: a flip reverses time; a roll
in frequency would wrap pitch around), by up to the same 1/16 of the axis. The batch with the
lowest loss over the iterations is kept, as in the reference code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchmark.core.ranges import NON_NEGATIVE, POSITIVE, OneOf, between

from .base import CellContext
from .inversion.augment import roll_time
from .inversion.distill import LogitDistiller
from .inversion.hooks import BatchNormStatistics, frozen
from .inversion.loop import BestSoFar, DataFreeConfig, DataFreeMethod, Synthesizer
from .inversion.memory import StepMemory
from .inversion.priors import l2_norm, total_variation_l2
from .inversion.randomness import device_generator
from .inversion.scene import NO_SCENE, SceneFields, scene_of, silence_fill
from .registry import register_method


@dataclass(frozen=True)
class ADIConfig(DataFreeConfig, SceneFields):
    """Defaults: DeepInversion's CIFAR-10 "paper parameters" (module docstring cites each)."""

    iterations: int = 2000
    synth_batch: int = 256
    input_lr: float = 0.05  # Adam step size on the inputs (DeepInversion di_lr)
    bn_weight: float = 10.0  # r_feature
    first_bn_multiplier: float = 1.0  # CIFAR script: all BN layers equal (ImageNet script: 10)
    tv_weight: float = 2.5e-5  # TV-L2
    l2_weight: float = 0.0
    competition_weight: float = 0.01  # Adaptive DeepInversion term (get_images default)
    competition_temperature: float = 3.0
    jitter_fraction: float = 2 / 32  # roll by up to 2 of 32 pixels -> 1/16 of the time axis
    balanced_targets: bool = True  # classes in turn, as the CIFAR script's targets
    # Where the inputs start: "noise", N(0, 1) as DI.py's `torch.randn` (in the normalised log-mel space: loud
    # broadband noise in every frame); "silence", digital silence as the front end renders it plus N(0, 0.1^2),
    # so frames the losses leave alone stay quiet, as most frames of a long padded clip are (methods/README.md,
    # "Options for long, mostly silent clips").
    init: str = field(default="noise", metadata={"unhashed_value": "noise"})
    RANGES: ClassVar[dict[str, Any]] = {
        "input_lr": POSITIVE, "bn_weight": NON_NEGATIVE, "first_bn_multiplier": NON_NEGATIVE,
        "tv_weight": NON_NEGATIVE, "l2_weight": NON_NEGATIVE, "competition_weight": NON_NEGATIVE,
        "competition_temperature": POSITIVE, "jitter_fraction": between(0, 1, high_open=True),
        "init": OneOf(("noise", "silence"))}
SILENCE_INIT_STD = 0.1


def competition_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """1 - JS as in the ADI reference: probabilities at temperature T clamped to [0.01, 0.99],
    divergence 0.5 KL(M||P_s) + 0.5 KL(M||P_t) with M the mixture, clamped to [0, 1].
    Minimising it makes the synthesized samples ones the student and teacher disagree on."""
    p_s = F.softmax(student_logits.float() / temperature, dim=1)  # logits in fp32 before /T under autocast
    p_t = F.softmax(teacher_logits.float() / temperature, dim=1)
    m = (0.5 * (p_s + p_t)).clamp(0.01, 0.99)
    p_s, p_t = p_s.clamp(0.01, 0.99), p_t.clamp(0.01, 0.99)
    kl_m_s = (m * (m.log() - p_s.log())).sum(1).mean()
    kl_m_t = (m * (m.log() - p_t.log())).sum(1).mean()
    return 1.0 - (0.5 * kl_m_s + 0.5 * kl_m_t).clamp(0.0, 1.0)


class DeepInversionSynthesizer(Synthesizer):
    def __init__(self, cfg: ADIConfig, teacher, student, num_classes: int, shape: tuple[int, int, int],
                 device: torch.device, seed: int):
        super().__init__()
        self.cfg, self.teacher, self.student = cfg, teacher, student
        self.num_classes, self.shape, self.device = num_classes, shape, device
        self.bn = BatchNormStatistics(teacher, cfg.first_bn_multiplier, instance_means=False)
        self.generator = torch.Generator().manual_seed(seed)
        self.device_rng = device_generator(self.generator, device, seed)  # inputs, targets, jitter: on the device
        self.memory = StepMemory(cfg.checkpointing, (teacher, student), compile=cfg.compile)
        self.start: torch.Tensor | None = None  # (n_mels, 1) where inputs start (init "silence"); None: N(0, 1)
        self.scene = NO_SCENE  # where the inputs (events) are placed before the teacher sees them

    def synthesize(self) -> torch.Tensor:
        cfg = self.cfg
        x = torch.randn(cfg.synth_batch, *self.shape, generator=self.device_rng, device=self.device)
        if self.start is not None:
            x = self.start + SILENCE_INIT_STD * x
        x.requires_grad_()
        self.scene.reset()
        y = self.targets()
        self.last_targets = y
        opt = self.input_optimizer(x)
        with self.bn.active(), frozen(self.student), self.memory.during_synthesis():
            return self._optimise(x, y, opt)

    def input_optimizer(self, x: torch.Tensor) -> torch.optim.Optimizer:
        """Adam with default betas and no schedule, as DI.py: `optim.Adam([inputs], lr=args.di_lr)`."""
        return torch.optim.Adam([x], lr=self.cfg.input_lr)

    def targets(self) -> torch.Tensor:
        """Balanced (0, 1, ..., C-1, 0, 1, ...) as the CIFAR script, or uniform random labels."""
        n = self.cfg.synth_batch
        if self.cfg.balanced_targets:
            return torch.arange(n, device=self.device) % self.num_classes
        return torch.randint(0, self.num_classes, (n,), generator=self.device_rng, device=self.device)

    def _teacher_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher logits and the BN-statistics prior (outputs, so StepMemory can split backward here)."""
        return self.teacher(x), self.bn.loss()

    def _optimise(self, x, y, opt) -> torch.Tensor:
        cfg = self.cfg
        best = BestSoFar()
        scene = self.scene
        max_shift = int(cfg.jitter_fraction * (scene.frames or self.shape[-1]))
        for _ in range(cfg.iterations):
            seen = scene(x)  # what the teacher sees and the pool keeps
            x_j = roll_time(seen, max_shift, self.device_rng)
            t_logits, bn_loss = self.memory.run(self._teacher_pass, x_j)
            terms = {"ce": F.cross_entropy(t_logits.float(), y), "bn": bn_loss,
                     "tv": total_variation_l2(x_j), "l2": l2_norm(x_j)}
            loss = terms["ce"] + cfg.bn_weight * terms["bn"] + cfg.tv_weight * terms["tv"] + cfg.l2_weight * terms["l2"]
            if cfg.competition_weight > 0:
                terms["competition"] = competition_loss(self.memory.run(self.student, x_j), t_logits,
                                                       cfg.competition_temperature)
                loss = loss + cfg.competition_weight * terms["competition"]
            best.offer(loss, seen)  # the inputs as they were when this loss was measured
            opt.zero_grad(set_to_none=True)
            scene.zero_grad_()
            self.memory.backward(loss)
            opt.step()
            scene.step()
            self.sample_iterations += cfg.synth_batch
        self.last_losses = {k: v.detach() for k, v in terms.items()} | {"total": best.loss}
        return best.values[0]


class AdaptiveDeepInversion(DataFreeMethod):
    def make_synthesizer(self, ctx: CellContext, teacher, student, frames: int) -> Synthesizer:
        synthesizer = DeepInversionSynthesizer(self.config, teacher, student, ctx.data.num_classes,
                                               (1, ctx.data.n_mels, frames), ctx.device, ctx.seed)
        if self.config.init == "silence":
            synthesizer.start = silence_fill(ctx.data, ctx.device)
        synthesizer.scene = scene_of(self.config, ctx.data, frames, ctx.device, synthesizer.device_rng)
        return synthesizer

    def make_distiller(self, ctx: CellContext, teacher, student):
        return LogitDistiller(teacher, student, self.config.temperature)


register_method("adi", AdaptiveDeepInversion, ADIConfig(temperature=3.0),
                "Adaptive DeepInversion: inputs optimised from noise (BN prior, TV, competition), KD T=3",
                table2=dict(label="ADI", order=3, paper={
                    "resnet34:resnet18": {"us8k": 66.67, "esc50": 59.25, "audiomnist": 99.10},
                    "wrn40_2:wrn16_2": {"us8k": 63.44, "esc50": 58.75, "audiomnist": 99.03}}))
