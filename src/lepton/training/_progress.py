"""Progress a person can watch: a rich bar on a terminal, plain lines otherwise, or silence."""

from __future__ import annotations

import sys
import time
from typing import Any

from lepton.errors import InvalidParameterError


def _fmt(logs: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in logs.items() if k != "lr")


class Progress:
    """Reports epochs and batches. ``verbose``: "auto" (bar on a TTY), 0/False, 1/True, 2 (plain)."""

    def __init__(self, title: str, verbose: Any = "auto") -> None:
        if verbose not in ("auto", 0, 1, 2, True, False):
            raise InvalidParameterError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}.")
        tty = sys.stdout.isatty()
        self.silent = verbose in (0, False)
        self.bar = not self.silent and verbose in ("auto", 1, True) and tty
        self.title = title
        self._progress: Any = None
        self._task: Any = None
        self._started = time.perf_counter()

    def _ensure_bar(self) -> None:
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
            from rich.progress import Progress as RichProgress

            self._progress = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[logs]}"),
                transient=False,
            )
            self._progress.start()

    def start_epoch(self, epoch: int, epochs: int, batches: int) -> None:
        if self.bar:
            self._ensure_bar()
            self._task = self._progress.add_task(
                f"{self.title} epoch {epoch + 1}/{epochs}", total=batches, logs=""
            )
        self._epoch, self._epochs = epoch, epochs

    def advance(self) -> None:
        if self._task is not None:
            self._progress.advance(self._task)

    def end_epoch(self, logs: dict[str, float]) -> None:
        if self.silent:
            return
        if self._task is not None:
            self._progress.update(self._task, logs=_fmt(logs))
            self._task = None
        else:
            print(f"{self.title} epoch {self._epoch + 1}/{self._epochs} {_fmt(logs)}", flush=True)

    def step(
        self,
        done: int,
        total: int,
        logs: dict[str, float],
        every: int = 50,
        unit: str = "iteration",
    ) -> None:
        """Iteration progress of libraries that boost or iterate (LightGBM), or of trials."""
        if self.silent:
            return
        if self.bar:
            self._ensure_bar()
            if self._task is None:
                self._task = self._progress.add_task(self.title, total=total, logs="")
            self._progress.update(self._task, completed=done, logs=_fmt(logs))
        elif done == 1 or done % every == 0 or done == total:
            print(f"{self.title} {unit} {done}/{total} {_fmt(logs)}", flush=True)

    def status(self, message: str) -> None:
        if not self.silent:
            print(f"{self.title}: {message}", flush=True)

    def close(self, logs: dict[str, float] | None = None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if not self.silent and logs:
            took = time.perf_counter() - self._started
            print(f"{self.title} done in {took:.1f}s: {_fmt(logs)}", flush=True)
