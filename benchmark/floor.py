"""The floor every data-free row is read against: `kd-noise` (KD on teacher-labelled noise, same loop and budget;
methods/controls.py). A run with a data-free method runs the floor too (unless `run --no-floor`), so its summary and
Table 2 can say what the synthesis bought."""
from __future__ import annotations

from methods import METHODS
from methods.inversion.loop import DataFreeMethod

FLOOR = "kd-noise"


def synthesizes(method: str) -> bool:
    """A data-free method that optimises its transfer set through the teacher (the controls do not)."""
    cls = METHODS.get(method).method_cls
    return issubclass(cls, DataFreeMethod) and bool(cls.optimises_samples)


def with_floor(methods: tuple[str, ...]) -> tuple[str, ...]:
    """`methods` plus the floor when any of them is data-free and the floor is not there yet."""
    if FLOOR in methods or not any(synthesizes(m) for m in methods):
        return tuple(methods)
    return (*methods, FLOOR)
