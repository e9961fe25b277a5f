"""Command line: `python -m benchmark <command> ...`. Parses the arguments and dispatches to the
command's module (benchmark.commands); turns the errors a user can fix into one-line messages."""
from __future__ import annotations

import argparse
import logging
import sys

from .commands import COMMANDS
from .core.registry import UnknownNameError
from .execution.executors import WorkerPoolBroke


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark",
                                     description="Data-free knowledge distillation benchmark for sound classification")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv  # recorded with every result as the command that made it
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    try:
        return COMMANDS[args.command].main(args)
    except (UnknownNameError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except WorkerPoolBroke as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
