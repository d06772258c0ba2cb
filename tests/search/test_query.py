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
    parsed = parse_query("re* ^card col:umn (a \\b")
    assert str(parsed) == 're card "col umn" a b'


@pytest.mark.parametrize(
    "text",
    [
        "NEAR(refund manager)",
        "NEAR(refund manager, 5)",
        "NEAR/3(refund manager)",
        "refund NEAR manager",
        "refund NEAR/2 manager",
    ],
)
def test_it_reads_near_as_and_as_the_docs_say(text):
    parsed = parse_query(text)
    assert [[str(term) for term in clause] for clause in parsed.clauses] == [["refund"], ["manager"]]


def test_it_keeps_phrases_inside_near_and_lower_case_near_as_a_word():
    assert str(parse_query('NEAR("late delivery" refund)')) == '"late delivery" refund'
    assert str(parse_query("store near me")) == "store near me"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[card number]", "[card number]"),
        ("[Card Number*]", "[card number]"),
        ("[ card  number ]", "[card number]"),
        ("[phone] refund", "[phone] refund"),
        ("-[email]", "-[email]"),
        ("[redacted_pii]", "[redacted pii]"),
        ("[bank account]", "[bank account]"),
    ],
)
def test_it_reads_a_bracketed_mask_label_as_a_mask_term(text, expected):
    parsed = parse_query(text)
    assert str(parsed) == expected and parsed.has_masks
    terms = [term for clause in parsed.clauses for term in clause] + list(parsed.exclusions)
    assert any(term.mask for term in terms)


@pytest.mark.parametrize("text", ["[inaudible] card", "card number", "[card reader]", "[card number"])
def test_it_reads_other_brackets_as_punctuation(text):
    parsed = parse_query(text)
    assert not parsed.has_masks
    assert all(not term.mask for clause in parsed.clauses for term in clause)


def test_it_tells_a_mask_term_from_the_same_words():
    parsed = parse_query('[card number] "card number"')
    assert [str(term) for clause in parsed.clauses for term in clause] == ["[card number]", '"card number"']


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
