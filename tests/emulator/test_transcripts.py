"""Transcript search criteria, hits per communication, and per-part readiness (transcripts.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from genesys.clock import FakeClock
from genesys.emulator import generate_dataset
from genesys.emulator.protocol import ApiError
from genesys.emulator.transcripts import parse_search_criteria
from tests.emulator.support import END, START, api_session, make_emulator, sta_path, variant_dataset, variant_emulator

SEARCH = "/api/v2/speechandtextanalytics/transcripts/search"


def test_it_reads_value_or_values_and_lower_cases_languages_and_media_types():
    criteria = parse_search_criteria(
        [
            {"type": "EXACT", "fields": ["language"], "values": ["EN-US", "de-DE"]},
            {"type": "EXACT", "fields": ["mediaType"], "value": "Callback"},
            {"type": "EXACT", "fields": ["conversationId"], "values": ["a", "b"]},
            {"type": "DATE_RANGE", "fields": ["conversationStartTime"], "startValue": "2026-05-01T00:00:00Z"},
            "not a criterion",
        ]
    )
    assert criteria.languages == ["en-us", "de-de"] and criteria.media_types == {"callback"}
    assert criteria.conversation_ids == {"a", "b"} and criteria.date_from.isoformat() == "2026-05-01T00:00:00+00:00"
    assert criteria.date_to is None
    assert parse_search_criteria([{"type": "EXACT", "fields": ["language"], "values": []}]).languages is None
    with pytest.raises(ApiError) as bad:
        parse_search_criteria([{"type": "DATE_RANGE", "fields": ["conversationStartTime"], "startValue": "May"}])
    assert bad.value.code == "invalid.date"


def test_it_hits_each_communication_once_it_is_ready_and_reverses_for_desc():
    dataset = variant_dataset("consult_transfer")
    conv = next(c for c in dataset.conversations if c.consult and not c.transcript.delayed)
    customer, consult = (next(p for p in conv.parts if p.leg == leg) for leg in ("customer", "consult"))
    emulator = variant_emulator("consult_transfer", clock=FakeClock(conv.end.timestamp()))
    both = sorted([emulator.ready_at(conv, customer), emulator.ready_at(conv, consult)])
    with emulator.serve() as base_url:
        api = api_session(base_url)
        query = [{"type": "EXACT", "fields": ["conversationId"], "value": conv.conversation_id}]

        def hits(**extra) -> list[str]:
            body = {"types": ["transcripts"], "pageSize": 100, "query": query, **extra}
            return [h["communicationId"] for h in api.post(base_url + SEARCH, json=body).json()["results"]]

        assert hits() == []
        emulator.clock.advance(both[0] - emulator.clock.time())
        first = customer if emulator.ready_at(conv, customer) == both[0] else consult
        assert hits() == [first.communication_id]
        other = consult if first is customer else customer
        assert api.get(base_url + sta_path(conv, other.communication_id)).status_code == 404
        emulator.clock.advance(both[1] - emulator.clock.time())
        assert hits() == [customer.communication_id, consult.communication_id]
        assert hits(sortOrder="DESC") == [consult.communication_id, customer.communication_id]
        assert api.get(base_url + sta_path(conv, other.communication_id)).status_code == 200


def test_it_answers_404_for_a_communication_without_a_transcript_even_when_others_have_several():
    dataset = variant_dataset("multi_segment")
    emulator = variant_emulator("multi_segment")
    conv = next(c for c in dataset.conversations if len(c.parts) > 1 and not c.transcript.delayed)
    with emulator.serve() as base_url:
        api = api_session(base_url)
        assert api.get(base_url + sta_path(conv, conv.communication_ids[1], "transcripturls")).status_code == 404
        assert api.get(base_url + sta_path(conv, "not-a-communication")).status_code == 404


def test_it_gives_each_lifelike_hit_its_transcripts_language_and_filters_on_it():
    dataset = generate_dataset(7, 40, START, END, lifelike=True)
    emulator = make_emulator(dataset, FakeClock((END + timedelta(hours=2)).timestamp()))
    with emulator.serve() as base_url:
        api = api_session(base_url)

        def hits(*languages: str) -> dict[str, str]:
            query = [{"type": "EXACT", "fields": ["language"], "values": list(languages)}] if languages else []
            body = {"types": ["transcripts"], "pageSize": 100, "query": query}
            return {
                h["conversationId"]: h["language"] for h in api.post(base_url + SEARCH, json=body).json()["results"]
            }

        every = hits()
        assert every and set(every.values()) == {"en-US", "en-GB"}
        assert all(language == dataset.conversation(cid).transcript.language for cid, language in every.items())
        assert hits("en-gb") == {cid: language for cid, language in every.items() if language == "en-GB"}
