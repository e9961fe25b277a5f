"""The subcommands of `python -m benchmark`, one module each. A module names its command (NAME),
adds its parser (add_parser) and runs it (main -> exit code); the CLI only parses and dispatches."""
from __future__ import annotations

from . import (check, config, curve, datasets, frontier, leaderboard, listing, plan, reproduce, run, samples, tables,
               throughput)

COMMANDS = {module.NAME: module for module in
            (run, curve, plan, listing, datasets, samples, check, reproduce, tables, leaderboard, frontier, throughput,
             config)}
