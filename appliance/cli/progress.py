"""Terminal progress for scans (rich), quiet when stderr is not a terminal."""

from __future__ import annotations

import sys
from typing import Any

from appliance.pathfmt import display_path
from appliance.scan.records import ScanEvent


class ScanProgress:
    """Files, bytes, rate, current path and hits so far, drawn by rich on a TTY; nothing otherwise."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ScanProgress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                SpinnerColumn(), TextColumn("[bold]{task.fields[files]}[/] files"),
                TextColumn("{task.fields[mb]:.1f} MB"), TextColumn("{task.fields[rate]:.1f} MB/s"),
                TextColumn("[red]{task.fields[hits]} hits[/]"), BarColumn(bar_width=None), TimeElapsedColumn(),
                TextColumn("{task.fields[current]}", markup=False),
                console=Console(stderr=True), transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task("scan", total=None, files=0, mb=0.0, rate=0.0, hits=0,
                                                 current="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def update(self, event: ScanEvent) -> None:
        if self._progress is None:
            return
        c = event.counts
        mb = c.bytes / 1e6
        current = display_path(event.current)[-60:] if event.current else ""
        self._progress.update(self._task, files=c.files, mb=mb, hits=c.hits, current=current,
                              rate=mb / event.seconds if event.seconds > 0 else 0.0)

    def print_line(self, text: str) -> None:
        """Print above the live display (hits as they are found)."""
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
