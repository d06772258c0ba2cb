"""Keyed digests of a data subject's identifiers: how the vault recognises a caller without keeping the number.

One digest per identifier, whatever its source: discovery notes the caller's number (`ani`) as `aniDigest` in the
participant summary, ingest notes each phone number or address the leak detector found (IdentifierMention), and
a legal hold or a data-subject request computes the same digest from what the compliance officer types. The keys
come from reviews/redaction/identifiers.py (one normalisation rule each for numbers and addresses).

Keyed with SECRET_KEY so the digests cannot be reversed by hashing every possible number; a SECRET_KEY change
means phone holds must be placed again and conversations rediscovered (docs/compliance.md).
"""

from __future__ import annotations

import hmac
import re
from hashlib import sha256

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from reviews.redaction.identifiers import canonical_phone, letters_and_digits

PHONE = "phone"
EMAIL = "email"
KINDS = (PHONE, EMAIL)

_PHONE_SEPARATORS = re.compile(r"[\s().\-/]")
_PHONE_TEXT = re.compile(r"\+?[0-9]{6,15}")


class IdentifierError(ValueError):
    """Not a phone number or e-mail address the vault can match: the message says what to give instead."""


def normalise_phone(number: str) -> str:
    """The E.164 digits of a number ("tel:+1 (317) 555-0100" -> "13175550100"); IdentifierError if it is none."""
    text = _PHONE_SEPARATORS.sub("", (number or "").strip().removeprefix("tel:"))
    if not _PHONE_TEXT.fullmatch(text):
        raise IdentifierError("a phone number needs 6 to 15 digits, optionally with a leading + (e.g. +13175550100)")
    return canonical_phone(text, settings.PII_PHONE_REGIONS)


def normalise_email(address: str) -> str:
    address = (address or "").strip()
    try:
        validate_email(address)
    except ValidationError:
        raise IdentifierError("give an e-mail address such as jane.doe@example.com") from None
    return letters_and_digits(address)


def _digest(message: str) -> str:
    key = sha256(f"transcript-vault.phone-digest|{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, message.encode(), sha256).hexdigest()


def phone_digest(number: str) -> str:
    """The digest of a number as typed or as Genesys reports it (`ani`); IdentifierError if it is no number."""
    return _digest(normalise_phone(number))


def email_digest(address: str) -> str:
    return _digest(f"email:{normalise_email(address)}")


def digest_of(kind: str, value: str) -> str:
    """The digest of an identifier a person typed (a hold, a subject request); IdentifierError on bad input."""
    if kind == PHONE:
        return phone_digest(value)
    if kind == EMAIL:
        return email_digest(value)
    raise IdentifierError(f"unknown identifier kind {kind!r}; use phone or email")


def mention_digest(kind: str, said: str) -> str:
    """The digest of a value the leak detector found in a transcript: its letters and digits as said ("" when the
    kind is not an identifier of a person, or nothing is left)."""
    if kind == PHONE:
        digits = canonical_phone(said, settings.PII_PHONE_REGIONS)
        return _digest(digits) if digits else ""
    if kind == EMAIL:
        key = letters_and_digits(said)
        return _digest(f"email:{key}") if key else ""
    return ""


def hint_of(kind: str, value: str) -> str:
    """What the vault shows of an identifier: enough to tell two requests apart, not enough to call anyone."""
    if kind == PHONE:
        return f"…{normalise_phone(value)[-4:]}"
    local, _, domain = value.strip().partition("@")
    return f"{local[:1]}…@{domain.lower()}"
