"""Speech & Text Analytics for the Emulator: transcript search, transcripturl(s), transcription settings.

Search hits are one per transcribed communication (a consult leg is a second hit of its conversation), in
dataset order. A communication's transcript parts (one per recording segment) are its `transcripturls`
entries in time order; the singular `transcripturl` is the first of them. Conversations in divisions the
role cannot read (`OrgBehaviour.denied_divisions`) answer 403 here and are left out of the search, which
covers only divisions the caller can view (genesys-api.md §5). Behaviours: see behaviour.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from .behaviour import search_failure
from .data import SimConversation, SimPart, SimTranscript, iso_ms
from .documents import part_object_key
from .protocol import ApiError, int_field, invalid_date, not_found, parse_datetime, require_object
from .resources import API_PREFIX

SEARCH_RESULT_WINDOW = 1000
TRANSCRIPT_LANGUAGE = "en-us"  # every plain emulated transcript is en-US (lifelike ones: their locale's)


@dataclass
class SearchCriteria:
    date_from: object = None
    date_to: object = None
    media_types: set[str] | None = None
    conversation_ids: set[str] | None = None
    languages: list[str] | None = None  # lower-cased, in request order


class TranscriptEndpoints:
    """Mixed into Emulator; uses its dataset, clock, behaviour and presigner."""

    def _api_sta_transcripts_search(self, *, query, body) -> tuple[int, dict]:
        failure = search_failure(self.behaviour)
        if failure is not None:
            raise failure
        body = require_object(body)
        if "transcripts" not in (body.get("types") or []):
            raise ApiError(
                400,
                "bad.request",
                "types must contain a supported search type.",
                [{"errorCode": "REQUIRED_SEARCH_FIELD", "fieldName": "types"}],
            )
        page_size = int_field(body, "pageSize", 25, 1, 100)
        page_number = int_field(body, "pageNumber", 1, 1, 1_000_000)
        if (page_number - 1) * page_size >= SEARCH_RESULT_WINDOW:
            raise ApiError(
                400,
                "bad.request",
                f"Pagination is only supported through the first {SEARCH_RESULT_WINDOW} results.",
                [{"errorCode": "INVALID_PAGE", "fieldName": "pageNumber"}],
            )
        criteria = parse_search_criteria(body.get("query") or [])
        if self.behaviour.search_requires_language and not criteria.languages:
            raise ApiError(
                400,
                "bad.request",
                "Required search field is missing: language",
                [{"errorCode": "REQUIRED_SEARCH_FIELD", "fieldName": "language"}],
            )
        hits = [] if self.behaviour.search_failure == "empty" else self._search_hits(criteria)
        if body.get("sortOrder") == "DESC":
            hits.reverse()
        end_index = min(page_number * page_size, SEARCH_RESULT_WINDOW)
        results = [_search_hit(conv, part) for conv, part in hits[(page_number - 1) * page_size : end_index]]
        return 200, {
            "types": ["transcripts"],
            "total": len(hits),
            "pageCount": max(1, -(-min(len(hits), SEARCH_RESULT_WINDOW) // page_size)) if hits else 0,
            "pageSize": page_size,
            "pageNumber": page_number,
            # "malformed": the hits wrapped in an object instead of a list (JsonSearchResponse types it `object`).
            "results": {"transcripts": results} if self.behaviour.search_failure == "malformed" else results,
        }

    def _search_hits(self, criteria: SearchCriteria) -> list[tuple[SimConversation, SimPart]]:
        conversation_ids = None if self.behaviour.search_ignores_conversation_filter else criteria.conversation_ids
        hits = []
        for conv in self.dataset.conversations:
            if self.is_restricted(conv):
                continue
            for part in _first_part_per_communication(conv):
                if not self._part_ready(conv, part):
                    continue
                if (
                    criteria.date_from
                    and conv.start < criteria.date_from
                    or criteria.date_to
                    and conv.start >= criteria.date_to
                ):
                    continue
                if criteria.media_types is not None and part.media_type not in criteria.media_types:
                    continue
                if conversation_ids is not None and conv.conversation_id not in conversation_ids:
                    continue
                if not self._language_matches(criteria.languages, _transcript_of(conv, part).language.lower()):
                    continue
                hits.append((conv, part))
        return hits

    def _language_matches(self, languages: list[str] | None, language: str = TRANSCRIPT_LANGUAGE) -> bool:
        if languages is None:
            return True
        if self.behaviour.search_requires_language:
            return language in languages
        return languages[0] == language  # the plain emulator reads only the first value, as it always did

    def _part_ready(self, conv: SimConversation, part: SimPart) -> bool:
        ready_at = self.ready_at(conv, part)
        return ready_at is not None and ready_at <= self._now()

    def _ready_parts(self, conversation_id: str, communication_id: str) -> tuple[SimConversation, list[SimPart]]:
        conv = self._visible(self.dataset.conversation(conversation_id))
        if conv is None:
            raise not_found()
        self._require_division_rights(conv)
        parts = [p for p in conv.parts if p.communication_id == communication_id]
        if not parts or not self._part_ready(conv, parts[0]):
            raise not_found()
        return conv, parts

    def _transcript_url(self, conv: SimConversation, part: SimPart) -> str:
        return self.presign(part.key, part_object_key(conv, part), transcript=True)

    def _api_sta_transcripturl(self, conversation_id, communication_id, *, query, body) -> tuple[int, dict]:
        conv, parts = self._ready_parts(conversation_id, communication_id)
        return 200, {"url": self._transcript_url(conv, parts[0])}

    def _api_sta_transcripturls(self, conversation_id, communication_id, *, query, body) -> tuple[int, dict]:
        conv, parts = self._ready_parts(conversation_id, communication_id)
        return 200, {
            "conversation": {
                "id": conv.conversation_id,
                "selfUri": f"{API_PREFIX}/conversations/{conv.conversation_id}",
            },
            "communicationId": communication_id,
            "urls": [
                {
                    "recording": {
                        "id": part.recording_id,
                        "selfUri": f"{API_PREFIX}/conversations/{conv.conversation_id}/recordings/{part.recording_id}",
                    },
                    "url": self._transcript_url(conv, part),
                }
                for part in parts
            ],
        }

    def _api_routing_transcription_settings(self, *, query, body) -> tuple[int, dict]:
        # TranscriptionSettings (models/transcription_settings.py). Which permission the GET needs is not in
        # the sources we have, so the emulator asks for none beyond a valid token.
        return 200, {
            "transcription": "EnabledQueueFlow" if self.dataset.untranscribed_queue_id else "EnabledGlobally",
            "transcriptionConfidenceThreshold": 0,
            "lowLatencyTranscriptionEnabled": False,
            "contentSearchEnabled": self.behaviour.search_failure != "empty",
            "pciDssRedactionEnabled": True,
            "piiRedactionEnabled": True,
        }


def _first_part_per_communication(conv: SimConversation) -> list[SimPart]:
    seen: dict[str, SimPart] = {}
    for part in conv.parts:
        seen.setdefault(part.communication_id, part)
    return list(seen.values())


def _search_hit(conv: SimConversation, part: SimPart) -> dict:
    return {
        "conversationId": conv.conversation_id,
        "communicationId": part.communication_id,
        "transcriptId": part.transcript_id,
        "language": _transcript_of(conv, part).language,
        "mediaType": part.media_type,
        "conversationStartTime": iso_ms(conv.start),
    }


def _transcript_of(conv: SimConversation, part: SimPart) -> SimTranscript:
    return conv.transcript if part.leg == "customer" else conv.consult.transcript


def parse_search_criteria(criteria: list) -> SearchCriteria:
    found = SearchCriteria()
    for criterion in criteria:
        if not isinstance(criterion, dict):
            continue
        fields = criterion.get("fields") or []
        values = criterion.get("values") or ([criterion["value"]] if "value" in criterion else [])
        if criterion.get("type") == "DATE_RANGE" and "conversationStartTime" in fields:
            try:
                found.date_from = parse_datetime(criterion["startValue"]) if criterion.get("startValue") else None
                found.date_to = parse_datetime(criterion["endValue"]) if criterion.get("endValue") else None
            except ValueError:
                raise invalid_date("conversationStartTime") from None
        elif criterion.get("type") == "EXACT" and "mediaType" in fields:
            found.media_types = {str(v).lower() for v in values}
        elif criterion.get("type") == "EXACT" and "conversationId" in fields:
            found.conversation_ids = {str(v) for v in values}
        elif criterion.get("type") == "EXACT" and "language" in fields and values:
            found.languages = [str(v).lower() for v in values]
    return found
