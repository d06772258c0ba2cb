from __future__ import annotations

import pytest

from reviews.redaction.numbers import PieceChain, spoken_to_digits, typed_digits


@pytest.mark.parametrize(
    ("spoken", "digits"),
    [
        ("four one one one", "4111"),
        ("oh two oh seven", "0207"),
        ("zero nought o", "000"),
        ("double five", "55"),
        ("triple nine", "999"),
        ("four double one", "411"),
        ("forty one eleven", "4111"),
        ("twenty five", "25"),
        ("twenty-five", "25"),
        ("twenty oh five", "2005"),
        ("ninety", "90"),
        ("one uh two um three", "123"),
        ("4111 1111", "41111111"),
        ("212-34-5678", "212345678"),
        ("Four, one.", "41"),
    ],
)
def test_it_normalises_spoken_and_typed_digits(spoken, digits):
    assert spoken_to_digits(spoken.split()) == digits


def test_it_returns_none_for_ordinary_words():
    assert spoken_to_digits(["one", "or", "two"]) is None
    assert spoken_to_digits([]) is None


@pytest.mark.parametrize(
    ("token", "groups", "separators", "plus"),
    [
        ("4111-1111-1111-1111", ("4111", "1111", "1111", "1111"), ("-", "-", "-"), False),
        ("212-34-5678", ("212", "34", "5678"), ("-", "-"), False),
        ("555.123.4567", ("555", "123", "4567"), (".", "."), False),
        ("+44", ("44",), (), True),
        ("123456", ("123456",), (), False),
    ],
)
def test_it_splits_typed_digit_tokens_at_their_separators(token, groups, separators, plus):
    parsed = typed_digits(token)
    assert parsed is not None
    assert (parsed.groups, parsed.separators, parsed.plus) == (groups, separators, plus)


@pytest.mark.parametrize(
    "token", ["2024-05-12", "12-05-2024", "12.05.24", "25.99", "10:30", "$25", "1,250", "4g", "abc"]
)
def test_it_does_not_treat_dates_times_amounts_or_words_as_digit_groups(token):
    assert typed_digits(token) is None


def test_it_keeps_a_piece_per_spoken_group_with_its_token():
    chain = PieceChain()
    for ref, word in enumerate(["double", "five", "forty", "one", "plus", "four"]):
        assert chain.add_number_word(word, ref)
    chain.close()
    assert [(piece.chars, piece.ref, piece.plus) for piece in chain.pieces] == [
        ("55", 0, False),  # "double" starts the value, so the piece points at it
        ("41", 2, False),
        ("4", 5, True),
    ]


def test_it_drops_a_dangling_repeat_word_when_the_chain_closes():
    chain = PieceChain()
    chain.add_number_word("double", 0)
    assert chain.modifier_pending
    chain.close()
    chain.add_number_word("five", 1)
    assert [piece.chars for piece in chain.pieces] == ["5"]


def test_it_spots_an_iban_prefix_waiting_for_a_bank_code():
    chain = PieceChain()
    chain.add_letters("gb29", "ref", spoken=False)
    assert chain.ends_with_iban_prefix()
