"""Synthetic archive data for the search, write-path and dashboard benchmarks (runs inside a Django child).

Vocabulary: ~60 real contact-centre words at the head plus a few thousand generated words, drawn with a
Zipf(s=1.07) distribution, plus rare tokens: each RARE_WORDS entry appears in exactly RARE_HITS rows, and a
few fixed phrases ("late payment fee", ...) are planted in PHRASE_SHARE of rows.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from datetime import UTC, datetime, timedelta

HEAD_WORDS = [
    "the",
    "i",
    "you",
    "to",
    "and",
    "a",
    "yes",
    "my",
    "is",
    "it",
    "that",
    "account",
    "can",
    "for",
    "of",
    "okay",
    "your",
    "on",
    "this",
    "card",
    "thank",
    "have",
    "we",
    "be",
    "so",
    "with",
    "me",
    "what",
    "payment",
    "just",
    "no",
    "please",
    "balance",
    "number",
    "need",
    "refund",
    "know",
    "will",
    "call",
    "bank",
    "help",
    "get",
    "would",
    "like",
    "transfer",
    "check",
    "about",
    "money",
    "fee",
    "statement",
    "mortgage",
    "loan",
    "credit",
    "debit",
    "date",
    "address",
    "update",
    "help",
    "close",
    "open",
    "branch",
    "online",
    "password",
    "security",
    "manager",
    "complaint",
    "delivery",
    "order",
    "interest",
    "rate",
]
SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "te",
    "vo",
    "zi",
    "ba",
    "de",
    "fi",
    "go",
    "hu",
    "ja",
    "ke",
    "li",
    "mo",
    "nu",
    "pa",
    "qui",
    "ri",
    "so",
    "tu",
    "va",
    "we",
    "xi",
    "yo",
    "za",
]
RARE_WORDS = ("quokkazebra", "xylophonic", "marzipanic", "obsidianite", "zanzibarry")
RARE_HITS = 5
PHRASES = ("late payment fee", "direct debit mandate", "lost card replacement")
PHRASE_SHARE = 0.005
QUEUES = 8
AGENTS = 40
DAYS = 90
BASE_DATE = datetime(2026, 8, 1, tzinfo=UTC)


def vocabulary(size: int = 4000) -> list[str]:
    words = list(dict.fromkeys(HEAD_WORDS))
    seen = set(words)
    for combo in itertools.product(SYLLABLES, repeat=3):
        word = "".join(combo)
        if word not in seen:
            seen.add(word)
            words.append(word)
        if len(words) >= size:
            break
    return words


def zipf_cum_weights(n: int, s: float = 1.07) -> list[float]:
    return list(itertools.accumulate(1.0 / (rank**s) for rank in range(1, n + 1)))


class TextGenerator:
    def __init__(self, seed: int = 7, vocab_size: int = 4000) -> None:
        self.rng = random.Random(seed)
        self.words = vocabulary(vocab_size)
        self.cum = zipf_cum_weights(len(self.words))

    def texts(self, count: int, *, rare_rows: dict[int, str] | None = None, offset: int = 0) -> list[str]:
        rng = self.rng
        lengths = [rng.randint(4, 24) for _ in range(count)]
        flat = rng.choices(self.words, cum_weights=self.cum, k=sum(lengths))
        out: list[str] = []
        pos = 0
        for i, length in enumerate(lengths):
            words = flat[pos : pos + length]
            pos += length
            if rng.random() < PHRASE_SHARE:
                words[rng.randrange(len(words)) :] = PHRASES[i % len(PHRASES)].split()
            if rare_rows and (offset + i) in rare_rows:
                words.insert(rng.randrange(len(words) + 1), rare_rows[offset + i])
            out.append(" ".join(words))
        return out


def rare_row_plan(total_rows: int, seed: int = 7) -> dict[int, str]:
    rng = random.Random(f"rare:{seed}")
    plan: dict[int, str] = {}
    for word in RARE_WORDS:
        for _ in range(RARE_HITS):
            plan[rng.randrange(total_rows)] = word
    return plan


def populate_conversations(n_conversations: int, *, seed: int = 7, prefix: str = "bench"):
    """Queues, agents, conversations and one transcript each (ORM bulk_create). Returns transcripts in order."""
    from reviews.models import Agent, Conversation, Division, Queue, Transcript

    rng = random.Random(f"conv:{seed}:{prefix}")
    division, _ = Division.objects.get_or_create(genesys_id=f"{prefix}-div", defaults={"name": "Bench"})
    queues = [
        Queue.objects.get_or_create(genesys_id=f"{prefix}-q{i}", defaults={"name": f"Queue {i}", "division": division})[
            0
        ]
        for i in range(QUEUES)
    ]
    agents = [
        Agent.objects.get_or_create(genesys_id=f"{prefix}-a{i}", defaults={"name": f"Agent {i}"})[0]
        for i in range(AGENTS)
    ]
    convs = []
    for i in range(n_conversations):
        started = BASE_DATE + timedelta(seconds=rng.randrange(DAYS * 86400))
        convs.append(
            Conversation(
                genesys_id=f"{prefix}-{seed}-{i:08d}",
                state=Conversation.State.STORED,
                started_at=started,
                ended_at=started + timedelta(minutes=rng.randint(1, 12)),
                direction="inbound",
                queue=queues[i % QUEUES],
                agent=agents[i % AGENTS],
                division=division,
                communication_ids=[f"comm-{i}"],
            )
        )
    Conversation.objects.bulk_create(convs, batch_size=2000)
    convs = list(Conversation.objects.filter(genesys_id__startswith=f"{prefix}-{seed}-").order_by("genesys_id"))
    transcripts = [
        Transcript(
            conversation=conv,
            communication_id=f"comm-{i}",
            sha256=hashlib.sha256(conv.genesys_id.encode()).hexdigest(),
            size_bytes=1000,
            raw_path="bench/none.json",
            redaction_status=Transcript.RedactionStatus.VERIFIED,
        )
        for i, conv in enumerate(convs)
    ]
    Transcript.objects.bulk_create(transcripts, batch_size=2000)
    by_conv = {t.conversation_id: t for t in Transcript.objects.filter(conversation__in=convs)}
    return [(conv, by_conv[conv.id]) for conv in convs], queues


UTTERANCE_COLUMNS = (
    "transcript_id",
    "conversation_id",
    "index",
    "phrase_index",
    "speaker",
    "participant_purpose",
    "start_ms",
    "end_ms",
    "text",
    "confidence",
    "words",
    "sentiment",
    "topics",
    "sealed_original",
)


def utterance_rows(pairs, per_conversation: int, generator: TextGenerator, *, rare: dict[int, str], chunk: int):
    """Yield lists of row tuples (UTTERANCE_COLUMNS order), `chunk` rows at a time."""
    row_no = 0
    batch: list[tuple] = []
    for conv, transcript in pairs:
        texts = generator.texts(per_conversation, rare_rows=rare, offset=row_no)
        for i, text in enumerate(texts):
            speaker = "internal" if i % 2 else "external"
            start = i * 4000
            batch.append(
                (
                    transcript.id,
                    conv.id,
                    i,
                    i,
                    speaker,
                    "agent" if i % 2 else "customer",
                    start,
                    start + 3500,
                    text,
                    0.9,
                    "[]",
                    None,
                    "[]",
                    "",
                )
            )
            row_no += 1
            if len(batch) >= chunk:
                yield batch
                batch = []
    if batch:
        yield batch


def bulk_load_utterances(batches, *, pg_drop_gin: bool = True) -> dict:
    """Insert row batches as fast as the engine allows, keeping the product's index definitions.

    SQLite: executemany in one transaction per batch; the migration's FTS5 triggers index each row.
    PostgreSQL: COPY; GIN indexes on reviews_utterance are dropped first and rebuilt after (standard bulk
    load practice, docs §70.5), the stored generated tsvector is computed by the server during COPY.
    """
    import time

    from django.db import connection, transaction

    cols = ", ".join(f'"{c}"' for c in UTTERANCE_COLUMNS)
    timings = {"rows": 0, "insert_s": 0.0, "index_s": 0.0}
    if connection.vendor == "postgresql":
        dropped = []
        if pg_drop_gin:
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT indexname, indexdef FROM pg_indexes WHERE tablename='reviews_utterance' AND indexdef ILIKE '%gin%'"
                )
                dropped = cur.fetchall()
                for name, _ in dropped:
                    cur.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        raw = connection.connection if connection.connection else None
        if raw is None:
            connection.ensure_connection()
            raw = connection.connection
        with raw.cursor() as cur:
            for batch in batches:
                with cur.copy(f"COPY reviews_utterance ({cols}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
                timings["rows"] += len(batch)
        raw.commit()
        timings["insert_s"] = time.perf_counter() - started
        started = time.perf_counter()
        with connection.cursor() as cur:
            for _, definition in dropped:
                cur.execute("SET maintenance_work_mem = '256MB'")
                cur.execute(definition)
            cur.execute("ANALYZE reviews_utterance")
            cur.execute("ANALYZE reviews_conversation")
        timings["index_s"] = time.perf_counter() - started
        timings["gin_rebuilt"] = [name for name, _ in dropped]
    else:
        placeholders = ", ".join(["%s"] * len(UTTERANCE_COLUMNS))
        sql = f"INSERT INTO reviews_utterance ({cols}) VALUES ({placeholders})"
        started = time.perf_counter()
        for batch in batches:
            with transaction.atomic(), connection.cursor() as cur:
                cur.executemany(sql, batch)
            timings["rows"] += len(batch)
        timings["insert_s"] = time.perf_counter() - started
        started = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("ANALYZE")
        timings["index_s"] = time.perf_counter() - started
    return timings
