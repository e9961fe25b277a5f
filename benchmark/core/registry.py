"""A tiny name -> factory registry shared by methods, models, datasets and presets.

Registries replace if/elif chains: adding an entry is one `add` call, and an unknown
name fails with the list of valid ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the valid choices."""

    def __str__(self) -> str:  # KeyError quotes its message; we want plain text
        return str(self.args[0])


@dataclass
class Entry(Generic[T]):
    name: str
    factory: T
    summary: str


@dataclass
class Registry(Generic[T]):
    kind: str
    _entries: dict[str, Entry[T]] = field(default_factory=dict)

    def add(self, name: str, factory: T, summary: str = "") -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        doc = summary or (getattr(factory, "__doc__", "") or "").strip().splitlines()[:1]
        self._entries[name] = Entry(name, factory, doc if isinstance(doc, str) else (doc[0] if doc else ""))

    def get(self, name: str) -> T:
        try:
            return self._entries[name].factory
        except KeyError:
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}; valid {self.kind}s: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def parse_list(self, text: str, all_names: list[str] | None = None) -> list[str]:
        """Parse 'a,b' (or 'all') into validated names, in the given order."""
        items = [t.strip() for t in text.split(",") if t.strip()]
        if items == ["all"]:
            return list(all_names if all_names is not None else self.names())
        for item in items:
            self.get(item)
        if not items:
            raise UnknownNameError(f"no {self.kind} given; valid {self.kind}s: {', '.join(self.names())}")
        return items
