"""`python -m benchmark list methods|models|datasets|presets`: what is registered, one line each."""
from __future__ import annotations

from methods import METHODS, TABLE_ORDER
from models import MODELS

from ..data import DATASETS
from ..presets import PRESETS
from ..registry import Registry

NAME = "list"


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list registered methods, models, datasets or presets")
    p.add_argument("what", choices=["methods", "models", "datasets", "presets"])


REGISTRIES: dict[str, Registry] = {"methods": METHODS, "models": MODELS, "datasets": DATASETS, "presets": PRESETS}


def main(args) -> int:
    registry = REGISTRIES[args.what]
    names = list(TABLE_ORDER) if args.what == "methods" else registry.names()
    width = max(len(n) for n in names)
    for name in names:
        entry = next(e for e in registry.entries() if e.name == name)
        print(f"{name:<{width}}  {entry.summary}")
    return 0
