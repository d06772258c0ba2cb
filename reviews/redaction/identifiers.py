"""How a phone number or an e-mail address becomes one comparable key, whoever said or typed it.

A data-subject request (reviews/subject_requests.py) matches the caller's number from analytics (`ani`), the
number or address a compliance officer types, and the values the leak detector found in transcripts. All three
go through these two rules, so "+1 (312) 555-0150", "312 555 0150" and a caller reading "three one two five
five five ..." are the same key. Pure Python: the keyed digest of a key lives in reviews/identifiers.py.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import phonenumbers

_NON_DIGITS = re.compile(r"\D")


def letters_and_digits(text: str) -> str:
    """An address (or any value) without case, separators or punctuation: "J.Doe@Example.com" -> "jdoeexamplecom".

    Spoken addresses reach the scanner as words ("j dot doe at example dot com"), typed ones as text; keeping
    only letters and digits makes both the same key."""
    return "".join(char for char in text.lower() if char.isalnum())


def canonical_phone(text: str, regions: Sequence[str]) -> str:
    """The E.164 digits (no "+") of a number, "" when `text` holds no digits.

    With a leading "+" the number names its country; without one, the first configured region where it is a
    valid number decides ("312 555 0150" -> "13125550150" with US first), then the digits read as international
    ("4420 7946 0123"). A number no rule validates keeps its digits as they are."""
    text = (text or "").strip()
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        return ""
    candidates = [(text, None)] if text.startswith("+") else [(digits, region) for region in regions]
    candidates.append(("+" + digits, None))
    for candidate, region in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")
    return digits
