from __future__ import annotations

import io
import struct
import wave

import pytest

from reviews.asr import engine
from reviews.asr.engine import (
    ENGINE_NAME,
    SPOTTED_CONFIDENCE,
    AudioUnreadable,
    RecognisedWord,
    SpottedPhrase,
    read_wav_as_mono_16bit,
    transcribe_wav,
    upsample,
    upsample_band_limited,
    upsample_linear,
    with_spotted_phrases,
)
from tests.asr.conftest import GREETING, PAUSE_MS, SPOKEN_PHRASE, recognised, recognised_call, spoken_wav


def wav_bytes(frames: bytes, *, width: int, channels: int = 1, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return out.getvalue()


def test_it_recognises_a_telephone_call_with_timed_words_and_probabilities():
    # The clip is 8 kHz 8-bit: the shipped model is wideband, so this only works because it is upsampled.
    recognition = recognised()

    assert [word.text for word in recognition.words] == SPOKEN_PHRASE.split()
    starts = [word.start_ms for word in recognition.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(word.start_ms < word.end_ms for word in recognition.words)
    assert all(0.0 <= word.confidence <= 1.0 for word in recognition.words)
    assert (recognition.engine, recognition.model.startswith("en-us (pocketsphinx ")) == (ENGINE_NAME, True)
    assert 2000 < recognition.audio_ms < 4000
    assert recognition.cpu_seconds > 0


def test_it_times_words_from_the_start_of_the_recording_across_pauses():
    words = recognised_call().words

    assert [word.text for word in words] == (GREETING + " " + SPOKEN_PHRASE).split()
    greeting_ms = 1660
    # The second turn is decoded as its own utterance; its words keep their place in the recording.
    assert words[2].start_ms > greeting_ms + PAUSE_MS - 500
    assert words[1].end_ms < greeting_ms


def test_it_reads_unsigned_8_bit_samples_around_128():
    samples, rate = read_wav_as_mono_16bit(wav_bytes(bytes([128, 255, 0]), width=1))

    assert (list(samples), rate) == ([0, 127 << 8, -128 << 8], 8000)


def test_it_reads_signed_16_bit_little_endian_samples():
    samples, rate = read_wav_as_mono_16bit(wav_bytes(struct.pack("<3h", 0, 1234, -32768), width=2, rate=16000))

    assert (list(samples), rate) == ([0, 1234, -32768], 16000)


def test_it_averages_stereo_channels_to_mono():
    stereo = struct.pack("<4h", 1000, 3000, -2000, 0)  # two frames, left then right

    samples, _ = read_wav_as_mono_16bit(wav_bytes(stereo, width=2, channels=2))

    assert list(samples) == [2000, -1000]


def test_it_upsamples_by_interpolating_between_neighbours():
    from array import array

    upsampled = upsample_linear(array("h", [0, 100, 300]), source_rate=8000, target_rate=16000)

    assert list(upsampled) == [0, 50, 100, 200, 300, 300]


def _tone(frequency: float, *, rate: int, seconds: float = 1.0):
    import numpy as np

    t = np.arange(int(rate * seconds)) / rate
    return np.rint(8000 * np.sin(2 * np.pi * frequency * t)).astype(np.int16)


def test_it_upsamples_telephone_audio_without_images_above_its_band():
    from array import array

    import numpy as np

    # A 3 kHz tone at 8 kHz: linear interpolation leaves an image at 5 kHz, where the model's upper mel filters
    # listen; the windowed-sinc low-pass keeps the tone and nothing else.
    tone = _tone(3000, rate=8000)
    band_limited = np.array(upsample(array("h", tone.tobytes()), source_rate=8000, target_rate=16000))
    linear = np.array(upsample_linear(array("h", tone.tobytes()), source_rate=8000, target_rate=16000))

    def image_share(signal):
        spectrum = np.abs(np.fft.rfft(signal[1000:-1000]))  # away from the edges
        frequencies = np.fft.rfftfreq(len(signal) - 2000, 1 / 16000)
        return spectrum[frequencies > 4000].sum() / spectrum.sum()

    assert image_share(linear) > 0.1
    assert image_share(band_limited) < 0.01
    assert np.abs(band_limited[1000:-1000] - _tone(3000, rate=16000)[1000:-1000]).max() < 80  # of 8,000


def test_it_upsamples_long_audio_in_blocks_that_join_seamlessly(monkeypatch):
    from array import array

    import numpy as np

    from reviews.asr import engine

    tone = array("h", _tone(440, rate=8000).tobytes())
    whole = upsample_band_limited(tone, factor=2)
    monkeypatch.setattr(engine, "UPSAMPLE_BLOCK", 1000)  # 8 blocks instead of one

    assert np.array_equal(np.array(upsample_band_limited(tone, factor=2)), np.array(whole))


def test_it_keeps_linear_interpolation_for_rates_that_do_not_divide_16_khz():
    from array import array

    samples = array("h", [0, 1000, 2000, 3000, 4000, 5000])

    assert list(upsample(samples, source_rate=11025, target_rate=16000)) == list(
        upsample_linear(samples, source_rate=11025, target_rate=16000)
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a wav at all, just bytes", "not a PCM WAV file"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "not a PCM WAV file"),  # truncated header
        (wav_bytes(b"\x00\x00\x00" * 10, width=3), "unsupported sample width: 24-bit"),
        (wav_bytes(b"\x00\x00" * 10, width=2, rate=96000), "unsupported sample rate: 96000 Hz"),
    ],
)
def test_it_refuses_corrupt_or_unsupported_audio_with_a_reason(data, reason):
    with pytest.raises(AudioUnreadable, match=reason):
        transcribe_wav(data)


def test_it_refuses_a_non_pcm_wav():
    pcm = wav_bytes(b"\x80" * 800, width=1)
    alaw = pcm[:20] + struct.pack("<H", 6) + pcm[22:]  # format tag 6: A-law

    with pytest.raises(AudioUnreadable, match="not a PCM WAV file"):
        transcribe_wav(alaw)


def test_it_finds_no_words_in_silence():
    recognition = transcribe_wav(wav_bytes(bytes([128]) * 8000, width=1))

    assert (recognition.words, recognition.audio_ms) == ([], 1000)


def word(text: str, start_ms: int, end_ms: int, confidence: float = 0.9) -> RecognisedWord:
    return RecognisedWord(text=text, start_ms=start_ms, end_ms=end_ms, confidence=confidence)


def test_it_puts_a_spotted_phrase_in_place_of_what_the_language_model_heard_there():
    heard = [word("i", 0, 100), word("would", 100, 300), word("slow", 300, 500), word("my", 500, 600)]
    heard += [word("account", 600, 900), word("thanks", 1000, 1300)]

    words = with_spotted_phrases(heard, [SpottedPhrase("close my account", start_ms=300, end_ms=900)])

    assert [w.text for w in words] == ["i", "would", "close", "my", "account", "thanks"]
    assert [(w.start_ms, w.end_ms) for w in words[2:5]] == [(300, 500), (500, 700), (700, 900)]
    assert {w.confidence for w in words[2:5]} == {SPOTTED_CONFIDENCE}
    assert words[0] == heard[0] and words[-1] == heard[-1]


def test_it_keeps_what_the_language_model_heard_when_it_heard_the_phrase_too():
    heard = [word("close", 300, 500), word("my", 500, 600), word("account", 600, 900)]

    assert with_spotted_phrases(heard, [SpottedPhrase("close my account", start_ms=280, end_ms=920)]) == heard


def test_it_places_the_longer_of_two_overlapping_phrases_only():
    heard = [word("a", 0, 200), word("normal", 200, 500), word("complain", 500, 900)]
    spotted = [SpottedPhrase("complaint", start_ms=500, end_ms=900), SpottedPhrase("formal complaint", 200, 900)]

    assert [w.text for w in with_spotted_phrases(heard, spotted)] == ["a", "formal", "complaint"]


def test_it_spots_a_watch_phrase_the_language_model_cannot_hear(narrow_language_model):
    def heard(watch_phrases):
        recognition = transcribe_wav(spoken_wav(), language_model=narrow_language_model, watch_phrases=watch_phrases)
        return [w.text for w in recognition.words]

    assert "please" not in heard(())
    assert "please" in heard(("Please!",))  # normalised as the dictionary spells it
    assert heard(("close my account", "zzqx unknownword")) == heard(())  # not said; not spellable


def test_it_replaces_the_words_heard_over_a_spotted_phrase(narrow_language_model, monkeypatch):
    monkeypatch.setattr(engine, "SPOTTING_THRESHOLD", 1e-20)  # this short clip's "hold the line" scores below 1e-5

    recognition = transcribe_wav(spoken_wav(), language_model=narrow_language_model, watch_phrases=["hold the line"])

    assert [w.text for w in recognition.words] == ["hold", "the", "line"]
