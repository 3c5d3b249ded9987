"""Rich progress bars: one per task kind and one overall, each with items/s and an ETA.

Bars are drawn on stderr when it is a terminal (``enabled=None``) and never otherwise, so
logs and tests stay clean; :class:`BuildProgress` is a no-op object when disabled.
"""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

__all__ = ["BuildProgress", "RateColumn"]


class RateColumn(ProgressColumn):
    """Completed items per second since the bar started (counts cached items too)."""

    def __init__(self, unit: str = "clips") -> None:
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:  # noqa: ANN001 - rich's Task
        elapsed = task.elapsed or 0.0
        if not elapsed or not task.completed:
            return Text(f"- {task.fields.get('unit', self.unit)}/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:.2f} {task.fields.get('unit', self.unit)}/s", style="progress.data.speed")


class BuildProgress:
    """``add(name, total, unit)``, ``advance(name)``; ``overall`` sums every bar."""

    def __init__(self, enabled: bool | None = None):
        console = Console(stderr=True)
        self.enabled = console.is_terminal if enabled is None else enabled
        self._progress = None
        self._ids: dict[str, int] = {}
        self._totals: dict[str, int] = {}
        self._t0 = time.perf_counter()
        if self.enabled:
            self._progress = Progress(
                TextColumn("{task.description:<18}"),
                BarColumn(),
                MofNCompleteColumn(),
                RateColumn(),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=console,
                transient=False,
                refresh_per_second=4,
            )

    def __enter__(self) -> "BuildProgress":
        if self._progress is not None:
            self._progress.start()
            self._ids["overall"] = self._progress.add_task("overall", total=0, unit="tasks")
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, name: str, total: int, unit: str = "clips") -> None:
        if self._progress is None or total <= 0:
            return
        self._totals[name] = self._totals.get(name, 0) + total
        self._totals["overall"] = self._totals.get("overall", 0) + total
        if name in self._ids:
            self._progress.update(self._ids[name], total=self._totals[name])
        else:
            self._ids[name] = self._progress.add_task(name, total=total, unit=unit)
        self._progress.update(self._ids["overall"], total=self._totals["overall"])

    def advance(self, name: str, n: int = 1) -> None:
        if self._progress is None or name not in self._ids:
            return
        self._progress.advance(self._ids[name], n)
        self._progress.advance(self._ids["overall"], n)

    def log(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(message)
        else:
            print(message, file=sys.stderr)
