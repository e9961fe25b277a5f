"""Where random draws are made. Draws that shape data on the device (rolls, masks, pool and bank indices,
inputs and latents) are made there, with a generator of that device, so a step never waits for the host nor
copies a mask over; on the CPU that generator is the host one, so CPU results keep their random streams."""
from __future__ import annotations

import torch


def on_device(generator: torch.Generator | None, device: torch.device) -> torch.Generator | None:
    """`generator` where it can draw on `device`; None on the meta device (the planner's shape-only runs)."""
    if generator is None or device.type == "meta":
        return None
    if generator.device.type != device.type:
        raise ValueError(f"a {generator.device.type} generator cannot draw on {device}; make one with "
                         f"device_generator()")
    return generator


def device_generator(host: torch.Generator, device: torch.device, seed: int) -> torch.Generator | None:
    """The generator for draws made on `device`: on the CPU the host generator itself (so CPU results keep
    their random streams), on a GPU its own generator seeded alike, none on the meta device."""
    if device.type == "cpu":
        return host
    if device.type == "meta":
        return None
    return torch.Generator(device=device).manual_seed(seed)
