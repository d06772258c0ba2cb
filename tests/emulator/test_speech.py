"""Recordings carry real speech: espeak-ng phrases in the telephone band, on a noisy 8 kHz line (speech.py, audio.py)."""

from __future__ import annotations

import io
import wave

import numpy as np

from genesys.emulator import generate_dataset
from genesys.emulator.audio import SAMPLE_RATE
from genesys.emulator.data import MASK_TOKENS, PLANTED_CARD_NUMBER, SimPhrase, spoken_text
from genesys.emulator.speech import (
    DEFAULT_WPM,
    LINE_SNR_DB,
    SPEECH_RMS,
    SpokenLine,
    phrase_samples,
    render_speech,
    synthesize,
)
from tests.emulator.support import END, START

GREETING = "Thanks for calling Northwind Bank, how can I help?"
LONG_LINE = "Thanks for waiting, I'm still looking at the account and the notes from your last call."


def _pcm(wav: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav)) as reader:
        assert (reader.getnchannels(), reader.getsampwidth(), reader.getframerate()) == (1, 1, SAMPLE_RATE)
        frames = reader.readframes(reader.getnframes())
    return (np.frombuffer(frames, dtype=np.uint8).astype(np.float64) - 128) / 127


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(samples**2)))


def _window(pcm: np.ndarray, start_ms: int, end_ms: int) -> np.ndarray:
    return pcm[start_ms * SAMPLE_RATE // 1000 : end_ms * SAMPLE_RATE // 1000]


def test_it_synthesizes_a_telephone_clip_with_speech_between_line_noise():
    pcm = _pcm(synthesize(GREETING))
    speech, before, after = _window(pcm, 500, len(pcm) // 8 - 500), _window(pcm, 0, 450), pcm[-450 * 8 :]
    assert len(pcm) > 2 * SAMPLE_RATE  # a dozen words take a couple of seconds
    assert _rms(speech) > 0.5 * SPEECH_RMS
    # The line hisses before and after the speech, about LINE_SNR_DB below it (8-bit rounding adds a little).
    for quiet in (before, after):
        snr_db = 20 * np.log10(_rms(speech) / _rms(quiet))
        assert LINE_SNR_DB - 6 < snr_db < LINE_SNR_DB + 6, snr_db


def test_it_keeps_speech_inside_the_telephone_band():
    samples = phrase_samples(GREETING, "agent", DEFAULT_WPM).astype(np.float64)
    power = np.abs(np.fft.rfft(samples)) ** 2
    frequencies = np.fft.rfftfreq(len(samples), 1 / SAMPLE_RATE)
    outside = power[(frequencies < 140) | (frequencies > 3560)].sum()
    assert outside < 1e-4 * power.sum()  # nothing under the band, and nothing near 4 kHz that could alias


def test_it_gives_the_same_bytes_for_the_same_seed_and_other_noise_for_another():
    assert synthesize(GREETING, seed="a") == synthesize(GREETING, seed="a")
    assert synthesize(GREETING, seed="a") != synthesize(GREETING, seed="b")


def test_it_gives_each_speaker_a_different_voice():
    agent, customer = phrase_samples(GREETING, "agent", 160), phrase_samples(GREETING, "customer", 160)
    assert len(agent) != len(customer) or not np.array_equal(agent, customer)


def test_it_speaks_faster_to_fit_a_short_slot():
    natural_ms = len(phrase_samples(LONG_LINE, "agent", DEFAULT_WPM)) * 1000 // SAMPLE_RATE
    slot_ms = natural_ms * 3 // 4
    pcm = _pcm(render_speech(8_000, [SpokenLine(1_000, slot_ms, "agent", LONG_LINE)], seed="fit"))
    assert _rms(_window(pcm, 1_000, 1_000 + slot_ms)) > 0.5 * SPEECH_RMS
    # Spoken at a higher rate, the line is over by the end of its slot: only the line's hiss after it.
    assert _rms(_window(pcm, 1_050 + slot_ms, 1_000 + natural_ms)) < 0.2 * SPEECH_RMS


def test_it_cuts_a_line_at_the_next_one_when_even_the_fastest_pace_is_too_slow():
    lines = [SpokenLine(500, 300, "agent", LONG_LINE), SpokenLine(1_500, 1_000, "customer", "Okay.")]
    pcm = _pcm(render_speech(6_000, lines, seed="cut"))
    assert _rms(_window(pcm, 500, 1_400)) > 0.5 * SPEECH_RMS  # the first line talks right up to the second
    assert _rms(_window(pcm, 2_100, 6_000)) < 0.2 * SPEECH_RMS  # and nothing of it is heard after that


def test_it_speaks_a_transcribed_call_in_its_phrases_time_slots(dataset):
    conv = next(c for c in dataset.conversations if c.transcript and c.transcript.kind == "normal")
    pcm = _pcm(conv.wav_bytes())
    turns = conv.speech_turns()
    for offset_ms, slot_ms, _ in turns[:6]:
        assert _rms(_window(pcm, offset_ms, offset_ms + slot_ms)) > 0.4 * SPEECH_RMS, offset_ms
    assert _rms(_window(pcm, 0, turns[0][0])) < 0.2 * SPEECH_RMS  # the line before the first phrase


def test_it_says_nothing_for_a_mask_token():
    decorated = "The card number is [card number], and the expiry date is [card expiry date]."
    spoken = spoken_text(SimPhrase(0, "external", decorated, 0, 1_000))
    assert spoken == "The card number is , and the expiry date is ."


def test_it_writes_a_script_for_a_call_without_a_transcript_and_speaks_it(dataset):
    untranscribed = [c for c in dataset.conversations if c.transcript is None]
    assert untranscribed
    for conv in untranscribed:
        phrases = conv.spoken_phrases
        assert phrases and phrases == conv.spoken_script
        assert phrases[-1].offset_ms + phrases[-1].duration_ms <= conv.duration_ms
        # Nobody redacted this audio: the words are what was said, never a mask token.
        assert not any(f"[{token}]" in p.decorated for p in phrases for token in MASK_TOKENS)
    conv = untranscribed[0]
    pcm = _pcm(conv.wav_bytes())
    offset_ms, slot_ms, _ = conv.speech_turns()[0]
    assert _rms(_window(pcm, offset_ms, offset_ms + slot_ms)) > 0.4 * SPEECH_RMS


def test_it_plants_searchable_words_in_some_untranscribed_calls_and_records_them():
    many = generate_dataset(21, 200, START, END)
    untranscribed = [c for c in many.conversations if c.transcript is None]
    planted = [c for c in untranscribed if c.planted_phrase]
    assert 0 < len(planted) < len(untranscribed)
    for conv in planted:
        said = " ".join(p.text for p in conv.spoken_script)
        assert conv.planted_phrase in said, conv.conversation_id
    assert all(c.planted_phrase is None and not c.spoken_script for c in many.conversations if c.transcript)
    # One is a card number read out as digit words, for the leak detector to find in the recognised text.
    card = next(c for c in planted if c.planted_phrase == PLANTED_CARD_NUMBER)
    line = next(p.text for p in card.spoken_script if PLANTED_CARD_NUMBER in p.text)
    assert len(line.split()) == 4 + 16


def test_it_says_a_phrase_the_same_way_whatever_was_said_before():
    phrase_samples.cache_clear()
    first = phrase_samples(GREETING, "agent", DEFAULT_WPM).copy()
    phrase_samples(LONG_LINE, "customer", 200)  # espeak-ng's own state moves on with every phrase it says
    phrase_samples.cache_clear()
    assert np.array_equal(phrase_samples(GREETING, "agent", DEFAULT_WPM), first)
