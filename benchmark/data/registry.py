"""Dataset registry: name -> loader(DataConfig) -> ClipSet.

Besides fixed names, a *prefix* names a family of datasets built from the text after it: `folder:PATH`
(benchmark/data/folder.py) is any folder of labelled audio. `get`, `parse_list` and `in` resolve a prefixed
name wherever a dataset name is accepted, so no command needs to know about prefixes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from benchmark.core.registry import Registry, UnknownNameError

from .base import ClipSet, DataConfig

DatasetLoader = Callable[[DataConfig], ClipSet]


@dataclass(frozen=True)
class Prefix:
    """A family of datasets named `<prefix>:<argument>`: `canonical` checks the argument before any work (raising
    a message that names the problem and the fix) and returns the name cells and records carry; `build` makes the
    loader."""

    prefix: str
    canonical: Callable[[str], str]
    build: Callable[[str], DatasetLoader]
    usage: str  # e.g. "folder:PATH", shown with the valid names
    summary: str


@dataclass
class DatasetRegistry(Registry[DatasetLoader]):
    prefixes: dict[str, Prefix] = field(default_factory=dict)

    def add_prefix(self, entry: Prefix) -> None:
        if entry.prefix in self.prefixes:
            raise ValueError(f"dataset prefix {entry.prefix!r} is registered twice")
        self.prefixes[entry.prefix] = entry

    def prefix_of(self, name: str) -> tuple[Prefix, str] | None:
        """(prefix entry, argument) of a prefixed name, else None."""
        head, colon, rest = name.partition(":")
        if colon and head in self.prefixes:
            return self.prefixes[head], rest
        return None

    def canonical(self, name: str) -> str:
        """The name as cells and records carry it (a prefixed name checked and normalised); unknown: an error."""
        prefixed = self.prefix_of(name)
        if prefixed is not None:
            entry, argument = prefixed
            return entry.canonical(argument)
        super().get(name)
        return name

    def get(self, name: str) -> DatasetLoader:
        prefixed = self.prefix_of(name)
        if prefixed is not None:
            entry, argument = prefixed
            return entry.build(argument)
        try:
            return super().get(name)
        except UnknownNameError:
            raise UnknownNameError(f"unknown dataset {name!r}; valid datasets: {', '.join(self.names())}, "
                                   f"or {', '.join(p.usage for p in self.prefixes.values())}") from None

    def __contains__(self, name: str) -> bool:
        return self.prefix_of(name) is not None or super().__contains__(name)

    def parse_list(self, text: str, all_names: list[str] | None = None) -> list[str]:
        """'a,b', 'all', or prefixed names ('synth,folder:PATH'): canonical names, each checked before work.
        (A comma separates names, so a PATH with a comma in it cannot be given here.)"""
        items = [t.strip() for t in text.split(",") if t.strip()]
        if items == ["all"]:
            return list(all_names if all_names is not None else self.names())
        if not items:
            raise UnknownNameError(f"no dataset given; valid datasets: {', '.join(self.names())}")
        for item in items:
            if self.prefix_of(item) is None:
                self.get(item)
        return [self.canonical(item) for item in items]


DATASETS: DatasetRegistry = DatasetRegistry("dataset")
# `--datasets all` means the paper's three real datasets; the embedded set is the default.
PAPER_DATASETS = ["esc50", "us8k", "audiomnist"]
