"""A progress bar on a terminal for runs longer than a moment: claims judged so far and their
rate, on stderr. Drawn by tqdm (small, no dependencies of its own, the usual choice for a
command-line bar; imported only once a run has lasted ``delay`` seconds, so a short run pays
nothing), never when stderr is not a terminal (logs and pipes stay clean)."""

from __future__ import annotations

import time
from typing import Any, TextIO

from adapter.driver import Sink
from adapter.outcomes import PageOutcome


class ProgressBar(Sink):
    def __init__(self, stream: TextIO, delay: float = 2.0) -> None:
        self.stream = stream
        self.delay = delay
        self.started = time.monotonic()
        self.done = 0
        self._bar: Any = None

    @classmethod
    def on(cls, stream: TextIO) -> ProgressBar | None:
        """A bar on ``stream`` when it is a terminal, else None."""
        return cls(stream) if stream.isatty() else None

    def write(self, page: PageOutcome) -> None:
        self.done += len(page.claims)
        if self._bar is not None:
            self._bar.update(len(page.claims))
        elif time.monotonic() - self.started >= self.delay:
            from tqdm import tqdm

            self._bar = tqdm(file=self.stream, unit=" claims", leave=False, dynamic_ncols=True,
                             initial=self.done, desc="checking")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
