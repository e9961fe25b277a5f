"""Method registry: everything about a method, declared once by its own module with `register_method`.

A registration names the method, its class, its default config at paper scale, a one-line summary, and where
the method stands in the FRAMI paper's tables with the paper's numbers for it there. `list methods`,
`--methods all`, the order of the tables and the paper rows of the reports all follow from the registry, so
a new method is one new module in this package (methods/__init__.py imports every module).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from benchmark.core.registry import Registry, UnknownNameError

from .base import Method
from .overrides import ScopedOverrides, resolve_all

TABLES = ("table2", "table3")  # Table 2: methods (columns); Table 3: FRAMI ablations (rows)
LAST = 1000  # the order of a placement that gives none: after the paper's own, in registration order


@dataclass(frozen=True)
class TablePlacement:
    """A method's place in one of the paper's tables: its Table 2 column header or Table 3 row label, its
    position there (left to right, top to bottom), and the paper's accuracy (%) for it by teacher:student
    pair and dataset (None where the paper prints "-")."""

    label: str
    order: int = LAST
    paper: Mapping[str, Mapping[str, float | None]] = field(default_factory=dict)  # pair -> dataset -> %

    def __post_init__(self):
        for pair, by_dataset in self.paper.items():
            for dataset, value in by_dataset.items():
                if value is not None and not (isinstance(value, (int, float)) and math.isfinite(value)):
                    raise ValueError(f"{self.label}: the paper's number for {dataset} {pair} must be a "
                                     f"percentage or None, got {value!r}")

    def paper_accuracy(self, dataset: str, pair: str) -> float | None:
        return self.paper.get(pair, {}).get(dataset)


Placement = TablePlacement | Mapping[str, Any]  # a mapping holds TablePlacement's fields (no import needed)


@dataclass(frozen=True)
class MethodSpec:
    name: str
    method_cls: type[Method]
    config: Any  # paper-scale defaults; presets change them through scoped blocks (methods/overrides.py)
    summary: str
    table2: TablePlacement | None = None
    table3: TablePlacement | None = None
    groups: tuple[str, ...] = ()  # method groups it declares itself part of (GROUPS; "paper" also by placement)

    def in_group(self, group: str) -> bool:
        """Declared, or for "paper" one of the paper's own rows: placed in its tables with the paper's numbers
        (its rows need no declaration). CMI has a Table 2 column here but none in the paper, so it is not."""
        return group == "all" or group in self.groups or (group == "paper" and self.is_paper_row())

    def is_paper_row(self) -> bool:
        return any(p is not None and bool(p.paper) for p in (self.table2, self.table3))

    def placement(self, table: str) -> TablePlacement | None:
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}; tables: {', '.join(TABLES)}")
        return getattr(self, table)

    def paper_accuracy(self, dataset: str, pair: str) -> float | None:
        """The paper's number for this method on (dataset, pair): Table 2's, else Table 3's, else None."""
        values = (p.paper_accuracy(dataset, pair) for p in (self.table2, self.table3) if p is not None)
        return next((v for v in values if v is not None), None)


METHODS: Registry[MethodSpec] = Registry("method")


# Method groups `--methods` accepts besides names: a method joins a group by declaring it (`groups=`), so a new
# method joins without an edit here. "paper" also holds every row the paper's tables report numbers for.
GROUPS: dict[str, str] = {
    "paper": "the FRAMI paper's rows (teacher, student, KD, ADI, FRAMI and its ablations) and the controls",
    "field": "the field's other data-free baselines (DAFL, DFAD, ZSKT, DFQ, Fast) and the controls",
    "all": "every registered method",
}


def register_method(name: str, method_cls: type[Method], config: Any, summary: str, *,
                    table2: Placement | None = None, table3: Placement | None = None,
                    groups: tuple[str, ...] = ()) -> None:
    """Declare a method. `table2`/`table3`: its column / row in the paper's tables (a `TablePlacement` or a
    dict of its fields: label, order, paper); a method in neither is still run and listed, not tabulated.
    `groups`: the method groups (GROUPS) it belongs to, e.g. ("field",)."""
    unknown = [g for g in groups if g not in GROUPS or g == "all"]
    if unknown:
        raise ValueError(f"method {name!r} declares unknown group(s) {', '.join(map(repr, unknown))}; groups a "
                         f"method can join: {', '.join(g for g in GROUPS if g != 'all')}")
    spec = MethodSpec(name, method_cls, config, summary, _placement(table2), _placement(table3), tuple(groups))
    METHODS.add(name, spec, summary)


def _placement(value: Placement | None) -> TablePlacement | None:
    if value is None or isinstance(value, TablePlacement):
        return value
    return TablePlacement(**value)


def table_methods(table: str) -> list[tuple[str, TablePlacement]]:
    """(method, placement) of every method in a table, in the table's order (ties: registration order)."""
    placed = [(spec.name, spec.placement(table)) for spec in (e.factory for e in METHODS.entries())]
    return sorted(((name, p) for name, p in placed if p is not None), key=lambda item: item[1].order)


def table_order() -> list[str]:
    """Every registered method once: Table 2's columns, then Table 3's rows, then the rest in registration
    order. What `--methods all` runs and `list methods` shows."""
    names = [name for table in TABLES for name, _ in table_methods(table)]
    return list(dict.fromkeys([*names, *METHODS.names()]))


def group_members(group: str) -> list[str]:
    """The methods of a group, in table order (`table_order`)."""
    if group not in GROUPS:
        raise UnknownNameError(f"unknown method group {group!r}; groups: {', '.join(GROUPS)}")
    return [name for name in table_order() if METHODS.get(name).in_group(group)]


def parse_methods(text: str) -> list[str]:
    """'a,b', a group ('paper', 'field', 'all') or a mix, as method names in order (each once). An unknown
    item fails before any work, listing the groups and the valid names."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    names: list[str] = []
    for item in items or [""]:
        if item in GROUPS:
            names.extend(group_members(item))
        elif item in METHODS:
            names.append(item)
        else:
            what = f"unknown method or group {item!r}" if item else "no method given"
            raise UnknownNameError(f"{what}; groups: {', '.join(GROUPS)}; methods: {', '.join(table_order())}")
    return list(dict.fromkeys(names))


def method_config(name: str, preset: ScopedOverrides) -> Any:
    """The config a cell uses: paper default <- the preset's `supervised` or `data_free` block (by the
    config's class) <- its `per_method` entry. The whole preset is checked on every call, so a bad key
    fails whichever method is asked for (`ConfigKeyError`, naming the closest valid key)."""
    METHODS.get(name)  # an unknown name fails with the valid ones
    return method_configs(preset)[name]


def method_configs(preset: ScopedOverrides) -> dict[str, Any]:
    """Every registered method's resolved config under a preset, in registration order."""
    return resolve_all({entry.name: entry.factory.config for entry in METHODS.entries()}, preset)


def build_method(name: str, config: Any) -> Method:
    spec = METHODS.get(name)
    method = spec.method_cls(config)
    method.name = name
    return method
