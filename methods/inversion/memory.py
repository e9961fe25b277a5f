"""How a synthesis step saves memory without changing its math (DataFreeConfig.checkpointing).

- "off": autograd keeps every activation of every pass (fastest; the CPU presets).
- "blocks": every residual block of teacher and student trunks, and the generator's body, keeps only its
  input and is recomputed in backward (models/checkpointing.py).
- "passes": besides, no model pass keeps anything for backward while the step's loss is formed: each pass
  runs without recording, its outputs become leaves, the loss is backpropagated to them, and then the passes
  are run again one at a time (block-checkpointed) and backpropagated with those gradients (the chain rule
  split at the pass boundaries; one more forward per pass). A step holds one pass's block inputs plus one
  block's insides instead of every pass's at once (the `paper` preset).

Measured by the planner (python -m benchmark plan): FRAMI with WRN-40-2 on 5 s ESC-50 clips keeps about
1.2 GB per synthesized sample with "off" (benchmark/README.md, "Paper scale on one GPU: the plan before the
spend, and synthesis with bounded memory", has the numbers). Gradients are equal with and
without (tests/test_memory_bound.py). BatchNorm-statistics hooks fire again in a recomputation, with the
state they have then; so during synthesis they stay on for every pass (FRAMI's chunk pass restores the
recorded statistics afterwards instead of switching them off), and a recomputation saves what its forward
saved. A pass hands out what its hooks recorded as outputs of its function (not by side effect), so the
split at the pass boundary covers the BatchNorm prior and the instance embeddings too.
"""
from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Callable

import torch
from torch import nn

from models.checkpointing import checkpointed_blocks

from .compiled import CompiledPasses

CHECKPOINTING_LEVELS = ("off", "blocks", "passes")


def check_level(level: str) -> str:
    if level not in CHECKPOINTING_LEVELS:
        raise ValueError(f"checkpointing {level!r} is not a level; valid: {', '.join(CHECKPOINTING_LEVELS)}")
    return level


class StepMemory:
    """The checkpointing of one synthesizer: `during_synthesis()` around its steps, `run(fn, x)` for each
    model pass inside a step (fn returns a tensor or a tuple of tensors) and `backward(loss)` for the step."""

    def __init__(self, level: str, models: tuple[nn.Module, ...], generator: nn.Module | None = None,
                 compile: str = "off"):
        self.level = check_level(level)
        self.models, self.generator = models, generator
        self.compiled = CompiledPasses(compile)  # passes run compiled (methods/inversion/compiled.py) or as given
        self._passes: list[tuple[Callable, tuple, tuple[torch.Tensor, ...]]] = []

    @contextmanager
    def during_synthesis(self):
        with ExitStack() as stack:
            # compiled passes are never block-checkpointed (compiled.py says why); "passes" still applies
            if self.level != "off" and self.compiled.mode == "off":
                stack.enter_context(checkpointed_blocks(*self.models))
                if self.generator is not None:
                    stack.enter_context(_generator_checkpointed(self.generator))
            yield

    def run(self, fn: Callable[..., object], *args: torch.Tensor):
        """fn(*args); under "passes" (with gradients on) run without recording, outputs as leaves."""
        fn = self.compiled(fn)
        if self.level != "passes" or not torch.is_grad_enabled():
            return fn(*args)
        with torch.no_grad():
            out = fn(*args)
        outputs = out if isinstance(out, tuple) else (out,)
        leaves = tuple(o.detach().requires_grad_(o.is_floating_point()) for o in outputs)
        self._passes.append((fn, args, leaves))
        return leaves if isinstance(out, tuple) else leaves[0]

    def backward(self, loss: torch.Tensor) -> None:
        """loss.backward(), through every pass that `run` split off (one pass at a time)."""
        passes, self._passes = self._passes, []
        if not passes:
            loss.backward()
            return
        loss.backward(retain_graph=True)  # to the passes' output leaves (and whatever needs no pass)
        inputs, input_grads = [], []
        for fn, args, leaves in reversed(passes):
            grads = [leaf.grad for leaf in leaves]
            if all(g is None for g in grads):
                continue
            detached = tuple(a.detach().requires_grad_() if a.requires_grad else a for a in args)
            out = fn(*detached)
            outputs = out if isinstance(out, tuple) else (out,)
            used = [(o, g) for o, g in zip(outputs, grads) if g is not None]
            torch.autograd.backward([o for o, _ in used], [g for _, g in used])
            for original, leaf in zip(args, detached):
                if original.requires_grad and leaf.grad is not None:
                    inputs.append(original)
                    input_grads.append(leaf.grad)
        if inputs:  # back through the views to the generator or the inputs, once
            torch.autograd.backward(inputs, input_grads)


@contextmanager
def _generator_checkpointed(generator: nn.Module):
    previous, generator.checkpoint_body = generator.checkpoint_body, True
    try:
        yield
    finally:
        generator.checkpoint_body = previous
