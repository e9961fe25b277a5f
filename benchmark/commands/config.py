"""`python -m benchmark config --preset P --method M`: the config each method runs with under a preset.

What a cell records under config.method, shown before anything runs: the method's paper default
changed by the preset's `supervised` or `data_free` block and its `per_method` entry. Fields the
preset changed are marked with their default, so a reader sees at a glance what a preset scales.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterator

from methods import GROUPS, METHODS, TABLE_ORDER, method_configs, parse_methods
from methods.overrides import scope_of

from .options import add_preset_arguments, preset_from_args

NAME = "config"


def add_parser(sub) -> None:
    p = sub.add_parser("config", help="print the resolved config of methods under a preset",
                       description="Each method's config as a cell of this preset runs it: paper default <- the "
                                   "preset's supervised or data_free block <- its per_method entry. Fields the "
                                   "preset changed show their default. A bad preset key is an error here too.")
    add_preset_arguments(p)
    p.add_argument("--method", "--methods", dest="method", default="all",
                   help=f"comma list of method names and groups ({', '.join(GROUPS)}); names: "
                        f"{', '.join(TABLE_ORDER)}")
    p.add_argument("--json", action="store_true", help="one JSON object: {method: config} (as records store it)")


def flatten(config: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted field name, value) for every leaf field; nested configs (views, reused) are expanded."""
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if dataclasses.is_dataclass(value):
            yield from flatten(value, f"{prefix}{f.name}.")
        else:
            yield f"{prefix}{f.name}", value


def format_config(name: str, config: Any, default: Any) -> str:
    """A header naming the method, its config class and scope, then aligned `field = value` lines."""
    defaults = dict(flatten(default))
    rows = list(flatten(config))
    width = max(len(key) for key, _ in rows)
    scope = scope_of(config) or "per_method only"
    lines = [f"[{name}]  {type(config).__name__}, scope: {scope}"]
    for key, value in rows:
        changed = f"  (default {defaults[key]!r})" if defaults[key] != value else ""
        lines.append(f"  {key:<{width}} = {value!r}{changed}")
    return "\n".join(lines)


def main(args) -> int:
    preset = preset_from_args(args)
    names = parse_methods(args.method)
    configs = method_configs(preset)  # checks the whole preset first
    if args.json:
        print(json.dumps({name: dataclasses.asdict(configs[name]) for name in names}, indent=2))
        return 0
    print(f"# preset {preset.name}: {preset.summary}")
    for name in names:
        print()
        print(format_config(name, configs[name], METHODS.get(name).config))
    return 0
