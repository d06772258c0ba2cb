from __future__ import annotations

import pytest

from reviews.search import parse_query
from reviews.search.query import MAX_TERMS


def test_it_ands_plain_words():
    parsed = parse_query("refund Manager")
    assert str(parsed) == "refund manager"
    assert parsed.terms == ["refund", "manager"]


def test_it_keeps_quoted_phrases_together():
    assert str(parse_query('"late delivery" refund')) == '"late delivery" refund'


def test_it_parses_exclusions_of_words_and_phrases():
    parsed = parse_query('refund -voicemail -"call back"')
    assert str(parsed) == 'refund -voicemail -"call back"'
    assert parsed.has_positive_terms


def test_it_binds_or_tighter_than_and():
    parsed = parse_query("refund OR chargeback manager")
    assert [[str(term) for term in clause] for clause in parsed.clauses] == [["refund", "chargeback"], ["manager"]]


@pytest.mark.parametrize("text", ["OR refund", "refund OR", "refund OR OR", "refund OR -x"])
def test_it_ignores_dangling_or(text):
    assert [len(clause) for clause in parse_query(text).clauses] == [1]


def test_it_treats_operators_and_punctuation_as_plain_text():
    parsed = parse_query("NEAR(refund manager) re* ^card col:umn (a \\b")
    assert str(parsed) == '"near refund" manager re card "col umn" a b'


def test_it_drops_an_unbalanced_quote_and_reads_the_rest_as_words():
    assert str(parse_query('say "hello world')) == "say hello world"


def test_it_splits_inner_punctuation_into_a_phrase():
    assert str(parse_query("e-mail")) == '"e mail"'


def test_it_recognises_only_exclusions():
    parsed = parse_query("-refund")
    assert not parsed.has_positive_terms and not parsed.is_empty


@pytest.mark.parametrize("text", ["", "   ", "***", "😀 🙃", '""', "-", '-""', None, "\x00\x01"])
def test_it_parses_nothing_searchable_to_an_empty_query(text):
    assert parse_query(text).is_empty


def test_it_keeps_unicode_words():
    assert str(parse_query("Café naïve Straße 東京")) == "café naïve straße 東京"


def test_it_bounds_huge_input():
    parsed = parse_query("word " * 5000)
    assert len(parsed.clauses) == 1  # deduplicated
    many = parse_query(" ".join(f"w{i}" for i in range(500)))
    assert len(many.terms) == MAX_TERMS
