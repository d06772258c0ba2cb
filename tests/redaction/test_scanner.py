from __future__ import annotations

import time

import pytest

from reviews.redaction import RedactionScanner, UtteranceText
from reviews.redaction.scanner import EMAIL_WINDOW_TOKENS, HISTORY_TOKENS, MAX_CHAIN_PIECES

from .helpers import assert_excerpts_hide, scan

DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
LETTER_NAMES = {char: char for char in "abcdefghijklmnopqrstuvwxyz"}

CARD = "4111111111111111"
AMEX = "378282246310005"
SSN = "212-34-5678"
US_PHONE = "415 555 2671"
UK_PHONE = "020 7946 0958"
EMAIL = "jane.doe@example.com"
IBAN_DE = "DE89 3704 0044 0532 0130 00"
IBAN_GB = "GB29 NWBK 6016 1331 9268 19"


def say(value: str) -> str:
    """Reads a value the way a caller does: digit by digit, letters spelled out."""
    return " ".join(DIGIT_NAMES[int(char)] if char.isdigit() else char.lower() for char in value if char.isalnum())


def kinds(report) -> list[tuple[str, str]]:
    return [(finding.kind, finding.rule) for finding in report.findings]


# --- every kind, typed and spoken -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("phrase", "kind", "rule"),
    [
        (f"my card number is {CARD} thanks", "card_number", "card.luhn.digits"),
        ("my card number is 4111 1111 1111 1111 thanks", "card_number", "card.luhn.digits"),
        ("my card number is 4111-1111-1111-1111 thanks", "card_number", "card.luhn.digits"),
        (f"it's an amex {AMEX}", "card_number", "card.luhn.digits"),
        (f"my card number is {say(CARD)} thanks", "card_number", "card.luhn.spoken"),
        ("it's four double one one one one one one one one one one one one one one", "card_number", "card.luhn.spoken"),
        ("forty one eleven eleven eleven eleven eleven eleven eleven", "card_number", "card.luhn.spoken"),
        (f"my social is {SSN} okay", "ssn", "ssn.stdnum"),
        (f"my social security number is {say(SSN)}", "ssn", "ssn.stdnum.spoken"),
        (f"you can call me on {US_PHONE} any time", "phone", "phone.phonenumbers"),
        (f"you can call me on {say(US_PHONE)} any time", "phone", "phone.phonenumbers.spoken"),
        (f"my mobile is oh {say(UK_PHONE)[5:]} thanks", "phone", "phone.phonenumbers.spoken"),
        ("my number is +44 20 7946 0958", "phone", "phone.phonenumbers"),
        (
            "my number is plus four four two oh seven nine four six oh nine five eight",
            "phone",
            "phone.phonenumbers.spoken",
        ),
        (f"my email is {EMAIL} thanks", "email", "email.regex"),
        ("my email is jane dot doe at example dot com thanks", "email", "email.spoken"),
        ("it's jane underscore doe at example dot co dot uk", "email", "email.spoken"),
        ("send it to jane.doe at example.com please", "email", "email.spoken"),
        ("it's j o h n at gmail dot com", "email", "email.spoken"),
        (f"the iban is {IBAN_DE} okay", "iban", "iban.mod97"),
        (f"the iban is {IBAN_GB.lower()} okay", "iban", "iban.mod97"),
        (f"the iban is {IBAN_GB.replace(' ', '').lower()} okay", "iban", "iban.mod97"),
        (f"the iban is {IBAN_DE.replace(' ', '')} okay", "iban", "iban.mod97"),
        (f"the iban is {say(IBAN_GB)} okay", "iban", "iban.mod97.spoken"),
    ],
)
def test_it_finds_each_kind_typed_and_spoken(phrase, kind, rule):
    report = scan("thanks for holding", phrase)
    assert kinds(report) == [(kind, rule)]
    finding = report.findings[0]
    assert finding.utterance_index == 1
    assert finding.confidence >= 0.6
    assert report.status == "leaks_found"
    assert_excerpts_hide(report, CARD, AMEX, SSN, US_PHONE, UK_PHONE, EMAIL, IBAN_DE, IBAN_GB)


def test_it_gives_checksum_validated_findings_at_least_0_9():
    report = scan(f"card {CARD}", f"iban {IBAN_DE}")
    assert [finding.confidence >= 0.9 for finding in report.findings] == [True, True]


# --- split across words and phrases -------------------------------------------------------------


def test_it_joins_a_spoken_card_split_across_two_phrases():
    report = scan("my card is four one one one one one one one", "one one one one one one one one and that's it")
    assert kinds(report) == [("card_number", "card.luhn.spoken")]
    assert report.findings[0].utterance_index == 0
    assert_excerpts_hide(report, CARD)


def test_it_joins_a_typed_card_split_across_phrases_with_an_agent_acknowledgement_between():
    report = scan("it's 4111 1111", ("internal", "mm-hmm okay"), "1111 1111 expiring in june")
    assert kinds(report) == [("card_number", "card.luhn.digits")]
    assert_excerpts_hide(report, CARD)


@pytest.mark.parametrize(
    ("first", "second", "kind"),
    [
        ("my social is two one two three four", "five six seven eight", "ssn"),
        ("call me on four one five five five", "five two six seven one", "phone"),
        ("iban d e eight nine three seven oh four oh oh four four", "oh five three two oh one three oh oh oh", "iban"),
        ("email is jane dot doe at", "example dot com", "email"),
    ],
)
def test_it_joins_other_kinds_across_phrases(first, second, kind):
    report = scan(first, second)
    assert [finding.kind for finding in report.findings] == [kind]
    assert report.findings[0].utterance_index == 0
    assert_excerpts_hide(report, CARD, SSN, US_PHONE, EMAIL, IBAN_DE)


def test_it_uses_word_times_for_the_start_of_the_value():
    scanner = RedactionScanner()
    words = [("my", 1_000), ("card", 1_200), ("is", 1_400)] + [(word, 1_600 + i * 100) for i, word in enumerate(CARD)]
    scanner.feed(UtteranceText(7, 1_000, "external", "my card is " + " ".join(CARD), words=words))
    finding = scanner.finish().findings[0]
    assert (finding.utterance_index, finding.start_ms, finding.kind) == (7, 1_600, "card_number")


def test_it_starts_a_cross_phrase_value_in_the_first_phrase():
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(3, 10_000, "external", "four one one one one one one one", words=[]))
    scanner.feed(UtteranceText(4, 14_000, "external", "one one one one one one one one", words=[]))
    finding = scanner.finish().findings[0]
    assert (finding.utterance_index, finding.start_ms) == (3, 10_000)


def test_it_does_not_join_numbers_across_a_real_turn_by_the_other_speaker():
    # zip code + phone: joined they would be 15 digits and neither would be found
    report = scan("my zip is nine oh two one oh", ("internal", "thanks and your phone number"), say(US_PHONE))
    assert kinds(report) == [("phone", "phone.phonenumbers.spoken")]


def test_it_does_not_join_numbers_separated_by_a_long_pause():
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(0, 0, "external", "four one one one one one one one"))
    scanner.feed(UtteranceText(1, 60_000, "external", "one one one one one one one one"))
    assert scanner.finish().findings == []


# --- mask tokens -----------------------------------------------------------------------------------


def test_it_never_reads_digits_through_a_mask_token():
    report = scan("my card is 4111 [card number] 1111 1111 1111")
    assert all(finding.rule == "card.partial_near_mask" for finding in report.findings)
    assert report.mask_counts == {"card number": 1}


def test_it_flags_more_than_the_allowed_digits_next_to_a_card_mask_as_a_partial_leak():
    report = scan("card [card number] 4111 1111 expiry [card expiry date]")
    assert kinds(report) == [("card_number", "card.partial_near_mask")]
    assert_excerpts_hide(report, "41111111")


def test_it_allows_the_last_four_digits_next_to_a_mask():
    report = scan("card ending [card number] 1111 expiring [card expiry date]", "my phone is [phone] 2671")
    assert report.findings == []
    assert report.status == "verified"


def test_it_treats_mask_tokens_split_over_words_as_one_span():
    scanner = RedactionScanner()
    words = [("it's", 0), ("[card", 100), ("number]", 200), ("thanks", 300)]
    scanner.feed(UtteranceText(0, 0, "external", "it's [card number] thanks", words=words))
    report = scanner.finish()
    assert report.mask_counts == {"card number": 1}
    assert report.status == "verified"


def test_it_finds_a_leak_beside_a_mask_that_caught_something_else():
    report = scan(f"my email is [email] and my card is {say(CARD)}")
    assert kinds(report) == [("card_number", "card.luhn.spoken")]
    assert report.mask_counts == {"email": 1}
    assert report.status == "leaks_found"
    assert "[email]" in report.findings[0].masked_excerpt


# --- dedupe and ordering ----------------------------------------------------------------------------


def test_it_reports_one_finding_per_occurrence():
    report = scan(
        f"card {CARD}", f"again that's {CARD}", "email jane dot doe at example dot com or jane.doe@example.com"
    )
    assert [finding.kind for finding in report.findings] == ["card_number", "card_number", "email", "email"]
    assert [finding.utterance_index for finding in report.findings] == [0, 1, 2, 2]
    assert_excerpts_hide(report, CARD, EMAIL)


def test_it_never_reports_a_card_as_a_phone_too():
    report = scan(f"my number is {say(CARD)} and my phone is {US_PHONE}")
    assert [finding.kind for finding in report.findings] == ["card_number", "phone"]


def test_it_keeps_the_value_out_of_every_excerpt_including_repeats_in_the_context():
    report = scan(f"it's {EMAIL} yes {EMAIL}", f"card {say(CARD)} cvv one two three", f"{CARD} {CARD}")
    assert len(report.findings) == 5
    assert_excerpts_hide(report, EMAIL, CARD, "123")


# --- false positives --------------------------------------------------------------------------------

CLEAN_CONTACT_CENTRE = [
    ("internal", "thank you for calling acme bank my name is sam how can i help you today"),
    ("external", "hi sam i'm calling about my order number 482913"),
    ("internal", "sure let me pull that up it was placed on 12/05/2024 is that right"),
    ("external", "yes the fifth of may twenty twenty four at about ten thirty"),
    ("internal", "i can see the total came to $1,249.99 including delivery"),
    ("external", "that's right and i was charged twenty five dollars twice"),
    ("internal", "i'm sorry about that i'll double check the payments"),
    ("external", "okay it's been about forty five minutes on hold"),
    ("internal", "i apologise our wait times are around 15 to 20 minutes today"),
    ("external", "one two three testing can you hear me"),
    ("internal", "yes i can hear you fine"),
    ("external", "great so it's order four eight two nine one three"),
    ("internal", "the refund of 25.00 will take 3 to 5 business days"),
    ("external", "can you do it by the 3rd"),
    ("internal", "it should arrive before 2024-05-12 at the latest"),
    ("external", "i'll be home between nine and five"),
    ("internal", "would you like one or two deliveries"),
    ("external", "just one please to flat 4b 221 baker street"),
    ("internal", "your case reference is 7731 and your ticket is 55-1204"),
    ("external", "is that ticket fifty five twelve oh four"),
    ("internal", "correct press one for billing or two for support next time"),
    ("external", "i bought it at amazon dot com originally"),
    ("internal", "you can also visit our website at acme dot com slash help"),
    ("external", "i'm looking at the app version 2.4.1 right now"),
    ("internal", "please restart it and wait 30 seconds"),
    ("external", "it's been like that since nineteen ninety nine"),
    ("internal", "the plan costs nineteen ninety nine a month for 12 months"),
    ("external", "at 10:45 am i got a text saying 2 items were missing"),
    ("internal", "i see two of the three items shipped on the 14th"),
    ("external", "and the third one was about thirty quid"),
    ("internal", "the balance is one thousand two hundred and fifty dollars"),
    ("external", "room four oh two at the hotel was booked for 3 nights"),
    ("internal", "i've applied a credit of ten percent"),
    ("external", "thanks so much you've been really helpful"),
    ("internal", "is there anything else i can help with"),
    ("external", "no that's all bye"),
    ("internal", "the [card number] on file expires [card expiry date] so that's fine"),
    ("external", "my date of birth is oh four twelve nineteen eighty five"),
    ("internal", "you can also call us free on 1-800-555-0199 or 0800 123 4567"),
    ("external", "i'll be at home dot com no i mean at home from five"),
]


def test_it_finds_nothing_in_a_clean_contact_centre_call():
    report = scan(*CLEAN_CONTACT_CENTRE)
    assert report.findings == []
    assert report.status == "verified"


@pytest.mark.parametrize("phrase", [text for _, text in CLEAN_CONTACT_CENTRE])
def test_it_finds_nothing_in_each_clean_sentence_alone(phrase):
    assert scan(phrase).findings == []
    assert scan(phrase, with_words=False).findings == []


# --- streaming --------------------------------------------------------------------------------------


def test_it_streams_100k_utterances_quickly_with_bounded_state():
    scanner = RedactionScanner()
    lines = [
        "thanks for calling how can i help",
        "my order is 482913",
        "one two three testing",
        "the [card number] is on file",
    ]
    started = time.process_time()
    for index in range(100_000):
        speaker = "internal" if index % 2 else "external"
        scanner.feed(UtteranceText(index, index * 3_000, speaker, lines[index % 4]))
    elapsed = time.process_time() - started
    streams = list(scanner._streams.values())
    assert all(len(stream.history) <= HISTORY_TOKENS for stream in streams)
    assert all(len(stream.chain.pieces) <= MAX_CHAIN_PIECES and not stream.pending for stream in streams)
    report = scanner.finish()
    assert elapsed < 5.0
    assert report.findings == []
    assert report.mask_counts == {"card number": 25_000}


def test_it_bounds_a_number_that_never_ends():
    scanner = RedactionScanner()
    for index in range(2_000):
        scanner.feed(UtteranceText(index, index * 1_000, "external", "one two three four"))
        assert len(scanner._streams["external"].chain.pieces) <= MAX_CHAIN_PIECES
    scanner.finish()


def test_it_evicts_old_speakers():
    scanner = RedactionScanner()
    for index in range(100):
        scanner.feed(UtteranceText(index, index * 1_000, f"speaker-{index}", f"my card is {CARD}"))
    assert len(scanner._streams) <= 8
    assert len(scanner.finish().findings) == 100


def test_it_accepts_uk_as_an_alias_for_gb_regions():
    assert kinds(scan(f"my number is {UK_PHONE}", regions=["UK"])) == [("phone", "phone.phonenumbers")]
    assert scan(f"my number is {UK_PHONE}", regions=["US"]).findings == []


# --- spans for masking ------------------------------------------------------------------------------


def spans_of(*phrases, with_words: bool = True):
    scanner = RedactionScanner()
    for index, phrase in enumerate(phrases):
        speaker, text = phrase if isinstance(phrase, tuple) else ("external", phrase)
        words = [(word, index * 4_000 + position * 300) for position, word in enumerate(text.split())]
        scanner.feed(UtteranceText(index, index * 4_000, speaker, text, words=words if with_words else ()))
    scanner.finish()
    return [(span.kind, span.speaker, span.first, span.last) for span in scanner.take_spans()]


@pytest.mark.parametrize("with_words", [True, False])
def test_it_names_exactly_the_tokens_of_each_value(with_words):
    phrase = f"my card is 4111 1111 1111 1111 cvv 123 and email {EMAIL} or jane dot doe at example dot com ok"
    assert spans_of(phrase, with_words=with_words) == [
        ("card_number", "external", (0, 3), (0, 6)),
        ("email", "external", (0, 11), (0, 11)),
        ("email", "external", (0, 13), (0, 19)),
    ]


def test_it_names_the_first_and_last_token_of_a_value_read_over_several_phrases():
    first, second = say(CARD).split()[:8], say(CARD).split()[8:]
    spans = spans_of("my card is " + " ".join(first), ("internal", "mm-hmm okay"), " ".join(second) + " thanks")
    assert spans == [("card_number", "external", (0, 3), (2, 7))]


def test_it_starts_a_span_at_a_repeat_word():
    assert spans_of("it's four double one " + " ".join(say(CARD).split()[3:]))[0][2] == (0, 1)


def test_it_keeps_the_value_out_of_a_spans_repr():
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(0, 0, "external", f"card {CARD}"))
    scanner.finish()
    (span,) = scanner.take_spans()
    assert span.value_in(0) == CARD and CARD not in repr(span)


SCRIPTS = [
    [f"my card number is {say(CARD)} thanks", ("internal", "thank you")],
    ["my card is four one one one one one one one", ("internal", "mm-hmm"), "one one one one one one one one ok"],
    ["email is jane dot doe at", "example dot com", ("internal", "got it thanks")],
    ["send it to jane dot doe at example dot com", ("internal", "and the phone"), "it's " + say(US_PHONE)],
    [("internal", "what is your iban"), say(IBAN_GB), ("internal", "okay"), f"and my social is {SSN}"],
    ["four", "one one one", "uh", "one one one one one one one one one one one one", ("internal", "right")],
    [f"card {CARD} cvv 123"],
    [f"{CARD} {CARD}", "double one two three four five six seven eight nine"],
    CLEAN_CONTACT_CENTRE,
]


@pytest.mark.parametrize("script", SCRIPTS)
@pytest.mark.parametrize("with_words", [True, False])
def test_it_never_reaches_below_the_settled_watermark(script, with_words):
    scanner = RedactionScanner()
    settled = 0
    for index, phrase in enumerate(script):
        speaker, text = phrase if isinstance(phrase, tuple) else ("external", phrase)
        words = [(word, index * 4_000 + position * 300) for position, word in enumerate(text.split())]
        scanner.feed(UtteranceText(index, index * 4_000, speaker, text, words=words if with_words else ()))
        assert all(span.first[0] >= settled for span in scanner.take_spans())
        assert scanner.settled_below() >= settled  # it only moves forward
        settled = scanner.settled_below()
        assert settled <= index + 1
    scanner.finish()
    assert all(span.first[0] >= settled for span in scanner.take_spans())


def test_it_settles_everything_before_a_real_turn_by_someone_else():
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(0, 0, "external", "my email is jane dot doe at example dot com"))
    assert scanner.settled_below() == 0  # "... dot com" may go on ("dot uk")
    scanner.feed(UtteranceText(1, 2_000, "external", "and my card is four one one one"))
    assert scanner.settled_below() == 1  # the address ended; the number may go on
    scanner.feed(UtteranceText(2, 4_000, "internal", "sorry could you repeat that"))
    assert scanner.settled_below() == 2
    assert [span.kind for span in scanner.take_spans()] == ["email"]


def test_it_holds_back_no_more_than_the_address_window_in_a_monologue():
    scanner = RedactionScanner()
    for index in range(2_000):
        scanner.feed(UtteranceText(index, index * 1_000, "external", "thanks for calling how can i help"))
        assert index + 1 - scanner.settled_below() <= EMAIL_WINDOW_TOKENS // 7 + 1
    assert scanner.finish().findings == []


def test_it_settles_an_open_number_on_request():
    scanner = RedactionScanner()
    scanner.feed(UtteranceText(0, 0, "external", "it's four one one one one one one one"))
    scanner.feed(UtteranceText(1, 1_000, "external", "one one one one one one one one"))
    assert scanner.settled_below() == 0
    scanner.settle()
    assert scanner.settled_below() == 2
    assert [span.first for span in scanner.take_spans()] == [(0, 1)]
