"""Validators that decide whether a chain of pieces (or a run of words) is a leaked value.

Everything here is pure: the scanner hands in pieces and context, and gets back detections that
name the first and last token of the value. Candidates are only tried at piece boundaries and are
always checksum- or metadata-validated, because ordinary speech is full of short numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import phonenumbers
from stdnum import iban as stdnum_iban
from stdnum import luhn
from stdnum.us import ssn as stdnum_ssn

from reviews.redaction.numbers import Piece


def word_set(words: str) -> frozenset[str]:
    """A frozenset from a space-separated literal; keeps long vocabularies readable."""
    return frozenset(words.split())


DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("US", "GB", "AU", "CA", "DE", "FR", "IE")

# Context categories (Presidio's context words, trimmed to what is specific in a contact centre).
SSN_CONTEXT = frozenset({"social", "security", "ssn", "ssns", "ssid"})
PHONE_CONTEXT = frozenset({"phone", "telephone", "mobile", "cell", "cellphone", "landline", "callback"})
EMAIL_CONTEXT = frozenset({"email", "e-mail", "mail", "emails", "address"})
# Numbers announced as one of these are identifiers or dates, not phone numbers.
REFERENCE_CONTEXT = word_set(
    "order reference ref case ticket confirmation tracking invoice booking policy "
    "birth born birthday dob date expiry expires expiration"
)
CONTEXT_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(SSN_CONTEXT, "ssn"),
    **dict.fromkeys(PHONE_CONTEXT, "phone"),
    **dict.fromkeys(EMAIL_CONTEXT, "email"),
    **dict.fromkeys(REFERENCE_CONTEXT, "reference"),
}

# Most likely card lengths first, so a card followed by its CVV keeps the 16-digit reading.
_CARD_LENGTHS = (16, 15, 19, 13, 14, 18, 17)
_CARD_MAJOR_INDUSTRY_DIGITS = frozenset("23456")  # MII of Amex/Diners/JCB, Visa, Mastercard, Discover/Maestro
_MIN_PARTIAL_CARD_DIGITS = 7  # PCI DSS lets first six / last four be shown; more than that is a leak
_MIN_PHONE_DIGITS, _MAX_PHONE_DIGITS = 7, 15  # E.164 allows at most 15 digits
_IBAN_MIN, _IBAN_MAX = 15, 34
# An agent reading out the company's 1-800 number is not a leak of the caller's data.
_BUSINESS_NUMBER_TYPES = frozenset(
    {
        phonenumbers.PhoneNumberType.TOLL_FREE,
        phonenumbers.PhoneNumberType.PREMIUM_RATE,
        phonenumbers.PhoneNumberType.SHARED_COST,
    }
)
_IBAN_PREFIX = re.compile(r"[a-z]{2}\d{2}")

# Presidio's UsSsnRecognizer.invalidate_result, on top of stdnum's area/group/serial rules.
_SSN_INVALID_PREFIXES = ("000", "666", "123456789", "98765432", "078051120")
_SSN_TYPED_GROUPINGS = {(9,): False, (3, 2, 4): True, (5, 4): False, (3, 6): False}  # -> well-formed without context

IBAN_COUNTRY_CODES = word_set(
    "ad ae al at az ba be bg bh br by ch cr cy cz de dk do ee eg es fi fo fr gb ge gi gl gr gt hr hu ie il iq is it "
    "jo kw kz lb lc li lt lu lv mc md me mk mr mt mu nl no pk pl ps pt qa ro rs sa sc se si sk sm st sv tl tn tr ua "
    "va vg xk"
)


@dataclass(frozen=True, slots=True)
class Detection:
    """A leaked value: kind, rule and score, plus the first and last token it spans."""

    kind: str
    rule: str
    confidence: float
    first_ref: object
    last_ref: object
    fragments: tuple[str, ...] = ()  # non-digit parts of the value an excerpt must not show (e-mail labels)


@dataclass(frozen=True, slots=True)
class ChainContext:
    """What surrounded a chain: nearby context words and adjacent mask tokens."""

    has_context: Callable[[str], bool]
    mask_before: str | None = None
    mask_after: str | None = None


def detect_in_chain(pieces: Sequence[Piece], context: ChainContext, regions: Sequence[str]) -> list[Detection]:
    """All leaks in one chain; each piece belongs to at most one detection."""
    if not could_hold_a_value(pieces):
        return []
    detections: list[Detection] = []
    claimed = [False] * len(pieces)
    # IBANs first: their digit tail would otherwise be read as a card or phone number.
    for start, end, spoken in find_ibans(pieces):
        detections.append(
            Detection(
                "iban", "iban.mod97.spoken" if spoken else "iban.mod97", 0.95, pieces[start].ref, pieces[end - 1].ref
            )
        )
        claimed[start:end] = [True] * (end - start)
    for run_start, run_end in digit_runs(pieces, claimed):
        detections.extend(_detect_in_digit_run(pieces, run_start, run_end, context, regions))
    return detections


def could_hold_a_value(pieces: Sequence[Piece]) -> bool:
    """Cheap pre-check: the shortest value we report has 7 digits (phone) or 15 characters (IBAN)."""
    # Count digits inside alphanumeric pieces too: a typed IBAN arrives as one "gb82west1234…" piece.
    digit_count = sum(sum(char.isdigit() for char in piece.chars) for piece in pieces)
    return digit_count >= _MIN_PHONE_DIGITS or (digit_count and sum(len(piece.chars) for piece in pieces) >= _IBAN_MIN)


def digit_runs(pieces: Sequence[Piece], claimed: Sequence[bool] | None = None) -> list[tuple[int, int]]:
    """Maximal [start, end) ranges of unclaimed digit pieces; a "+" always starts a new run."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for index, piece in enumerate(pieces):
        usable = piece.is_digits and not (claimed and claimed[index])
        if start is not None and (not usable or piece.plus):
            runs.append((start, index))
            start = None
        if usable and start is None:
            start = index
    if start is not None:
        runs.append((start, len(pieces)))
    return runs


def _detect_in_digit_run(
    pieces: Sequence[Piece], start: int, end: int, context: ChainContext, regions: Sequence[str]
) -> list[Detection]:
    """At most one value per run, strongest kind first; what is left beside a card is searched again
    (two cards read back to back, or a CVV then the next card)."""
    run = pieces[start:end]
    if sum(len(piece.chars) for piece in run) < _MIN_PHONE_DIGITS:
        return []
    spoken = any(piece.spoken for piece in run)
    card = find_card(run)
    if card is not None:
        card_start, card_end = start + card[0], start + card[1]
        rule = "card.luhn.spoken" if spoken else "card.luhn.digits"
        found = Detection("card_number", rule, 0.95, pieces[card_start].ref, pieces[card_end - 1].ref)
        before = _detect_in_digit_run(pieces, start, card_start, context, regions)
        after = _detect_in_digit_run(pieces, card_end, end, context, regions)
        return [*before, found, *after]
    ssn_confidence = ssn_confidence_for(run, has_ssn_context=context.has_context("ssn"))
    if ssn_confidence is not None:
        rule = "ssn.stdnum.spoken" if spoken else "ssn.stdnum"
        return [Detection("ssn", rule, ssn_confidence, run[0].ref, run[-1].ref)]
    if not (context.has_context("reference") and not context.has_context("phone")) and is_phone_number(run, regions):
        confident = context.has_context("phone") or run[0].plus
        rule = "phone.phonenumbers.spoken" if spoken else "phone.phonenumbers"
        return [Detection("phone", rule, 0.8 if confident else 0.6, run[0].ref, run[-1].ref)]
    if _is_partial_card_next_to_mask(pieces, start, end, context):
        return [Detection("card_number", "card.partial_near_mask", 0.5, run[0].ref, run[-1].ref)]
    return []


def find_card(run: Sequence[Piece]) -> tuple[int, int] | None:
    """[start, end) piece range of a Luhn-valid 13–19 digit card number in a digit run.

    The whole run is tried first. Then the run minus a 3–4 digit CVV or expiry at either end, and for
    runs longer than 19 digits every card length from either end. Inner windows are never tried:
    with ten readings per run, one random long number in ten would pass Luhn.
    """
    digits = "".join(piece.chars for piece in run)
    if len(digits) < 13:
        return None
    if len(digits) <= 19 and _is_card_number(digits):
        return 0, len(run)
    lengths = _CARD_LENGTHS if len(digits) > 19 else (len(digits) - 3, len(digits) - 4)
    prefix_ends = _boundary_offsets(run)
    for length in lengths:
        if length < 13:
            continue
        if length in prefix_ends and _is_card_number(digits[:length]):
            return 0, prefix_ends[length]
        suffix_start = len(digits) - length
        suffix_index = _piece_starting_at(run, suffix_start)
        if suffix_index is not None and _is_card_number(digits[suffix_start:]):
            return suffix_index, len(run)
    return None


def _is_card_number(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits[0] in _CARD_MAJOR_INDUSTRY_DIGITS and luhn.is_valid(digits)


def _boundary_offsets(run: Sequence[Piece]) -> dict[int, int]:
    """Digit count -> number of pieces, for every prefix of the run that ends on a piece boundary."""
    offsets: dict[int, int] = {}
    total = 0
    for index, piece in enumerate(run):
        total += len(piece.chars)
        offsets[total] = index + 1
    return offsets


def _piece_starting_at(run: Sequence[Piece], digit_offset: int) -> int | None:
    total = 0
    for index, piece in enumerate(run):
        if total == digit_offset:
            return index
        total += len(piece.chars)
    return None


def ssn_confidence_for(run: Sequence[Piece], *, has_ssn_context: bool) -> float | None:
    """Score for a 9-digit run that is a valid US SSN, or None.

    Typed 3-2-4 groups with one consistent separator are distinctive on their own; any other
    shape (spoken, or 9 bare digits) is only an SSN when someone just talked about one.
    """
    digits = "".join(piece.chars for piece in run)
    if len(digits) != 9 or not is_valid_ssn(digits):
        return None
    if has_ssn_context:
        return 0.9
    spoken = any(piece.spoken for piece in run)
    if not spoken and _typed_ssn_is_well_formed(run):
        return 0.7
    return None


def is_valid_ssn(digits: str) -> bool:
    """stdnum.us.ssn plus Presidio's invalidations (repeated digit, well-known test prefixes)."""
    if len(set(digits)) == 1 or digits.startswith(_SSN_INVALID_PREFIXES):
        return False
    return bool(stdnum_ssn.is_valid(digits))


def _typed_ssn_is_well_formed(run: Sequence[Piece]) -> bool:
    grouping = tuple(len(piece.chars) for piece in run)
    separators = {piece.separator for piece in run[1:]}
    if len(separators) > 1:  # Presidio: mixed delimiters are not an SSN
        return False
    return _SSN_TYPED_GROUPINGS.get(grouping, False)


def is_phone_number(run: Sequence[Piece], regions: Sequence[str]) -> bool:
    """True when the whole run is one VALID phone number in some configured region."""
    digits = "".join(piece.chars for piece in run)
    if not _MIN_PHONE_DIGITS <= len(digits) <= _MAX_PHONE_DIGITS:
        return False
    text = ("+" if run[0].plus else "") + "".join(
        (piece.separator if not piece.spoken else "") + piece.chars for piece in run
    )
    for region in (None,) if run[0].plus else regions:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            if re.sub(r"\D", "", match.raw_string) == digits:
                return phonenumbers.number_type(match.number) not in _BUSINESS_NUMBER_TYPES
    return False


def _is_partial_card_next_to_mask(pieces: Sequence[Piece], start: int, end: int, context: ChainContext) -> bool:
    digits = sum(len(piece.chars) for piece in pieces[start:end])
    if digits < _MIN_PARTIAL_CARD_DIGITS:
        return False
    touches_before = start == 0 and context.mask_before == "card number"
    touches_after = end == len(pieces) and context.mask_after == "card number"
    return touches_before or touches_after


def find_ibans(pieces: Sequence[Piece]) -> list[tuple[int, int, bool]]:
    """[start, end, spoken) piece ranges whose characters form a mod-97 valid IBAN."""
    if not any(not piece.is_digits for piece in pieces):
        return []
    found: list[tuple[int, int, bool]] = []
    index = 0
    while index < len(pieces):
        end = _iban_end_from(pieces, index)
        if end is None:
            index += 1
            continue
        found.append((index, end, any(piece.spoken for piece in pieces[index:end])))
        index = end
    return found


def _iban_end_from(pieces: Sequence[Piece], start: int) -> int | None:
    head = "".join(piece.chars for piece in pieces[start : start + 4])
    if not _IBAN_PREFIX.match(head) or head[:2] not in IBAN_COUNTRY_CODES:
        return None
    text = ""
    for index in range(start, len(pieces)):
        text += pieces[index].chars
        if len(text) > _IBAN_MAX:
            return None
        if len(text) >= _IBAN_MIN and stdnum_iban.is_valid(text.upper()):
            return index + 1
    return None


# --- e-mail ---------------------------------------------------------------------------------------

EMAIL_PATTERN = re.compile(r"[a-z0-9][a-z0-9._%+-]*@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}")
# Endings we accept for a *spoken* address; a closed list keeps "at the store dot" prose out.
SPOKEN_EMAIL_TLDS = word_set(
    "com net org edu gov mil io co uk us ca au de fr ie nz info biz me ai app dev eu es it nl be ch at"
)
MAIL_PROVIDERS = word_set(
    "gmail googlemail yahoo hotmail outlook live msn icloud me aol protonmail proton gmx btinternet sky "
    "virginmedia eircom bigpond orange free web t-online comcast verizon att"
)
# One-word "local parts" that are really prose: "bought it at amazon dot com".
_PROSE_BEFORE_AT = word_set(
    "i me you we us it he him she her they them this that here there is was be look looking shop shopping "
    "order ordered bought buy online website site page sign signed log logged login register registered "
    "account available up in on"
)
EMAIL_SEPARATORS: dict[str, str] = {
    "dot": ".",
    "period": ".",
    "point": ".",
    ".": ".",
    "underscore": "_",
    "dash": "-",
    "hyphen": "-",
    "at": "@",
    "@": "@",
}


def typed_email(token: str) -> str | None:
    """The address if the whole token is one (already lower-cased and stripped of punctuation)."""
    return token if "@" in token and EMAIL_PATTERN.fullmatch(token) else None


def email_fragments(local: str, domain: str) -> tuple[str, ...]:
    """Labels an excerpt must never show: local-part pieces and domain labels except the ending."""
    local_parts = [part for part in re.split(r"[._%+-]+", local) if part]
    domain_labels = domain.split(".")[:-1]
    return tuple(sorted({*local_parts, *domain_labels} - SPOKEN_EMAIL_TLDS - {""}))


@dataclass(frozen=True, slots=True)
class SpokenEmail:
    start: int  # index of the first entry of the address in the word window
    local: str
    domain: str
    confident: bool


def parse_spoken_email(entries: Sequence[str], *, has_email_context: bool) -> SpokenEmail | None:
    """Reads "jane dot doe at example dot com" backwards from the end of `entries`.

    `entries` are normalised words: separators already mapped to ".", "_", "-", "@", digit words to
    digits. The window must END with the top-level domain.
    """
    index = len(entries) - 1
    domain, index = _read_domain(entries, index)
    if domain is None or index < 0 or entries[index] != "@":
        return None
    local, start = _read_local_part(entries, index - 1)
    if local is None:
        return None
    multi_part = any(separator in local for separator in "._-") or any(char.isdigit() for char in local)
    provider = domain.split(".")[0] in MAIL_PROVIDERS
    if not multi_part and local in _PROSE_BEFORE_AT:
        return None
    if not (multi_part or provider or has_email_context):
        return None
    return SpokenEmail(start=start, local=local, domain=domain, confident=multi_part or has_email_context)


_LOCAL_SEPARATORS = frozenset({".", "_", "-"})


def _is_label(entry: str) -> bool:
    return entry.isascii() and entry.isalnum()


def _read_domain(entries: Sequence[str], index: int) -> tuple[str | None, int]:
    if index < 0 or not _is_label(entries[index]) or entries[index] not in SPOKEN_EMAIL_TLDS:
        return None, index
    labels = [entries[index]]
    index -= 1
    while index >= 1 and entries[index] == "." and _is_label(entries[index - 1]):
        labels.insert(0, entries[index - 1])
        index -= 2
    if len(labels) < 2:
        return None, index
    return ".".join(labels), index


def _read_local_part(entries: Sequence[str], index: int) -> tuple[str | None, int]:
    if index < 0 or not _is_label(entries[index]):
        return None, index
    parts = [entries[index]]
    index -= 1
    while index >= 0:
        entry = entries[index]
        if entry in _LOCAL_SEPARATORS and index >= 1 and _is_label(entries[index - 1]):
            parts[0:0] = [entries[index - 1], entry]
            index -= 2
        elif _is_label(entry) and (parts[0].isdigit() or len(parts[0]) == len(entry) == 1):
            # "doe seven seven" -> "doe77"; "j o h n" spelled out -> "john"
            parts.insert(0, entry)
            index -= 1
        else:
            break
    return "".join(parts), index + 1
