"""How the engines index mask tokens (reviews/search/mask_index.py), held to masks.py's one rule and migration 0013."""

from __future__ import annotations

import importlib
import re

import pytest

from reviews.redaction.masks import (
    GENERIC_MASK_TOKENS,
    GENESYS_MASK_TOKENS,
    MASK_PATTERN,
    VAULT_MASK_LABELS,
    find_masks,
)
from reviews.search import mask_index
from reviews.search.sqlite import TRIGGERS_SQL

MIGRATION = importlib.import_module("reviews.migrations.0013_search_work_list")
TEXTS = [
    "my card number is [card number] and [Card Number] and [CARD NUMBER]",
    "the vault masked [card number*] and [national id*] and [bank account*]",
    "spacing [ card  number ] and [phone ] and [ email * ]",
    "generic <REDACTED> and [REDACTED_PII] and < redacted >",
    "expiry [card expiry date], code [postal code], who [name], where [location]",
    "no mask here: [inaudible] (card) <b>number</b>",
]


def _postgres_rewrite(text: str) -> str:
    """What regexp_replace(..., 'gi') does with postgres_patterns, in Python's re (the same syntax here)."""
    for pattern, replacement in mask_index.postgres_patterns():
        text = re.sub(pattern, re.sub(r"\\(\d)", r"\\g<\1>", replacement), text, flags=re.IGNORECASE)
    return text


def test_it_rewrites_every_form_of_every_mask_token_masks_py_knows():
    forms = dict(mask_index.sqlite_forms())
    for written, indexed in forms.items():
        assert MASK_PATTERN.fullmatch(written), written  # only real mask tokens are rewritten
        assert mask_index.strip_prefix(indexed) == written
        assert all(word.startswith(mask_index.MASK_WORD_PREFIX) for word in re.findall(r"[^\W_]+", indexed))
    lower = {written for written in forms if written == written.lower()}
    expected = {f"[{label}]" for label in GENESYS_MASK_TOKENS}
    expected |= {f"[{label}*]" for label in VAULT_MASK_LABELS.values()}
    expected |= {"<redacted>", "[redacted_pii]"}
    assert lower == expected and len(GENERIC_MASK_TOKENS) == 2


@pytest.mark.parametrize("text", TEXTS)
def test_it_rewrites_on_postgresql_exactly_the_spans_masks_py_finds(text):
    rewritten = _postgres_rewrite(text)
    assert mask_index.strip_prefix(rewritten) == text  # the rest of the text is left as written
    spans = list(find_masks(text))
    assert rewritten.count(mask_index.MASK_WORD_PREFIX) == sum(
        len(re.findall(r"[^\W_]+", text[start:end])) for start, end, _ in spans
    )
    for start, end, _ in spans:
        span = text[start:end]
        assert re.sub(r"[^\W_]+", lambda word: mask_index.MASK_WORD_PREFIX + word.group(), span) in rewritten


def test_it_keeps_the_postgres_patterns_within_regexp_replace_limits():
    for pattern, replacement in mask_index.postgres_patterns():
        groups = re.compile(pattern).groups
        assert groups <= 9  # PostgreSQL back-references go up to \9
        assert "(?" not in pattern  # no Python-only group syntax
        assert sorted(set(re.findall(r"\\(\d)", replacement))) == [str(n) for n in range(1, groups + 1)]


def test_it_chunks_sqlite_forms_for_its_parser():
    chunks = mask_index.sqlite_form_chunks()
    assert all(len(chunk) <= 17 for chunk in chunks)
    assert [form for chunk in chunks for form in chunk] == sorted(
        mask_index.sqlite_forms(), key=lambda form: form[0] != form[0].lower()
    )
    # Capitalised forms run only where a bracket is followed by a capital.
    for chunk in chunks[1:]:
        for written, _ in chunk:
            assert re.search(r"[\[<][A-Z]", written)


def test_it_matches_migration_0013_which_must_change_with_masks_py():
    """The migration inlines the token list; a new token in masks.py turns this red: write a migration."""
    assert [list(chunk) for chunk in MIGRATION.FORM_CHUNKS] == mask_index.sqlite_form_chunks()
    assert MIGRATION.TRIGGERS == TRIGGERS_SQL
    assert MIGRATION.CAPITALS_GLOB == mask_index.SQLITE_CAPITALS_GLOB


def test_it_indexes_mask_terms_by_their_prefixed_words():
    assert mask_index.prefixed(("card", "number")) == ("qqmaskcard", "qqmasknumber")
    assert mask_index.strip_prefix("[\x01qqmaskcard qqmasknumber\x02]") == "[\x01card number\x02]"


@pytest.mark.django_db
def test_it_rewrites_the_rows_an_existing_index_holds_and_goes_back(make_conversation):
    """Migration 0013 on a vault indexed the 0003 way: existing rows are rewritten; the reverse restores 0003."""
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("the SQLite index only; PostgreSQL's schema does not change")

    def matches(query: str) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM reviews_utterance_fts WHERE reviews_utterance_fts MATCH %s", [query])
            return cursor.fetchone()[0]

    def run(statements) -> None:
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    run(MIGRATION.SQLITE_REVERSE)
    make_conversation("my card number is [card number]", "and [CARD NUMBER] again", "ok [Phone*]")
    assert matches("card") == 2 and matches("qqmaskcard") == 0  # before: mask words are words
    run(MIGRATION.SQLITE_FORWARD)
    assert (matches("card"), matches("qqmaskcard"), matches("qqmaskphone"), matches("phone")) == (1, 2, 1, 0)
    make_conversation("new [postal code] row")
    assert (matches("postal"), matches('"qqmaskpostal qqmaskcode"')) == (0, 1)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO reviews_utterance_fts(reviews_utterance_fts) VALUES ('integrity-check')")
    run(MIGRATION.SQLITE_REVERSE)
    assert matches("card") == 2 and matches("postal") == 1 and matches("qqmaskcard") == 0
    run(MIGRATION.SQLITE_FORWARD)  # leave the schema as the migrations made it
