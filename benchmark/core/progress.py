"""Progress bars with ETA (rich) for long phases; silent when output is not a terminal
unless DFKD_PROGRESS=1, so logs and CI output stay readable."""
from __future__ import annotations

import os
import sys

from rich.progress import (BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


def progress_enabled() -> bool:
    flag = os.environ.get("DFKD_PROGRESS")
    return flag == "1" if flag is not None else sys.stderr.isatty()


class Progress:
    def __init__(self, description: str, total: int):
        self.description, self.total = description, total
        self._bar: RichProgress | None = None
        self._task = None

    def __enter__(self) -> "Progress":
        if progress_enabled():
            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                     TextColumn("{task.fields[status]}"), transient=True)
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, status="")
        return self

    def advance(self, status: str = "", steps: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(self._task, advance=steps, status=status)

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.__exit__(*exc)
