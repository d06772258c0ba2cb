"""genesys_sync on a terminal: a tqdm bar (final/total, conversations per state, ETA) and quiet pipeline logs.

The bar is drawn only when its stream is a terminal: logs, pipes, CI and tests get nothing but the summary.
While the command runs, the per-conversation INFO lines of `reviews.pipeline.*` ("transcript stored
conversation=...") and the per-delivery ones of `reviews.compliance.*` (the driver relays the outbox every
round) are held back unless -v 2 or more; warnings still show, written through the bar so they do not tear it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

QUIET_LOGGERS = ("reviews.pipeline", "reviews.compliance")
# A redraw at most this often: a fast backfill would otherwise spend its time drawing.
REDRAW_SECONDS = 0.5


def states_text(states: dict[str, int]) -> str:
    return ", ".join(f"{state} {count}" for state, count in states.items() if count)


class ProgressBar:
    """The driver's progress callback: progress(final, total, {state: count}) after every round."""

    def __init__(self, stream) -> None:
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.enabled = bool(isatty and isatty())
        self.bar: tqdm | None = None
        self._drawn_at = 0.0  # time.monotonic() of our last forced redraw (wall time: it is about the screen)

    def __call__(self, final: int, total: int, states: dict) -> None:
        if not self.enabled or not total:
            return
        if self.bar is None:
            self.bar = tqdm(
                total=total,
                desc="final",
                unit="conv",
                file=self.stream,
                dynamic_ncols=True,
                mininterval=REDRAW_SECONDS,
            )
        self.bar.total = total
        self.bar.set_postfix_str(states_text(states), refresh=False)
        if final > self.bar.n:
            self.bar.update(final - self.bar.n)  # redraws at most every REDRAW_SECONDS
            return
        self.bar.n = final  # unchanged, or a retried conversation left the final states again
        # States move without a new final one (awaiting_transcript -> awaiting_audio): redraw now and then.
        if final < self.bar.last_print_n or time.monotonic() - self._drawn_at >= REDRAW_SECONDS:
            self.bar.refresh()
            self._drawn_at = time.monotonic()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()  # draws the last state and leaves it on the screen above the summary
            self.bar = None


def pipeline_level(verbosity: int) -> int:
    if verbosity >= 3:
        return logging.DEBUG
    if verbosity == 2:
        return logging.INFO
    return logging.WARNING


@contextmanager
def pipeline_logging(*, verbosity: int, bar: ProgressBar) -> Iterator[None]:
    """Set the pipeline's log level for the run (restored afterwards); route log lines through the bar."""
    loggers = [logging.getLogger(name) for name in QUIET_LOGGERS]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(pipeline_level(verbosity))
    try:
        # Console handlers of the root logger write via tqdm.write while the bar is on screen.
        with logging_redirect_tqdm() if bar.enabled else nullcontext():
            yield
    finally:
        for logger, level in zip(loggers, previous, strict=True):
            logger.setLevel(level)
