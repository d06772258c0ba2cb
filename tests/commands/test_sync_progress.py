"""The genesys_sync progress bar and log routing, without a backfill."""

from __future__ import annotations

import io
import logging
import sys

from reviews.management.commands._sync_progress import ProgressBar, pipeline_logging


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_it_shows_final_over_total_and_the_nonzero_states():
    terminal = FakeTerminal()
    bar = ProgressBar(terminal)
    bar(3, 10, {"stored": 2, "audio_fallback": 1, "failed": 0, "awaiting_transcript": 7})
    bar(10, 10, {"stored": 9, "audio_fallback": 1, "awaiting_transcript": 0})
    bar.close()

    last = terminal.getvalue().rstrip("\n").split("\r")[-1]
    assert "10/10" in last and "stored 9, audio_fallback 1" in last
    assert "failed" not in last and "awaiting_transcript" not in last


def test_it_follows_a_conversation_that_leaves_the_final_states():
    terminal = FakeTerminal()
    bar = ProgressBar(terminal)
    bar(5, 5, {"stored": 5})
    bar(4, 5, {"stored": 4, "awaiting_transcript": 1})
    bar.close()

    assert "4/5" in terminal.getvalue().split("\r")[-1]


def test_it_never_draws_on_a_stream_that_is_not_a_terminal():
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar(1, 2, {"stored": 1})
    bar.close()

    assert not bar.enabled and stream.getvalue() == ""


def test_it_routes_console_log_lines_through_the_bar_only_while_it_is_drawn():
    console = logging.StreamHandler(sys.stderr)
    root = logging.getLogger()
    root.addHandler(console)
    try:
        with pipeline_logging(verbosity=1, bar=ProgressBar(FakeTerminal())):
            assert console not in root.handlers
            assert any(type(h).__module__ == "tqdm.contrib.logging" for h in root.handlers)
            assert logging.getLogger("reviews.pipeline.ingest").getEffectiveLevel() == logging.WARNING
        assert console in root.handlers
        with pipeline_logging(verbosity=2, bar=ProgressBar(io.StringIO())):
            assert console in root.handlers  # no bar: nothing to route around
            assert logging.getLogger("reviews.pipeline.ingest").getEffectiveLevel() == logging.INFO
    finally:
        root.removeHandler(console)
