"""Subcommands beyond run/list, each contributed by the module that does the work."""
from __future__ import annotations

PARSERS: list = []
HANDLERS: dict = {}


def register(name: str, add_parser, handler) -> None:
    PARSERS.append(add_parser)
    HANDLERS[name] = handler


from .data.cli import add_datasets_parser, run_datasets  # noqa: E402

register("datasets", add_datasets_parser, run_datasets)

from .samples import add_samples_parser, run_samples  # noqa: E402

register("samples", add_samples_parser, run_samples)

from .bounds import add_check_parser, run_check  # noqa: E402

register("check", add_check_parser, run_check)

from .reports import add_leaderboard_parser, add_tables_parser, run_leaderboard, run_tables  # noqa: E402

register("tables", add_tables_parser, run_tables)
register("leaderboard", add_leaderboard_parser, run_leaderboard)

from .throughput import add_throughput_parser, run_throughput  # noqa: E402

register("throughput", add_throughput_parser, run_throughput)

from .config_command import add_config_parser, run_config  # noqa: E402

register("config", add_config_parser, run_config)
