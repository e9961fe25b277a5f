"""The generator-vs-student loop shared by DAFL, DFAD, ZSKT and DFQ, as zju-vipa/CMI runs all four.

Reference: zju-vipa/CMI `datafree/synthesis/generative.py` (GenerativeSynthesizer, commit acbbea6; "G.py" below)
and `datafree_kd.py` (commit acbbea6; "KD.py"). One generator G(z), kept for the whole run with one Adam
(lr_g, betas 0.5/0.999: G.py l.40), takes `iterations` steps per round (g_steps), each on a fresh z (G.py
l.58), minimising

    bn * R_bn + oh * CE(t, argmax t) + adv * (-D(s, t)) + balance * sum_k p_k log p_k + act * (-mean |f_t|)

(G.py l.62-72): R_bn DeepInversion's BN-statistics prior, t/s teacher/student logits, p the teacher's mean
softmax over the batch (the information-entropy / class-balance term, maximised), f_t the teacher's features
before its classifier, and D the adversarial discrepancy: L1 between logits for DFAD, KL(p_t || p_s) at T=1
for the others (KD.py l.259). Then the student takes `kd_steps` KD steps, each on a fresh batch of G's
samples (KD.py l.376-377; G.py l.78-82 samples with G in eval mode): no pool, nothing augmented.

Spectrogram adaptations (as for CMI here): G is methods/inversion/generator.py's (CMI's Generator, KD.py l.257
at 3f791f6 before the later LargeGenerator) ending in 4*tanh, i.e. in the normalised log-mel space the
models see; the teacher's "features" are its utterance-level state U after statistics pooling (what feeds
its classifier, as `return_features=True` gives in the reference), so the activation term is length-agnostic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
import torch.nn.functional as F

from benchmark.core.ranges import NON_NEGATIVE, POSITIVE, OneOf, at_least

from ..base import CellContext
from ..losses import kd_kl
from .attention import AttentionDistiller
from .distill import LogitDistiller
from .generator import SpectrogramGenerator
from .hooks import BatchNormStatistics, frozen
from .loop import DataFreeConfig, DataFreeMethod, Synthesizer
from .memory import StepMemory
from .randomness import device_generator, on_device


def one_hot_loss(teacher_logits: torch.Tensor) -> torch.Tensor:
    """CE of the teacher's logits against their own argmax (G.py l.63): confident teacher outputs."""
    logits = teacher_logits.float()
    return F.cross_entropy(logits, logits.argmax(1))


def activation_loss(features: torch.Tensor) -> torch.Tensor:
    """-mean |f| (G.py l.64): large activations of the teacher's features before its classifier."""
    return -features.float().abs().mean()


def balance_loss(teacher_logits: torch.Tensor) -> torch.Tensor:
    """sum_k p_k log p_k of the batch-mean softmax p (G.py l.70-71): minimising it maximises the entropy of
    the classes the teacher sees in a batch (DAFL's information-entropy loss).

    log p comes from log-softmax (log of the batch mean by logsumexp), not log(softmax): where the reference's
    `p * torch.log(p)` is finite this is the same number, and where every sample's softmax underflows to 0 for
    a class (a confident teacher: the paper preset's WRN-40-2 on G's first samples) it gives that class's
    limit 0 instead of 0 * -inf = nan, which the weighted sum carried into the generator's loss even at weight
    0 (DFAD) and ended the cell in its first rounds, on CPU and on CUDA alike."""
    log_probs = F.log_softmax(teacher_logits.float(), dim=1)
    log_p = torch.logsumexp(log_probs, dim=0) - math.log(len(log_probs))
    return (log_p.exp() * log_p).sum()


def l1_discrepancy(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """mean |s - t| over batch and classes (torch.nn.L1Loss(), DFAD's criterion: KD.py l.259)."""
    return (student_logits.float() - teacher_logits.float()).abs().mean()


def kl_discrepancy(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(t) || softmax(s)) per sample, batch mean (the reference's KLDiv() at T=1: KD.py l.259)."""
    return kd_kl(student_logits, teacher_logits, 1.0)


DISCREPANCIES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": l1_discrepancy, "kl": kl_discrepancy}


@dataclass(frozen=True)
class GenerativeConfig(DataFreeConfig):
    """The shared loop at the CMI scripts' scale (scripts/{dafl,dfad,zskt}_cifar10.sh; the methods cite theirs):
    200 epochs of 400 KD steps (l.8, l.10), a generator step then 5 KD steps (l.9, l.11), batch 256 for both
    (l.4; KD.py l.244-245), validation once an epoch (KD.py l.346-347): 16000 rounds, eval every 80."""

    rounds: int = 16000  # epochs 200 x (ep_steps 400 // kd_steps 5): KD.py l.337
    synth_batch: int = 256  # synthesis_batch_size defaults to batch_size (KD.py l.244-245)
    iterations: int = 1  # g_steps
    kd_steps: int = 5
    kd_batch: int = 256  # --batch_size 256 (sample_batch_size, KD.py l.263)
    eval_every: int = 80  # once an epoch
    kd_augment: bool = False  # G's samples go to the student as they are (KD.py l.377)
    lr_g: float = 1e-3
    nz: int = 256  # KD.py l.256
    generator_width: int = 64  # ngf=64 (KD.py l.257)
    bn_weight: float = 0.0
    oh_weight: float = 0.0
    adv_weight: float = 0.0
    balance_weight: float = 0.0
    act_weight: float = 0.0
    discrepancy: str = "kl"
    at_weight: float = 0.0  # attention transfer in the student's loss (ZSKT's beta); 0: logit KD only
    RANGES: ClassVar[dict[str, Any]] = {
        "lr_g": POSITIVE, "nz": at_least(1), "generator_width": at_least(1), "bn_weight": NON_NEGATIVE,
        "oh_weight": NON_NEGATIVE, "adv_weight": NON_NEGATIVE, "balance_weight": NON_NEGATIVE,
        "act_weight": NON_NEGATIVE, "discrepancy": OneOf(tuple(DISCREPANCIES)), "at_weight": NON_NEGATIVE}

    @property
    def diagnostic_samples(self) -> int:
        """How many of G's samples the end-of-cell diagnostics look at (there is no pool to look at)."""
        return min(self.pool_size, 4 * max(self.synth_batch, self.kd_batch))


class GenerativeSynthesizer(Synthesizer):
    """G trained against the weighted terms above; `synthesize` returns the last step's batch."""

    def __init__(self, cfg: GenerativeConfig, teacher, student, num_classes: int, n_mels: int, frames: int,
                 device: torch.device, seed: int):
        super().__init__()
        self.cfg, self.teacher, self.student, self.device = cfg, teacher, student, device
        self.num_classes, self.nz = num_classes, cfg.nz
        self.rng = device_generator(torch.Generator().manual_seed(seed), device, seed)
        torch.manual_seed(seed)  # G's initial weights (PyTorch's default init, as the reference's)
        self.generator = SpectrogramGenerator(cfg.nz, n_mels, frames, cfg.generator_width).to(device)
        self.optimizer = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr_g, betas=(0.5, 0.999))
        self.bn = BatchNormStatistics(teacher, instance_means=False)
        self.discrepancy = DISCREPANCIES[cfg.discrepancy]
        self.memory = StepMemory(cfg.checkpointing, (teacher, student), self.generator, compile=cfg.compile)

    def _teacher_pass(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Teacher logits, its features before the classifier (U) and, when its weight is on, the BN prior, as
        outputs so StepMemory can split the step's backward here."""
        out = self.teacher.forward_hidden(x)
        return (out.logits, out.utterance, self.bn.loss()) if self.cfg.bn_weight > 0 else (out.logits, out.utterance)

    def step_terms(self, z: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """One generator step's loss terms (unweighted; the BN prior is 0 when off: the hooks record nothing)
        and the generated batch."""
        x = self.generator(z)
        t_logits, features, *prior = self.memory.run(self._teacher_pass, x)
        bn_loss = prior[0] if prior else t_logits.new_zeros((), dtype=torch.float32)
        terms = {"bn": bn_loss, "oh": one_hot_loss(t_logits), "act": activation_loss(features),
                 "balance": balance_loss(t_logits)}
        # the student pass only where the term is on (G.py l.65-69)
        terms["adv"] = (-self.discrepancy(self.memory.run(self.student, x), t_logits) if self.cfg.adv_weight > 0
                        else t_logits.new_zeros((), dtype=torch.float32))
        return terms, x

    def weighted_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the terms that are on: a term at weight 0 is left out, not multiplied by 0, so
        a value it cannot have (nan, inf) never reaches the generator through a term the method does not use."""
        cfg = self.cfg
        weights = {"bn": cfg.bn_weight, "oh": cfg.oh_weight, "adv": cfg.adv_weight, "balance": cfg.balance_weight,
                   "act": cfg.act_weight}
        on = [weight * terms[name] for name, weight in weights.items() if weight > 0]
        # every weight 0: a step that moves nothing, on a graph (CE is finite wherever the logits are)
        return sum(on[1:], on[0]) if on else 0.0 * terms["oh"]

    def synthesize(self) -> torch.Tensor:
        cfg, n = self.cfg, self.cfg.synth_batch
        self.generator.train()
        with self.bn.active(cfg.bn_weight > 0), frozen(self.student), self.memory.during_synthesis():
            for _ in range(cfg.iterations):
                z = torch.randn(n, self.nz, generator=self.rng, device=self.device)
                terms, x = self.step_terms(z)
                loss = self.weighted_loss(terms)
                self.optimizer.zero_grad(set_to_none=True)
                self.memory.backward(loss)
                self.optimizer.step()
                self.sample_iterations += n
        self.last_losses = {k: v.detach() for k, v in terms.items()} | {"total": loss.detach().float()}
        return x.detach()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n fresh samples of G in eval mode (G.py l.78-82), drawn on G's device."""
        self.generator.eval()
        z = torch.randn(n, self.nz, generator=on_device(generator if generator is not None else self.rng,
                                                        self.device), device=self.device)
        return self.generator(z)


class GeneratorSamples:
    """The transfer set of the generator methods: every KD batch is a fresh draw of G, nothing is kept (the
    loop's pool interface: `add` counts, `sample` draws, `all` is one draw of `size` for the diagnostics)."""

    def __init__(self, synthesizer: GenerativeSynthesizer, size: int):
        self.synthesizer, self.size = synthesizer, size
        self.total_added = 0

    def __len__(self) -> int:
        return self.size

    def add(self, batch: torch.Tensor) -> None:
        self.total_added += len(batch)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return self.synthesizer.sample(batch_size, generator)

    def all(self) -> torch.Tensor:
        return self.synthesizer.sample(self.size)

    @property
    def nbytes(self) -> int:
        return 0


class GenerativeMethod(DataFreeMethod):
    """A registered generator method: its config's weights, discrepancy and student loss say which one."""

    keeps_pool = False

    def make_synthesizer(self, ctx: CellContext, teacher, student, frames: int) -> GenerativeSynthesizer:
        return GenerativeSynthesizer(self.config, teacher, student, ctx.data.num_classes, ctx.data.n_mels, frames,
                                     ctx.device, ctx.seed)

    def make_distiller(self, ctx: CellContext, teacher, student):
        if self.config.at_weight > 0:
            return AttentionDistiller(teacher, student, self.config.temperature, self.config.at_weight)
        return LogitDistiller(teacher, student, self.config.temperature)

    def make_transfer_set(self, synthesizer: GenerativeSynthesizer) -> GeneratorSamples:
        return GeneratorSamples(synthesizer, self.config.diagnostic_samples)
