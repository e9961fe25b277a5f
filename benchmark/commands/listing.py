"""`python -m benchmark list methods|models|datasets|presets`: what is registered, one line each (methods: then
the method groups `--methods` accepts, with their members)."""
from __future__ import annotations

from methods import GROUPS, METHODS, TABLE_ORDER, group_members
from models import MODELS

from ..config.presets import PRESETS
from ..core.registry import Registry
from ..data import DATASETS

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
    if args.what == "methods":
        print("\ngroups (--methods GROUP):")
        for group, summary in GROUPS.items():
            print(f"  {group:<6}  {summary}: {', '.join(group_members(group))}")
    return 0
