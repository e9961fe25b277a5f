"""Method registry. Importing this package imports every module in it, and each method module registers
itself (`register_method`), so a new method is one new file here: no import line, no list to extend.
Support modules (base, registry, overrides, losses) register nothing; private modules (`_*`) and
subpackages (inversion/) are not imported here."""
import importlib
import pkgutil
from collections.abc import Sequence

from .base import CellContext, Method, MethodResult, SynthesizedSamples
from .overrides import ConfigKeyError
from .registry import (GROUPS, METHODS, TablePlacement, build_method, group_members, method_config, method_configs,
                       parse_methods, register_method, table_methods, table_order)

for _module in pkgutil.iter_modules(__path__):  # sorted by file name, so registration order is stable
    if not _module.ispkg and not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

from .controls import FLOOR, synthesizes, with_floor  # noqa: E402  (after the loop: registration order by file name)


class _TableOrder(Sequence):
    """`table_order()` as a live sequence: Table 2 then Table 3 order, then unplaced methods. It reads the
    registry on each use, so a method registered after this import is in it too."""

    def __getitem__(self, index):
        return table_order()[index]

    def __len__(self) -> int:
        return len(table_order())

    def __iter__(self):
        return iter(table_order())

    def __eq__(self, other) -> bool:
        return list(self) == list(other) if isinstance(other, Sequence) else NotImplemented

    def __repr__(self) -> str:
        return repr(table_order())


# The order of Table 2 then Table 3; `--methods all` runs these.
TABLE_ORDER = _TableOrder()

__all__ = ["FLOOR", "GROUPS", "METHODS", "TABLE_ORDER", "CellContext", "ConfigKeyError", "Method", "MethodResult",
           "SynthesizedSamples", "TablePlacement", "build_method", "group_members", "method_config", "method_configs",
           "parse_methods", "register_method", "synthesizes", "table_methods", "table_order", "with_floor"]
