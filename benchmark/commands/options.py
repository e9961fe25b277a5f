"""Argument types and defaults shared by several subcommands."""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from ..customize import blocks, collect_changes, customized
from ..numerics import Numerics
from ..presets import PRESETS, Preset

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


def add_preset_arguments(p, default: str = DEFAULT_PRESET) -> None:
    """--preset, and the changes to it: --config FILE.toml then each --set, checked before anything runs."""
    p.add_argument("--preset", default=default, help=f"scale: {', '.join(PRESETS.names())} (default {default})")
    p.add_argument("--config", type=Path, default=None, metavar="FILE.toml",
                   help="changes to the preset: TOML tables named like --set's blocks ([data_free] iterations = 4)")
    p.add_argument("--set", dest="assignments", action="append", default=[], metavar="BLOCK.FIELD=VALUE",
                   help="change one field, repeatable (e.g. adi.input_lr=0.1, data_free.iterations=4, "
                        "supervised.epochs=2, data.synth_clips_per_class=10); blocks: supervised, data_free, data, "
                        "frontend or a method name; recorded in every record and its config hash")


def preset_from_args(args) -> Preset:
    """The named preset with --config and --set applied (each key and type checked)."""
    return customized(PRESETS.get(args.preset), collect_changes(args.config, args.assignments))


def add_results_parser(sub, name: str, help: str):
    """A command that reads OUT/runs.jsonl (default: the committed results/)."""
    p = sub.add_parser(name, help=help)
    p.add_argument("--out", type=Path, default=Path("results"), help="results folder holding runs.jsonl")
    return p


def add_numerics_arguments(p) -> None:
    """--tf32 and --deterministic: how the device rounds (recorded in every record's `numerics`, outside the
    config hash; benchmark.numerics)."""
    g = p.add_argument_group("float settings (CUDA; recorded, not part of the config hash)")
    g.add_argument("--tf32", action="store_true",
                   help="let fp32 matmuls and convolutions use TF32 on CUDA (default: off, fp32 stays fp32)")
    g.add_argument("--deterministic", action="store_true",
                   help="deterministic algorithms only (an operator without one fails its cell, naming itself), "
                        "cuDNN deterministic, CUBLAS_WORKSPACE_CONFIG=:4096:8; two runs of a seed then agree")


def numerics_from_args(args) -> Numerics:
    return Numerics(tf32=args.tf32, deterministic=args.deterministic)
