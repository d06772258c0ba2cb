from __future__ import annotations

import gc
import gzip
import io
import json
import time

import psutil
import pytest

from genesys.errors import TranscriptFormatError
from genesys.transcript import IJSON, parse_transcript

DOCUMENT = {
    "organizationId": "org-1",
    "conversationId": "conv-1",
    "communicationId": "comm-1",
    "mediaType": "call",
    "conversationStartTime": 1749243600000,
    "transcripts": [
        {
            "phrases": [
                {
                    "phraseIndex": 0,
                    "participantPurpose": "internal",
                    "text": "thanks for calling",
                    "decoratedText": "Thanks for calling.",
                    "stability": 1.0,
                    "confidence": 0.93,
                    "startTimeMs": 1749243601320,
                    "duration": {"milliseconds": 1900},
                    "words": [
                        {
                            "word": "thanks",
                            "confidence": 0.97,
                            "startTimeMs": 1749243601320,
                            "duration": {"milliseconds": 300},
                        },
                        {"word": "for", "confidence": 0.9, "startTimeMs": 1749243601620, "durationMs": 200},
                        {
                            "word": "calling",
                            "confidence": 0.91,
                            "startTimeMs": 1749243601820,
                            "duration": {"milliseconds": 400},
                        },
                    ],
                },
                {
                    "phraseIndex": 1,
                    "participantPurpose": "external",
                    "text": "my card is [card number]",
                    "confidence": 0.88,
                    "offset": {"milliseconds": 4100},
                    "words": [
                        {"word": "my", "confidence": 0.9, "startTimeMs": 1749243604100, "durationMs": 100},
                        {"word": "card", "confidence": 0.9, "startTimeMs": 1749243604200, "durationMs": 200},
                        {"word": "is", "confidence": 0.9, "startTimeMs": 1749243604400, "durationMs": 100},
                        {"word": "[card number]", "confidence": 1.0, "startTimeMs": 1749243604500, "durationMs": 900},
                    ],
                },
                {
                    "phraseIndex": 2,
                    "participantPurpose": "external",
                    "text": "[card expiry date] [card expiry date]",
                    "startTimeMs": 1749243606000,
                    "durationMs": 700,
                    "words": [{"word": "[card expiry date]"}, {"word": "[card expiry date]"}],
                },
            ],
            "analytics": {
                "sentiment": [{"participant": "external", "phraseIndex": 1, "sentiment": -1}],
                "topics": [
                    {
                        "participant": "internal",
                        "topicName": "Greeting",
                        "startTimeMs": 1749243601320,
                        "confidence": 0.9,
                    }
                ],
                "acoustic": [],
            },
            # transcriptId deliberately after phrases and analytics: key order is not guaranteed
            "transcriptId": "t-1",
            "language": "en-US",
            "engineId": "eng",
            "programId": "prog",
        }
    ],
    "participants": [
        {"participantPurpose": "customer", "ani": "tel:+61400000000", "startTimeMs": 1749243600000},
        {"participantPurpose": "agent", "userId": "u-1", "queueId": "q-1"},
    ],
}


def write(tmp_path, content, name="t.json"):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(json.dumps(content), encoding="utf-8")
    return path


def test_it_prefers_the_c_backend():
    assert IJSON.backend_name in ("yajl2_c", "python", "yajl2_cffi", "yajl2")
    assert IJSON.backend_name == "yajl2_c"  # installed in this venv; the fallback keeps other hosts working


def test_it_reads_metadata_in_one_pass(tmp_path):
    doc = parse_transcript(write(tmp_path, DOCUMENT))
    assert (doc.conversation_id, doc.communication_id, doc.media_type) == ("conv-1", "comm-1", "call")
    assert doc.conversation_start_ms == 1749243600000
    assert [(t.transcript_id, t.language, t.engine_id, t.program_id) for t in doc.transcripts] == [
        ("t-1", "en-US", "eng", "prog")
    ]
    assert [p["participantPurpose"] for p in doc.participants] == ["customer", "agent"]
    assert doc.sentiment == {("t-1", 1): -1.0}
    assert [(t.transcript_id, t.name, t.start_time_ms, t.phrase_index) for t in doc.topics] == [
        ("t-1", "Greeting", 1749243601320, None)
    ]


def test_it_streams_phrases_with_words_and_durations(tmp_path):
    phrases = list(parse_transcript(write(tmp_path, DOCUMENT)).phrases())
    first, second, third = phrases
    assert first.transcript_id == "t-1" and first.phrase_index == 0 and first.participant_purpose == "internal"
    assert first.decorated_text == "Thanks for calling." and first.duration_ms == 1900
    assert isinstance(first.confidence, float) and first.stability == 1.0
    assert [(w.word, w.duration_ms) for w in first.words] == [("thanks", 300), ("for", 200), ("calling", 400)]
    # No startTimeMs: conversation start + offset; no duration: the words' span.
    assert second.start_time_ms == 1749243604100 and second.duration_ms == 1300
    assert second.decorated_text == second.text
    assert second.words[-1].word == "[card number]"  # mask tokens stay verbatim
    assert third.duration_ms == 700 and [w.word for w in third.words] == ["[card expiry date]"] * 2
    assert third.words[0].confidence is None and third.words[0].start_time_ms is None


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b'{"transcripts": [{"phrases": [{"text": "secret words here"', "JSON"),
        (b'{"conversationId": "c", "transcripts": [{"phrases": [{"text": "caf\xe9 secret"}]}]}', "UTF-8"),
        (b"[1, 2, 3]", "not a JSON object"),
        (b'{"conversationId": "c"}', "no transcripts"),
        (b'{"transcripts": [{"transcriptId": "t"}]}', "no phrases"),
        (b"", "JSON"),
    ],
)
def test_it_raises_format_errors_without_transcript_text(tmp_path, content, reason):
    path = write(tmp_path, content)
    with pytest.raises(TranscriptFormatError) as caught:
        doc = parse_transcript(path)
        list(doc.phrases())
    assert reason in str(caught.value)
    assert "secret" not in str(caught.value) and "caf" not in str(caught.value)


def _write_large_transcript(path, *, target_bytes: int, compress: bool = False) -> int:
    """Stream a Genesys-shaped document to disk without building it in memory; returns the phrase count."""
    words = [
        f'{{"word": "word{n}", "confidence": 0.9, "startTimeMs": {1749243600000 + n * 300}, "durationMs": 250}}'
        for n in range(12)
    ]
    word_block = ", ".join(words)
    written = 0
    count = 0
    with (
        gzip.open(path, "wt", compresslevel=1, encoding="utf-8") if compress else open(path, "w", encoding="utf-8")
    ) as out:
        out.write('{"conversationId": "big", "communicationId": "m", "mediaType": "call", "conversationStartTime": 1, ')
        out.write('"transcripts": [{"transcriptId": "t-big", "language": "en-US", "phrases": [')
        while written < target_bytes:
            phrase = (
                f'{{"phraseIndex": {count}, "participantPurpose": "{"internal" if count % 2 else "external"}", '
                f'"text": "some words in phrase {count}", "decoratedText": "Some words in phrase {count}.", '
                f'"confidence": 0.91, "stability": 1.0, "startTimeMs": {1749243600000 + count * 4000}, '
                f'"duration": {{"milliseconds": 3500}}, "words": [{word_block}]}}'
            )
            if count:
                out.write(", ")
            out.write(phrase)
            written += len(phrase) + 2
            count += 1
        out.write('], "analytics": {"sentiment": [], "topics": []}}], "participants": []}')
    return count


@pytest.mark.slow  # 5-12 s on this host: two full ijson passes over 50 MB
def test_it_parses_a_50_mb_transcript_with_flat_memory(tmp_path):
    path = tmp_path / "large.json"
    expected = _write_large_transcript(path, target_bytes=50 * 1024 * 1024)
    assert path.stat().st_size >= 50 * 1024 * 1024
    process = psutil.Process()
    gc.collect()
    baseline = process.memory_info().rss
    peak = baseline
    started = time.perf_counter()
    doc = parse_transcript(path)
    seen = 0
    for _phrase in doc.phrases():
        seen += 1
        if seen % 2000 == 0:
            peak = max(peak, process.memory_info().rss)
    peak = max(peak, process.memory_info().rss)
    elapsed = time.perf_counter() - started
    growth_mb = (peak - baseline) / (1024 * 1024)
    print(f"50 MB transcript: {seen} phrases, RSS growth {growth_mb:.2f} MB, {elapsed:.2f} s")
    assert seen == expected == doc.phrase_count
    assert growth_mb < 10


def test_it_tags_phrases_with_their_own_transcript(tmp_path):
    document = {
        "conversationId": "c",
        "transcripts": [
            {"phrases": [{"text": "a"}, {"text": "b"}], "transcriptId": "first"},
            {"transcriptId": "second", "phrases": [{"phraseIndex": 7, "text": "c"}]},
        ],
    }
    phrases = list(parse_transcript(write(tmp_path, document)).phrases())
    assert [(p.transcript_id, p.phrase_index, p.text) for p in phrases] == [
        ("first", 0, "a"),
        ("first", 1, "b"),
        ("second", 7, "c"),
    ]


def test_it_reads_a_gzip_document_the_server_declared(tmp_path):
    path = write(tmp_path, gzip.compress(json.dumps(DOCUMENT).encode()), name="t.gz")
    doc = parse_transcript(path, content_encoding="gzip")
    assert doc.conversation_id == "conv-1" and doc.sentiment == {("t-1", 1): -1.0}
    assert [p.text for p in doc.phrases()][0] == "thanks for calling"  # the second pass decompresses too


def test_it_recognises_gzip_by_its_magic_bytes(tmp_path):
    path = write(tmp_path, gzip.compress(json.dumps(DOCUMENT).encode()))
    doc = parse_transcript(path)  # no content_encoding given (e.g. a file stored before it was recorded)
    assert doc.phrase_count == 3 and len(list(doc.phrases())) == 3


@pytest.mark.parametrize("compress", [False, True], ids=["json", "gzip"])
def test_it_parses_from_an_open_binary_file_and_leaves_it_open(compress):
    # The vault parses its decrypting blob reader: no plaintext copy of the document is ever written.
    content = json.dumps(DOCUMENT).encode()
    stream = io.BytesIO(gzip.compress(content) if compress else content)
    stream.seek(5)  # wherever the caller left it: each pass starts from the beginning

    doc = parse_transcript(stream)

    assert doc.conversation_id == "conv-1" and doc.phrase_count == 3
    assert [p.phrase_index for p in doc.phrases()] == [0, 1, 2]
    assert not stream.closed


def test_it_reads_plain_json_whatever_else_the_encoding_claims(tmp_path):
    # S3 objects carry whatever Content-Encoding the uploader set (e.g. "utf-8"); only gzip means gzip.
    doc = parse_transcript(write(tmp_path, DOCUMENT), content_encoding="utf-8")
    assert doc.conversation_id == "conv-1" and len(list(doc.phrases())) == 3


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (b"\x1f\x8b" + b"not really gzip at all", None),  # bad header
        (gzip.compress(b'{"transcripts": [{"phrases": [{"text": "secret"}]}]}')[:-12], None),  # truncated
        (b'{"conversationId": "plain json"}', "gzip"),  # declared gzip, is not
    ],
    ids=["bad-header", "truncated", "declared"],
)
def test_it_raises_a_format_error_for_corrupt_gzip(tmp_path, content, encoding):
    path = write(tmp_path, content)
    with pytest.raises(TranscriptFormatError) as caught:
        list(parse_transcript(path, content_encoding=encoding).phrases())
    assert str(caught.value) == "transcript is not valid gzip"


def test_it_reports_corruption_in_the_second_pass_as_invalid_gzip(tmp_path):
    path = write(tmp_path, gzip.compress(json.dumps(DOCUMENT).encode()))
    doc = parse_transcript(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # the file is damaged between the passes
    path.write_bytes(bytes(data))
    with pytest.raises(TranscriptFormatError):
        list(doc.phrases())


@pytest.mark.slow  # a few seconds: two ijson passes through gzip over 30 MB of JSON
def test_it_parses_a_gzip_transcript_with_flat_memory(tmp_path):
    path = tmp_path / "large.json.gz"
    expected = _write_large_transcript(path, target_bytes=30 * 1024 * 1024, compress=True)
    process = psutil.Process()
    gc.collect()
    baseline = process.memory_info().rss
    peak = baseline
    doc = parse_transcript(path, content_encoding="gzip")
    peak = max(peak, process.memory_info().rss)
    seen = 0
    for _phrase in doc.phrases():
        seen += 1
        if seen % 2000 == 0:
            peak = max(peak, process.memory_info().rss)
    growth_mb = (max(peak, process.memory_info().rss) - baseline) / (1024 * 1024)
    print(
        f"30 MB gzip transcript ({path.stat().st_size / 1e6:.1f} MB on disk): {seen} phrases, RSS +{growth_mb:.2f} MB"
    )
    assert seen == expected == doc.phrase_count
    assert growth_mb < 10
