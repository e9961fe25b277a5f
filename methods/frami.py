"""FRAMI (Kang et al.): CMI + feature-invariance contrastive inversion + reused-backend KD.

1. Spectrograms are synthesized `length_factor` times longer than a typical training clip
   and cut into K time chunks; each chunk is embedded by the teacher (utterance-level U;
   statistics pooling accepts any length) and T_finv = mean pairwise cosine of the chunk
   embeddings (Eq. 1) is added to each sample's positive logit of Eq. 2, whose denominator
   holds the negatives only (as the paper writes it; CMI's InfoNCE also holds the positive).
2. The student matches logits plus the teacher's hidden states before and after statistics
   pooling, and its frame states are also read through the teacher's frozen back end.
The ablations of Table 3 are the same code with a switch off.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import torch

from benchmark.core.ranges import at_least

from .base import CellContext
from .cmi import CMIConfig, ContrastiveModelInversion, ContrastiveSynthesizer
from .inversion.contrastive import feature_invariance, feature_invariance_contrastive_loss, split_chunks
from .inversion.distill import LogitDistiller, ReusedBackendDistiller, ReusedBackendWeights
from .registry import register_method


@dataclass(frozen=True)
class FRAMIConfig(CMIConfig):
    feature_invariance: bool = True
    num_chunks: int = 4  # K
    reused_backend: bool = True
    reused: ReusedBackendWeights = field(default_factory=ReusedBackendWeights)
    length_factor: float = 2.0  # synthesize clips longer than a training clip
    RANGES: ClassVar[dict[str, Any]] = {"num_chunks": at_least(2)}  # T_finv: mean over pairs of chunks
    KD_ONLY: ClassVar[frozenset[str]] = CMIConfig.KD_ONLY | {"reused_backend", "reused"}  # the distiller's


class FeatureInvarianceSynthesizer(ContrastiveSynthesizer):
    def t_finv(self, x: torch.Tensor) -> torch.Tensor:
        """T_finv (Eq. 1) of every synthesized clip: mean pairwise cosine of its K chunk embeddings."""
        k = self.cfg.num_chunks
        chunks = split_chunks(x, k)
        with self.bn.preserved():  # chunk passes must not overwrite the views' BN statistics
            embeddings = self.memory.run(self._utterance, chunks)
        return feature_invariance(embeddings.view(len(x), k, -1))

    def _utterance(self, x: torch.Tensor) -> torch.Tensor:
        return self.teacher.forward_hidden(x).utterance

    def contrastive_terms(self, local, global_, n_current, x) -> dict[str, torch.Tensor]:
        """Eq. 2 in every FRAMI variant; without T_finv the same form with T_finv = 0, so that the
        `-no-finv` ablations remove exactly T_finv (not also the change of denominator)."""
        finv = self.t_finv(x) if self.cfg.feature_invariance else None
        terms = {"cr": feature_invariance_contrastive_loss(local, global_, self.cfg.cr_temperature, n_current, finv)}
        if finv is not None:
            terms["t_finv"] = finv.mean()
        return terms


class FRAMI(ContrastiveModelInversion):
    synthesizer_cls = FeatureInvarianceSynthesizer

    def make_distiller(self, ctx: CellContext, teacher, student):
        cfg: FRAMIConfig = self.config
        if cfg.reused_backend:
            return ReusedBackendDistiller(teacher, student, cfg.temperature, cfg.reused)
        return LogitDistiller(teacher, student, cfg.temperature)


_FULL = FRAMIConfig()
register_method("frami", FRAMI, _FULL, "FRAMI: feature-invariance contrastive inversion + reused-backend KD",
                table2=dict(label="FRAMI", order=5, paper={
                    "resnet34:resnet18": {"us8k": 79.93, "esc50": 67.75, "audiomnist": 99.80},
                    "wrn40_2:wrn16_2": {"us8k": 78.14, "esc50": 63.50, "audiomnist": 99.73}}),
                table3=dict(label="FRAMI (full)", order=0, paper={
                    "wrn40_2:wrn16_2": {"us8k": 78.14, "esc50": 63.50, "audiomnist": None}}))
# The ablations of Table 3 (rows in this order; the paper's numbers are for the WRN pair, None where it prints "-").
for order, (name, finv, reused, what, row, paper) in enumerate([
    ("frami-no-finv", False, True, "FRAMI ablation without T_finv (Table 3)", "w/o T_finv",
     {"us8k": 76.82, "esc50": 63.25, "audiomnist": 99.73}),
    ("frami-no-reused", True, False, "FRAMI ablation without reused-backend KD (Table 3)", "w/o Reused",
     {"us8k": 77.54, "esc50": 62.75, "audiomnist": None}),
    ("frami-no-finv-no-reused", False, False, "FRAMI ablation without both (Table 3)", "w/o T_finv w/o Reused",
     {"us8k": 76.58, "esc50": 63.00, "audiomnist": 99.67}),
], start=1):
    register_method(name, FRAMI, replace(_FULL, feature_invariance=finv, reused_backend=reused), what,
                    table3=dict(label=row, order=order, paper={"wrn40_2:wrn16_2": paper}))
