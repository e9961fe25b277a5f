"""A meta-learned initialisation (Fast, Fang et al. AAAI 2022): the weights every batch's generator starts from.

Reference: zju-vipa/Fast-Datafree datafree/synthesis/fast_meta.py at commit c1884872 ("fast_meta.py:LINE"
below). The shared module is never run for samples; each batch copies it into a fast module (fast_meta.py:121,
`self.generator.clone()`: parameters and buffers), the synthesizer optimises that copy for a few steps, and
the shared weights then take one Adam step (betas 0.5/0.999, lr = lr_g x g_steps: fast_meta.py:87-90) along
a meta-gradient. Two rules, the reference's `--is_maml` switch:

- "fomaml" (is_maml 1, the scripts' choice): first-order MAML, the sum over the batch's steps of the fast
  module's gradients, each taken at the fast weights of its step (fast_meta.py:23-27, 160-163).
- "reptile" (is_maml 0): the step from the fast weights back to the shared ones, scaled by 67:
  grad = 67 (shared - fast) (fast_meta.py:16-20, 171-175). Under Adam the scale only matters against eps.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

META_GRADIENTS = ("fomaml", "reptile")
REPTILE_SCALE = 67.0  # fast_meta.py:20 `p.grad.data.add_(p.data - tar_p.data, alpha=67)`


class MetaInitialisation:
    """The shared initialisation, its fast copy and the meta optimiser. Per batch: `start_batch()` -> optimise
    the returned module, calling `after_step()` after each backward -> `finish_batch()` (the meta step)."""

    def __init__(self, shared: nn.Module, lr: float, rule: str = "fomaml"):
        if rule not in META_GRADIENTS:
            raise ValueError(f"meta gradient {rule!r} is not a rule; valid: {', '.join(META_GRADIENTS)}")
        self.shared, self.rule = shared, rule
        self.fast = copy.deepcopy(shared)  # one copy, re-set every batch (no allocation per batch)
        self.optimizer = torch.optim.Adam(shared.parameters(), lr=lr, betas=(0.5, 0.999))

    def start_batch(self) -> nn.Module:
        """The fast module set to the shared initialisation (parameters and buffers), shared gradients cleared."""
        with torch.no_grad():
            for target, source in zip(self.fast.state_dict().values(), self.shared.state_dict().values()):
                target.copy_(source)
        self.optimizer.zero_grad(set_to_none=True)
        return self.fast

    def after_step(self) -> None:
        """First-order MAML: add this step's fast gradients to the shared ones (nothing under Reptile)."""
        if self.rule != "fomaml":
            return
        with torch.no_grad():
            for shared, fast in zip(self.shared.parameters(), self.fast.parameters()):
                if fast.grad is None:
                    continue
                if shared.grad is None:
                    shared.grad = fast.grad.detach().clone()
                else:
                    shared.grad.add_(fast.grad)

    def finish_batch(self) -> None:
        """The meta step on the shared initialisation."""
        if self.rule == "reptile":
            with torch.no_grad():
                for shared, fast in zip(self.shared.parameters(), self.fast.parameters()):
                    shared.grad = REPTILE_SCALE * (shared.detach() - fast.detach())
        self.optimizer.step()
