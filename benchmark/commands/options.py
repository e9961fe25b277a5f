"""Argument types and defaults shared by several subcommands."""
from __future__ import annotations

import argparse
import shlex

DEFAULT_PRESET = "cpu"


def parse_seeds(text: str) -> tuple[int, ...]:
    """'3' means seeds 0,1,2; '0,4,7' names seeds."""
    try:
        seeds = (tuple(int(s) for s in text.split(",") if s.strip()) if "," in text else tuple(range(int(text))))
    except ValueError:
        seeds = ()
    if not seeds or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"--seeds takes a positive count (3 -> seeds 0,1,2) or a comma list of "
                                         f"seeds (0,4,7), got {text!r}")
    return seeds


def command_line(args) -> str:
    """The command as typed, recorded with every result that it makes."""
    return "python -m benchmark " + " ".join(shlex.quote(a) for a in args.argv)
