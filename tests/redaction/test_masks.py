from __future__ import annotations

from reviews.redaction import (
    FINDING_KINDS,
    MASK_TOKENS,
    RedactionScanner,
    UtteranceText,
    count_mask_tokens,
    mask_text,
    vault_mask_token,
)
from reviews.redaction.masks import find_masks


def test_it_exports_every_genesys_marker_and_the_generic_ones():
    assert MASK_TOKENS == (
        "card number",
        "card expiry date",
        "phone",
        "email",
        "name",
        "postal code",
        "location",
        "national id",
        "user info",
        "personal info",
        "REDACTED",
        "REDACTED_PII",
    )


def test_it_counts_each_genesys_marker_by_its_label():
    text = " ".join(f"[{label}]" for label in MASK_TOKENS[:10]) + " [phone]"
    counts = count_mask_tokens(text)
    assert counts["phone"] == 2
    assert all(counts[label] == 1 for label in MASK_TOKENS[:10] if label != "phone")


def test_it_counts_generic_markers_under_their_own_keys():
    assert count_mask_tokens("a <REDACTED> b [REDACTED_PII] c <redacted>") == {"REDACTED": 2, "REDACTED_PII": 1}


def test_it_matches_case_insensitively_and_tolerates_spacing():
    assert count_mask_tokens("[Card Number] [CARD  EXPIRY DATE] [ phone ]") == {
        "card number": 1,
        "card expiry date": 1,
        "phone": 1,
    }


def test_it_does_not_count_other_bracketed_words():
    assert count_mask_tokens("[laughter] [card] [number] (phone) redacted") == {}


def test_it_prefers_the_longest_label_and_reports_spans():
    text = "expires [card expiry date] ok"
    assert list(find_masks(text)) == [(8, 26, "card expiry date")]


def test_it_reports_verified_when_markers_are_present_and_nothing_leaked():
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(0, 0, "external", "my card is [card number] and email [email]"))
    scanner.feed(UtteranceText(1, 3_000, "external", "<REDACTED>"))
    report = scanner.finish()
    assert report.mask_counts == {"card number": 1, "email": 1, "REDACTED": 1}
    assert report.findings == []
    assert report.status == "verified"


def test_it_reports_no_markers_for_an_unredacted_clean_transcript():
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(0, 0, "internal", "thanks for calling"))
    assert scanner.finish().status == "no_markers"


def test_it_counts_markers_from_words_when_the_text_is_empty():
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(0, 0, "external", "", words=[("it's", 0), ("[card", 200), ("number]", 400)]))
    assert scanner.finish().mask_counts == {"card number": 1}


def test_it_writes_one_vault_token_per_kind_marked_with_a_star():
    assert [vault_mask_token(kind) for kind in FINDING_KINDS] == [
        "[card number*]",
        "[national id*]",
        "[email*]",
        "[phone*]",
        "[bank account*]",
    ]


def test_it_finds_vault_masks_but_does_not_count_them_as_genesys_masks():
    text = "card [card number*] and [Card  Number *] then [card number] and [bank account*]"
    assert [key for _, _, key in find_masks(text)] == ["card number*", "card number*", "card number", "bank account*"]
    assert count_mask_tokens(text) == {"card number": 1}
    assert count_mask_tokens("[bank account]") == {}  # not a Genesys label


def test_it_never_reads_a_vault_mask_as_a_leak_on_a_rescan():
    text = "my card is 4111 1111 1111 1111 and then 4111 1111, email jane.doe@example.com, iban GB29 NWBK 6016 1331 9268 19"
    masked = mask_text(text)
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(0, 0, "external", masked))
    report = scanner.finish()
    assert report.findings == [] and report.mask_counts == {}
    assert mask_text(masked) == masked
