"""Forward hooks on a frozen teacher's BatchNorm layers.

DeepInversion's feature-statistics prior compares, per BN layer, the batch statistics of
the layer's *input* with the running statistics the teacher stored during training.
CMI's instance embedding is the per-sample, per-channel mean of the same inputs.
Only BatchNorm2d layers (the CNN trunk) are hooked, as both references do
(NVlabs/DeepInversion cifar10/deepinversion_cifar10.py and zju-vipa/CMI
datafree/synthesis/contrastive.py: `if isinstance(module, nn.BatchNorm2d)`); the embedding
layer's BatchNorm1d after statistics pooling is not part of the prior.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

BN_TYPES = (nn.BatchNorm2d,)


class ChannelMoments(torch.autograd.Function):
    """Identity on a BatchNorm layer's input that also hands out its per-channel E[x] and E[x^2] over
    (N, H, W) and, with `per_sample`, each sample's per-channel mean over (H, W) (CMI's instance embedding),
    in fp32 whatever x's dtype (bf16 under autocast).

    Why a tap on the main path rather than a side branch: the prior's gradient then enters x when the
    backward pass of the network itself reaches this layer (the node waits for all its output gradients),
    so a checkpointed block is recomputed once, in order. As a side branch, every layer's prior term would
    be ready at the start of backward and make every checkpointed block recompute at once, holding them
    all (measured on WRN-40-2: 2.2 GiB instead of 0.8 GiB for one pass at batch 8). And it keeps only x
    for backward: the tensor the BatchNorm layer keeps anyway, no fp32 copy of a bf16 input.

    Why the per-sample means are an output here rather than a `torch.mean` beside the tap: the batch mean is
    their mean (one reduction fewer), and their gradient joins the same two passes of the backward as a
    per-(sample, channel) offset. As a separate op its backward was an expanded division in NCHW that then
    had to be copied back to the channels-last gradient: on the cpu preset 10% of a CMI synthesis step
    (tests/measurements/measure_synthesis_share.py; results/README.md, "Cost of one synthesis step on the CPU")."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, per_sample: bool = False):
        ctx.save_for_backward(x)
        ctx.set_materialize_grads(False)  # unused outputs (FRAMI's chunk passes drop theirs) cost nothing
        x32 = x.float()
        square = torch.mean(x32 * x32, dim=(0, 2, 3))
        if not per_sample:
            return x.view_as(x), torch.mean(x, dim=(0, 2, 3), dtype=torch.float32), square
        means = torch.mean(x, dim=(2, 3), dtype=torch.float32)  # (N, C); equal counts: their mean is E[x]
        return x.view_as(x), means.mean(dim=0), square, means

    @staticmethod
    def backward(ctx, grad_x, grad_mean, grad_square, grad_means=None):
        # d/dx of the moments is a + b * x per channel (a = dL/dE[x] / n, b = 2 dL/dE[x^2] / n), plus dL/dmean_i
        # / (H W) per sample for the per-sample means: added to the gradient from the layer above in one fused
        # pass (addcmul) and one in-place add of the (N or 1, C, 1, 1) offset on that fresh tensor: 2x faster
        # on CPU than forming a + b * x and then adding it (tests/measurements/measure_eval_batchnorm.py), and the
        # result keeps x's memory layout. Mixed dtypes (bf16 x, fp32 moments) add in fp32 and round once.
        (x,) = ctx.saved_tensors
        n, c, h, w = x.shape
        count = n * h * w
        shape = (1, c, 1, 1)
        offset = None
        if grad_mean is not None:
            offset = grad_mean.view(shape) / count
        if grad_means is not None:
            per_sample = grad_means.view(n, c, 1, 1) / (h * w)
            offset = per_sample if offset is None else per_sample + offset
        if grad_x is None and grad_square is None and offset is None:
            return None, None
        grad = grad_x if grad_x is not None else torch.zeros_like(x)
        fresh = grad_x is None
        if grad_square is not None:
            grad, fresh = torch.addcmul(grad, x, grad_square.view(shape) * (2 / count)), True
        if offset is not None:
            grad = grad.add_(offset) if fresh else grad + offset  # never write into grad_x
        return grad.to(x.dtype), None


def recomputing() -> bool:
    """True while autograd's backward runs this code, i.e. a checkpointed block is being recomputed
    (torch.utils.checkpoint tells the same way: the current graph task is set only inside a backward). Never
    inside a compiled pass, which is not block-checkpointed (methods/inversion/compiled.py), and whose tracer
    cannot read the graph task."""
    if torch.compiler.is_compiling():
        return False
    return torch._C._current_graph_task_id() != -1


class BatchNormStatistics:
    """Hooks every BatchNorm2d layer of `model`; after a forward pass holds per-layer losses and means.

    r_feature(layer) = ||mu(x) - mu_BN||_2 + ||var(x) - var_BN||_2 (Yin et al. 2020, Eq. 4),
    weighted by `layer_weights` (the first layer multiplied by `first_multiplier`).
    """

    def __init__(self, model: nn.Module, first_multiplier: float = 1.0, instance_means: bool = True):
        self.layers = [m for m in model.modules() if isinstance(m, BN_TYPES)]
        if not self.layers:
            raise ValueError("model has no BatchNorm2d layers to invert")
        self.weights = [first_multiplier if i == 0 else 1.0 for i in range(len(self.layers))]
        # per layer (E[x], E[x^2]) of the last pass; r_features are formed from them on demand, outside any
        # checkpointed block, so that nothing of the prior's own math is saved inside one
        self.moments: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(self.layers)
        self.instance_means: list[torch.Tensor | None] = [None] * len(self.layers)
        self.enabled = False  # only while synthesizing: see active()
        self.keep_instance_means = instance_means  # CMI's contrastive features; ADI needs none
        # where each channel's gap goes in r_feature_vector's zero-padded (2 x layers, widest layer) rows
        sizes = [layer.num_features for layer in self.layers]
        self._widest = max(sizes)
        row_starts = [row * self._widest for row in range(2 * len(sizes))]
        self._slots = torch.cat([torch.arange(n) + start for n, start in zip(sizes + sizes, row_starts)])
        self._handles = [layer.register_forward_pre_hook(self._make_hook(i)) for i, layer in enumerate(self.layers)]

    def _make_hook(self, index: int):
        def hook(module: nn.Module, inputs: tuple[torch.Tensor]) -> tuple[torch.Tensor] | None:
            if not self.enabled:
                return None
            x = inputs[0]
            # Moments as E[x^2] - E[x]^2 in fp32: two plain reductions, 1.8x faster on CPU than aten::var
            # over (0, 2, 3) (measured: 10.9 vs 19.9 ms fwd+bwd on 32x32x32x76; aten::var was 14-17% of a
            # synthesis step), equal to it within 3e-7 on normalised activations.
            tapped, mean, square, *means = ChannelMoments.apply(x, self.keep_instance_means)
            if recomputing():  # the same ops as the forward (so it saves the same), but nothing is kept: a kept
                return (tapped,)  # output would keep the recomputed block's whole graph alive to the end
            self.moments[index] = (mean, square)
            if self.keep_instance_means:  # CMI's contrastive features: fp32 accumulation and result
                self.instance_means[index] = means[0]
            return (tapped,)

        return hook

    @contextmanager
    def active(self, on: bool = True):
        """Record statistics inside this block only (KD-time teacher passes skip the work)."""
        previous, self.enabled = self.enabled, on
        try:
            yield
        finally:
            self.enabled = previous

    @contextmanager
    def preserved(self):
        """Passes inside the block leave the recorded statistics as they were (FRAMI's chunk pass). The hooks
        stay on rather than being switched off: a checkpointed pass is recomputed in backward with the hooks
        as they are then, so a pass must record the same things in its forward as in any recomputation."""
        saved = list(self.moments), list(self.instance_means)
        try:
            yield
        finally:
            self.moments, self.instance_means = saved

    def compared_statistics(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The (mean, var) of the last pass that the prior compares with the running statistics, every layer's
        channels side by side (a layer no pass reached takes its running statistics: no gap). Fast blends them
        with past batches (methods/fast.py)."""
        means, squares = [], []
        for layer, moments in zip(self.layers, self.moments):
            if moments is None:
                mean = layer.running_mean.float()
                moments = (mean, layer.running_var.float() + mean * mean)
            means.append(moments[0])
            squares.append(moments[1])
        mean, square = torch.cat(means), torch.cat(squares)
        return mean, (square - mean * mean).clamp_min(0)

    def r_feature_vector(self) -> torch.Tensor:
        """||mu(x) - mu_BN||_2 + ||var(x) - var_BN||_2 of every layer as one (layers,) tensor, for the last pass.
        All layers at once: the gaps of every channel scattered into one zero-padded row per layer and statistic,
        one norm per row: a dozen operators forward and backward instead of eight per layer (on CPU 4.5 -> 2.x
        ms a step for a 13-layer teacher, one thread; on a GPU, that many fewer kernel launches)."""
        mean, var = self.compared_statistics()
        layers = len(self.layers)
        gaps = torch.cat([self._running("running_mean") - mean, self._running("running_var") - var])
        if self._slots.device != gaps.device:  # moved once, not copied over at every step
            self._slots = self._slots.to(gaps.device)
        rows = gaps.new_zeros(2 * layers * self._widest).index_copy(0, self._slots, gaps)
        norms = torch.linalg.vector_norm(rows.view(2 * layers, self._widest), 2, dim=1)
        return norms[:layers] + norms[layers:]

    def _running(self, name: str) -> torch.Tensor:
        return torch.cat([getattr(layer, name).float() for layer in self.layers])

    @property
    def r_features(self) -> list[torch.Tensor]:
        """||mu(x) - mu_BN||_2 + ||var(x) - var_BN||_2 per layer, for the last pass."""
        return list(self.r_feature_vector().unbind())

    def loss(self) -> torch.Tensor:
        r = self.r_feature_vector()
        return (torch.tensor(self.weights, dtype=r.dtype, device=r.device) * r).sum()

    def instance_embedding(self) -> torch.Tensor:
        """Concatenated per-channel means of the BN2d inputs (CMI's contrastive feature)."""
        return torch.cat(self.instance_means, dim=1)

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()


@contextmanager
def frozen(module: nn.Module):
    """Parameters that need no gradient inside the block (restored after). Synthesis backpropagates
    through the student to the inputs only; without this every synthesis step would also compute
    (and throw away) the student's weight gradients."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p in params:
            p.requires_grad_(True)
