from __future__ import annotations

import pytest

from reviews.redaction.detectors import (
    ChainContext,
    detect_in_chain,
    find_card,
    find_ibans,
    is_phone_number,
    is_valid_ssn,
    parse_spoken_email,
    ssn_confidence_for,
    typed_email,
)
from reviews.redaction.numbers import PieceChain, typed_digits

REGIONS = ("US", "GB", "AU", "CA", "DE", "FR", "IE")
NO_CONTEXT = ChainContext(has_context=lambda category: False)


def typed_chain(*tokens: str) -> PieceChain:
    chain = PieceChain()
    for ref, token in enumerate(tokens):
        parsed = typed_digits(token)
        if parsed is not None:
            chain.add_typed_digits(parsed, ref)
        elif not chain.add_number_word(token, ref):
            chain.add_letters(token.lower(), ref, spoken=len(token) == 1)
    chain.close()
    return chain


@pytest.mark.parametrize(
    "tokens",
    [
        ("4111", "1111", "1111", "1111"),
        ("4111-1111-1111-1111",),
        ("5555555555554444",),
        ("3782", "822463", "10005"),  # Amex, 15 digits
        ("6011", "1111", "1111", "1117"),
    ],
)
def test_it_finds_luhn_valid_cards_as_a_whole_run(tokens):
    chain = typed_chain(*tokens)
    assert find_card(chain.pieces) == (0, len(chain.pieces))


def test_it_finds_a_card_followed_by_its_cvv_in_one_run():
    chain = typed_chain("4111", "1111", "1111", "1111", "123")
    assert find_card(chain.pieces) == (0, 4)


@pytest.mark.parametrize(
    "tokens",
    [
        ("4111", "1111", "1111", "1112"),  # Luhn fails
        ("1111", "1111", "1111", "1117"),  # no card network starts with 1
        ("4111", "1111", "1111"),  # 12 digits
        ("0000", "0000", "0000", "0000"),
    ],
)
def test_it_rejects_runs_that_are_not_cards(tokens):
    assert find_card(typed_chain(*tokens).pieces) is None


@pytest.mark.parametrize("digits", ["212345678", "536221234"])
def test_it_accepts_valid_ssns(digits):
    assert is_valid_ssn(digits)


@pytest.mark.parametrize(
    "digits",
    [
        "000123456",
        "666123456",
        "900123456",
        "212001234",
        "212340000",
        "123456789",
        "987654320",
        "078051120",
        "111111111",
    ],
)
def test_it_applies_stdnum_and_presidio_ssn_invalidations(digits):
    assert not is_valid_ssn(digits)


def test_it_scores_typed_ssns_by_shape_and_context():
    assert ssn_confidence_for(typed_chain("212-34-5678").pieces, has_ssn_context=False) == 0.7
    assert ssn_confidence_for(typed_chain("212", "34", "5678").pieces, has_ssn_context=False) == 0.7
    assert ssn_confidence_for(typed_chain("212345678").pieces, has_ssn_context=False) is None  # bare 9 digits
    assert ssn_confidence_for(typed_chain("212345678").pieces, has_ssn_context=True) == 0.9
    assert ssn_confidence_for(typed_chain("212-34.5678").pieces, has_ssn_context=False) is None  # mixed delimiters


def test_it_requires_context_for_spoken_ssns():
    spoken = typed_chain(*["two", "one", "two", "three", "four", "five", "six", "seven", "eight"])
    assert ssn_confidence_for(spoken.pieces, has_ssn_context=False) is None
    assert ssn_confidence_for(spoken.pieces, has_ssn_context=True) == 0.9


@pytest.mark.parametrize(
    "tokens",
    [
        ("415", "555", "2671"),
        ("(415)", "555-2671"),
        ("020", "7946", "0958"),
        ("0412", "345", "678"),
        ("+44", "20", "7946", "0958"),
        ("030", "1234567"),
    ],
)
def test_it_validates_phone_numbers_over_the_configured_regions(tokens):
    chain = typed_chain(*[token.strip("()") for token in tokens])
    assert is_phone_number(chain.pieces, REGIONS)


@pytest.mark.parametrize("tokens", [("123456",), ("555", "1234"), ("20240512",), ("1234", "5678")])
def test_it_rejects_digit_runs_that_are_not_valid_phone_numbers(tokens):
    assert not is_phone_number(typed_chain(*tokens).pieces, REGIONS)


def test_it_only_uses_the_configured_phone_regions():
    chain = typed_chain("020", "7946", "0958")
    assert not is_phone_number(chain.pieces, ("US",))


@pytest.mark.parametrize(
    "tokens",
    [
        ("de89", "3704", "0044", "0532", "0130", "00"),
        ("gb29", "nwbk", "6016", "1331", "9268", "19"),
        ("fr14", "2004", "1010", "0505", "0001", "3m02", "606"),
        ("ie29aibk93115212345678",),
    ],
)
def test_it_finds_mod97_valid_ibans(tokens):
    chain = typed_chain(*tokens)
    assert find_ibans(chain.pieces) == [(0, len(chain.pieces), False)]


def test_it_rejects_an_iban_with_a_wrong_check_digit():
    assert find_ibans(typed_chain("de88", "3704", "0044", "0532", "0130", "00").pieces) == []


def test_it_prefers_the_iban_over_a_card_reading_of_its_digits():
    detections = detect_in_chain(typed_chain("de89", "3704", "0044", "0532", "0130", "00").pieces, NO_CONTEXT, REGIONS)
    assert [detection.kind for detection in detections] == ["iban"]


def test_it_reports_one_finding_per_run_with_card_before_phone():
    detections = detect_in_chain(typed_chain("4111", "1111", "1111", "1111").pieces, NO_CONTEXT, REGIONS)
    assert [(detection.kind, detection.rule) for detection in detections] == [("card_number", "card.luhn.digits")]


def test_it_flags_long_digit_runs_touching_a_card_mask_as_partial_leaks():
    context = ChainContext(has_context=lambda category: False, mask_before="card number")
    detections = detect_in_chain(typed_chain("4111", "1111").pieces, context, REGIONS)
    assert [(detection.kind, detection.rule, detection.confidence) for detection in detections] == [
        ("card_number", "card.partial_near_mask", 0.5)
    ]
    # the last four digits are allowed to be shown (PCI DSS)
    assert detect_in_chain(typed_chain("1111").pieces, context, REGIONS) == []


def test_it_skips_phone_readings_of_announced_reference_numbers():
    context = ChainContext(has_context=lambda category: category == "reference")
    assert detect_in_chain(typed_chain("415", "555", "2671").pieces, context, REGIONS) == []


def test_it_matches_typed_emails_as_whole_tokens():
    assert typed_email("jane.doe@example.com") == "jane.doe@example.com"
    assert typed_email("support@") is None
    assert typed_email("@home") is None


@pytest.mark.parametrize(
    ("entries", "local", "domain"),
    [
        ("jane . doe @ example . com", "jane.doe", "example.com"),
        ("j _ smith @ mail . example . co . uk", "j_smith", "mail.example.co.uk"),
        ("bob 7 7 @ gmail . com", "bob77", "gmail.com"),
        ("bob @ gmail . com", "bob", "gmail.com"),  # a mail provider is evidence enough
    ],
)
def test_it_parses_spoken_emails(entries, local, domain):
    parsed = parse_spoken_email(entries.split(), has_email_context=False)
    assert parsed is not None
    assert (parsed.local, parsed.domain) == (local, domain)


@pytest.mark.parametrize(
    "entries",
    [
        "it @ amazon . com",  # "bought it at amazon dot com"
        "looking @ example . com",
        "bob @ example . com",  # single word, unknown domain, nobody mentioned e-mail
        "jane @ example . museum",  # not an ending we accept for spoken addresses
        "jane . doe @ example",
    ],
)
def test_it_rejects_prose_that_only_sounds_like_an_email(entries):
    assert parse_spoken_email(entries.split(), has_email_context=False) is None


def test_it_accepts_single_word_local_parts_when_email_was_mentioned():
    assert parse_spoken_email(["bob", "@", "example", ".", "com"], has_email_context=True) is not None
