from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from genesys.errors import ServerError
from reviews.models import Conversation, GenesysFinding, Queue
from reviews.pipeline import org

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def test_it_puts_a_failing_search_in_a_cooldown_that_doubles_and_ends_on_success(settings):
    settings.SEARCH_COOLDOWN_SECONDS = 60
    settings.SEARCH_COOLDOWN_MAX_SECONDS = 200

    first = org.record_search_failure(now=NOW, error=ServerError("sta.transcripts.search: HTTP 503"))
    second = org.record_search_failure(now=NOW, error=ServerError("sta.transcripts.search: HTTP 503"))
    third = org.record_search_failure(now=NOW, error=ServerError("sta.transcripts.search: HTTP 503"))

    assert [h.cooldown_until - NOW for h in (first, second, third)] == [
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(seconds=200),
    ]
    assert not third.usable(now=NOW + timedelta(seconds=199)) and third.usable(now=NOW + timedelta(seconds=200))
    healthy = org.record_search_success(now=NOW, listed_any=True)
    assert healthy.healthy and healthy.usable(now=NOW) and healthy.trusted(now=NOW)
    assert org.search_health() == healthy


def test_it_trusts_the_search_only_while_it_lists_something():
    org.record_search_success(now=NOW, listed_any=True)

    assert org.search_health().trusted(now=NOW + timedelta(hours=23))
    org.record_search_success(now=NOW + timedelta(hours=25), listed_any=False)
    assert not org.search_health().trusted(now=NOW + timedelta(hours=25))


def test_it_remembers_that_the_search_needs_a_language_and_sends_the_stored_ones(settings):
    settings.GENESYS_TRANSCRIPT_LANGUAGES = []
    org.forget_stored_languages()
    client = SimpleNamespace(search_languages=[], search_requires_language=False)
    org.prepare_search(client)
    assert client.search_requires_language is False

    client.search_requires_language = True  # the client saw REQUIRED_SEARCH_FIELD and retried with it
    org.learn_from_search(client, now=NOW)

    fresh = SimpleNamespace(search_languages=[], search_requires_language=False)
    org.prepare_search(fresh)
    assert fresh.search_requires_language is True
    assert GenesysFinding.objects.get(key=org.SEARCH_REQUIRES_LANGUAGE).value == {"required": True}


def test_it_always_sends_the_configured_languages(settings):
    settings.GENESYS_TRANSCRIPT_LANGUAGES = ["en-us", "es-us"]
    org.forget_stored_languages()
    client = SimpleNamespace(search_languages=[], search_requires_language=False)

    org.prepare_search(client)

    assert client.search_requires_language is True
    assert client.search_languages[:2] == ["en-us", "es-us"]


@pytest.mark.parametrize(
    ("mode", "queue_transcribes", "reason"),
    [
        ("Disabled", True, "transcription is disabled in the org"),
        ("EnabledQueueFlow", False, "queue Lost & Stolen has transcription disabled"),
        ("EnabledQueueFlow", True, None),
        ("EnabledQueueFlow", None, None),  # the queue never said: wait for a transcript
        ("EnabledGlobally", False, None),  # the org transcribes every queue
        (None, False, None),  # settings unreadable: assume one may come
    ],
)
def test_it_sends_a_call_to_audio_at_once_only_when_no_transcript_can_come(mode, queue_transcribes, reason):
    queue = Queue.objects.create(genesys_id="q-1", name="Lost & Stolen", transcription_enabled=queue_transcribes)
    conversation = Conversation(genesys_id="c-1", started_at=NOW, queue=queue)

    assert org.no_transcript_reason(conversation, mode=mode) == reason


def test_it_reads_the_transcription_settings_once_a_day():
    calls = []

    def settings_call():
        calls.append(1)
        return {"transcription": "EnabledGlobally", "contentSearchEnabled": False, "extra": "ignored"}

    client = SimpleNamespace(get_transcription_settings=settings_call)

    first = org.transcription_settings(client, now=NOW)
    again = org.transcription_settings(client, now=NOW + timedelta(hours=23))
    org.transcription_settings(client, now=NOW + timedelta(hours=25))

    assert (
        first
        == again
        == {
            "transcription": "EnabledGlobally",
            "contentSearchEnabled": False,
            "pciDssRedactionEnabled": None,
            "piiRedactionEnabled": None,
        }
    )
    assert org.content_search_off(first)
    assert len(calls) == 2
