"""CMI: Contrastive Model Inversion (Fang et al., IJCAI 2021), adapted to log-mel spectrograms.

A generator G(z), re-initialised for every batch and optimised with z by Adam(0.5, 0.999):
  bn * R_bn + oh * CE + adv * L_adv + cr * L_cr
L_adv = -(KL(teacher || student) on samples where their predictions agree);
L_cr  = instance discrimination: per-channel means of the teacher's BN inputs for a local
        (time crop) and a global (jittered) view -> MLP head -> InfoNCE against the other
        samples and a memory bank of past samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from benchmark.core.ranges import NON_NEGATIVE, POSITIVE, at_least

from .base import CellContext
from .inversion.augment import SpectrogramViews
from .inversion.contrastive import MemoryBank, MLPHead, instance_contrastive_loss, project_rows
from .inversion.distill import LogitDistiller
from .inversion.generator import SpectrogramGenerator
from .inversion.hooks import BatchNormStatistics, frozen
from .inversion.loop import BestSoFar, DataFreeConfig, DataFreeMethod, Synthesizer
from .inversion.memory import StepMemory
from .inversion.randomness import device_generator
from .inversion.scene import NO_SCENE, SceneFields, scene_of
from .registry import register_method


@dataclass(frozen=True)
class CMIConfig(DataFreeConfig, SceneFields):
    lr_g: float = 1e-3
    nz: int = 256
    generator_width: int = 64
    bn_weight: float = 1.0
    oh_weight: float = 1.0
    adv_weight: float = 0.5
    cr_weight: float = 0.8
    cr_temperature: float = 0.1
    bank_size: int = 40960
    n_negatives: int = 4096
    head_dim: int = 256  # CMI datafree_kd.py: CMISynthesizer(..., head_dim=256)
    RANGES: ClassVar[dict[str, Any]] = {
        "lr_g": POSITIVE, "nz": at_least(1), "generator_width": at_least(1), "bn_weight": NON_NEGATIVE,
        "oh_weight": NON_NEGATIVE, "adv_weight": NON_NEGATIVE, "cr_weight": NON_NEGATIVE, "cr_temperature": POSITIVE,
        "bank_size": at_least(1), "n_negatives": at_least(0), "head_dim": at_least(1)}


def adversarial_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """-(KL(p_t || p_s) summed over classes, masked to samples where the argmaxes agree), batch mean."""
    student_logits, teacher_logits = student_logits.float(), teacher_logits.float()  # fp32 under autocast
    agree = (student_logits.argmax(1) == teacher_logits.argmax(1)).float()
    kl = F.kl_div(F.log_softmax(student_logits, 1), F.log_softmax(teacher_logits, 1), reduction="none",
                  log_target=True).sum(1)
    return -(kl * agree).mean()


class ContrastiveSynthesizer(Synthesizer):
    """CMI's synthesizer. Subclasses may change the contrastive term (FRAMI's Eq. 2)."""

    def __init__(self, cfg: CMIConfig, teacher, student, num_classes: int, n_mels: int, frames: int,
                 device: torch.device, seed: int):
        super().__init__()
        self.cfg, self.teacher, self.student, self.device = cfg, teacher, student, device
        self.num_classes, self.nz = num_classes, cfg.nz
        self.rng = torch.Generator().manual_seed(seed)
        self.device_rng = device_generator(self.rng, device, seed)  # draws made on the device (memory bank)
        torch.manual_seed(seed)
        self.generator = SpectrogramGenerator(cfg.nz, n_mels, frames, cfg.generator_width).to(device)
        self.bn = BatchNormStatistics(teacher)
        self.views = SpectrogramViews(cfg.views, self.rng, self.device_rng)
        with torch.no_grad(), self.bn.active():
            teacher(torch.zeros(2, 1, n_mels, frames, device=device))
            dim = self.bn.instance_embedding().shape[1]
        self.head = MLPHead(dim, cfg.head_dim).to(device)
        self.head_opt = torch.optim.Adam(self.head.parameters(), lr=cfg.lr_g)
        self.bank = MemoryBank(cfg.bank_size, 2 * dim, device)
        self.memory = StepMemory(cfg.checkpointing, (teacher, student), self.generator, compile=cfg.compile)
        self.scene = NO_SCENE  # where the generated events are placed before the teacher sees them

    def at_round(self, round_index: int) -> None:
        """The bank as round `round_index` finds it: one batch of best features added by each earlier round, in a
        ring of bank_size rows. A step's negatives (and its head's rows) grow with it up to n_negatives."""
        filled = min(self.bank.size, round_index * self.cfg.synth_batch)
        self.bank.count, self.bank.ptr = filled, filled % self.bank.size

    def contrastive_terms(self, local: torch.Tensor, global_: torch.Tensor, n_current: int,
                          x: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_cr on the projected views (FRAMI overrides this with its Eq. 2)."""
        return {"cr": instance_contrastive_loss(local, global_, self.cfg.cr_temperature, n_current)}

    def synthesize(self) -> torch.Tensor:
        cfg, n = self.cfg, self.cfg.synth_batch
        self.generator.reset()
        self.scene.reset()
        z = torch.randn(n, self.nz, generator=self.device_rng, device=self.device).requires_grad_()
        y = torch.randint(0, self.num_classes, (n,), generator=self.device_rng, device=self.device)
        self.last_targets = y
        opt = torch.optim.Adam([{"params": self.generator.parameters()}, {"params": [z]}], cfg.lr_g, betas=(0.5, 0.999))
        with self.bn.active(), frozen(self.student), self.memory.during_synthesis():
            return self._optimise(z, y, opt)

    def step_terms(self, z: torch.Tensor, y: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """One synthesis step's loss terms (unweighted), the generated batch and its instance features."""
        cfg, n = self.cfg, len(z)
        x = self.scene(self.generator(z))  # the scene is what the teacher sees and the pool keeps
        global_view, local_view = self.views.global_view(x), self.views.local_view(x)
        run = self.memory.run
        t_logits, bn_loss, global_feat = run(self._teacher_pass, global_view)
        terms = {"bn": bn_loss, "oh": F.cross_entropy(t_logits.float(), y)}
        terms["adv"] = (adversarial_loss(run(self.student, global_view), t_logits) if cfg.adv_weight > 0
                        else z.new_zeros((), dtype=torch.float32))
        _, _, local_feat = run(self._teacher_pass, local_view)
        cached = self.bank.sample(cfg.n_negatives, self.device_rng)
        cached_local, cached_global = cached.chunk(2, dim=1)
        projected = project_rows(self.head, torch.cat([local_feat, cached_local, global_feat, cached_global]),
                                 self.memory.level != "off")
        proj_local, proj_global = projected.chunk(2, dim=0)
        terms.update(self.contrastive_terms(proj_local, proj_global, n, x))
        return terms, x, torch.cat([local_feat, global_feat], dim=1)

    def _teacher_pass(self, view: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher logits, the BN-statistics prior and the instance embedding of one view (as outputs, so
        StepMemory can split the step's backward at this pass)."""
        logits = self.teacher(view)
        return logits, self.bn.loss(), self.bn.instance_embedding()

    def weighted_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        cfg = self.cfg
        return (cfg.bn_weight * terms["bn"] + cfg.oh_weight * terms["oh"] + cfg.adv_weight * terms["adv"]
                + cfg.cr_weight * terms["cr"])

    def _optimise(self, z: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer) -> torch.Tensor:
        cfg, n = self.cfg, self.cfg.synth_batch
        best = BestSoFar()
        for _ in range(cfg.iterations):
            terms, x, features = self.step_terms(z, y)
            loss = self.weighted_loss(terms)
            best.offer(loss, x, features)
            opt.zero_grad(set_to_none=True)
            self.head_opt.zero_grad(set_to_none=True)
            self.scene.zero_grad_()
            self.memory.backward(loss)
            opt.step()
            self.head_opt.step()
            self.scene.step()
            self.sample_iterations += n
        best_x, best_features = best.values
        self.bank.add(best_features)
        self.last_losses = {k: v.detach() for k, v in terms.items()} | {"total": best.loss}
        return best_x


class ContrastiveModelInversion(DataFreeMethod):
    synthesizer_cls = ContrastiveSynthesizer

    def make_synthesizer(self, ctx: CellContext, teacher, student, frames: int) -> Synthesizer:
        synthesizer = self.synthesizer_cls(self.config, teacher, student, ctx.data.num_classes, ctx.data.n_mels,
                                           frames, ctx.device, ctx.seed)
        synthesizer.scene = scene_of(self.config, ctx.data, frames, ctx.device, synthesizer.device_rng)
        return synthesizer

    def make_distiller(self, ctx: CellContext, teacher, student):
        return LogitDistiller(teacher, student, self.config.temperature)


register_method("cmi", ContrastiveModelInversion, CMIConfig(),
                "Contrastive Model Inversion: generator + BN/CE/adversarial/contrastive losses, KD T=20",
                table2=dict(label="CMI", order=4))  # the FRAMI paper reports no CMI column
