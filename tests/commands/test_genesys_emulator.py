from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import CommandParser

from reviews.management.commands.genesys_emulator import Command, build_emulator

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def options(*argv: str) -> dict:
    parser = CommandParser()
    Command().add_arguments(parser)
    return vars(parser.parse_args(list(argv)))


def test_it_serves_the_variant_it_is_asked_for():
    emulator, _ = build_emulator(options("--variant", "search_requires_language", "--conversations", "20"), now=NOW)

    assert emulator.behaviour.search_requires_language


def test_it_plays_the_clean_org_by_default():
    emulator, live_until = build_emulator(options("--conversations", "20"), now=NOW)

    assert not emulator.behaviour.search_requires_language and emulator.behaviour.search_failure is None
    assert live_until is not None


def test_it_explains_a_variant_the_window_cannot_hold():
    noon_to_one = options(
        "--variant", "midnight_calls", "--start", "2026-05-04T12:00:00Z", "--end", "2026-05-04T13:00:00Z"
    )

    with pytest.raises(CommandError, match="--variant midnight_calls: .*midnight"):
        build_emulator(noon_to_one, now=NOW)


def test_it_refuses_an_unknown_variant():
    with pytest.raises(CommandError):
        call_command("genesys_emulator", "--variant", "no-such-org")
