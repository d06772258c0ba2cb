"""Offline speech-to-text of a call recording with pocketsphinx and the English model its wheel ships.

Pure Python around the decoder, no Django: the worker runs it in a low-priority child process
(reviews/asr/child.py) and the bench calls it directly. Nothing here downloads anything; the model is the one
inside the installed pocketsphinx package.

Telephone audio (8 kHz): the shipped model is wideband (16 kHz, mel filters 130-6800 Hz, fixed by its
feat.params, which overrides any -upperf we pass). Two ways were measured on an espeak-ng clip reduced to 8 kHz
8-bit, 22 words (a greeting and a card number as digits):
  - decoding at 8 kHz (samprate 8000, nfft 256, model copy with upperf 3500): WER 0.96, the filterbank no longer
    matches the one the model was trained on;
  - upsampling to 16 kHz by linear interpolation and decoding with the model as shipped: WER 0.71.
So rates below 16 kHz are upsampled to 16 kHz: by an integer factor (8 kHz, 2x) with a windowed-sinc low-pass
(band-limited interpolation; on 10 calls with the archive language model WER 0.27 -> 0.24 against linear
interpolation, whose images above 4 kHz land in the model's upper mel filters), other rates linearly. Rates of
16 kHz and above are decoded at their own rate (the front end picks the FFT size), which keeps the model's
filterbank inside the Nyquist band without resampling.

Only speech is decoded: pocketsphinx's endpointer (a WebRTC-style voice activity detector) finds the stretches
of speech, and each, padded with a second of its surroundings, is one decoder utterance. Silent audio therefore
yields no words, and a long call is decoded in bounded pieces.

The language model is pocketsphinx's general en-us one, or the vault's own estimated from the archive
(reviews/asr/language_model.py), which the caller hands in.

Confidence is the word's posterior probability from the decoder's lattice (see _confidence), 0..1.
"""

from __future__ import annotations

import io
import math
import sys
import tempfile
import time
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import version

import numpy as np

from reviews.asr.language_model import LanguageModel, spoken_words

ENGINE_NAME = "pocketsphinx"
MODEL_LANGUAGE = "en-us"
MODEL_SAMPLE_RATE = 16000
MAX_SAMPLE_RATE = 48000
FRAME_MS = 10  # pocketsphinx's default frame rate is 100 frames a second
# The endpointer decides speech / not speech over this window (its default 0.3 s).
VAD_WINDOW_SECONDS = 0.3
SPEECH_PADDING_MS = 1000
# Band-limited upsampling: windowed-sinc taps per output sample side, and input samples filtered per block.
SINC_ZERO_CROSSINGS = 16
UPSAMPLE_BLOCK = 1 << 16
# Keyphrase spotting of the watch phrases (_add_spotting_search). The threshold trades phrases found against
# phrases spotted that were not said; on the asr_accuracy bench's 50 calls: 1e-5 found 15 alone (4 the language
# model missed) with 1 false spot, 1e-10 17 with 6, 1e-20 21 with 26. Chosen there, then checked on 50 calls of
# another seed: planted phrases in the text 34 -> 39 of 50, no false spot.
SPOTTING_THRESHOLD = 1e-5
SPOTTING_SEARCH = "watch_phrases"
# What a spotted word is stored with: below the review page's low-confidence mark, so a reviewer checks it.
SPOTTED_CONFIDENCE = 0.5


@dataclass(frozen=True)
class RecognisedWord:
    text: str
    start_ms: int
    end_ms: int
    confidence: float  # posterior probability of the word, 0..1


@dataclass(frozen=True)
class Recognition:
    words: list[RecognisedWord]
    engine: str
    model: str
    audio_ms: int
    cpu_seconds: float


class AudioUnreadable(ValueError):
    """The bytes are not a PCM WAV this engine can decode; the message says why and never contains audio data."""


def model_name(language_model: LanguageModel | None = None) -> str:
    """The model as stored on a transcript: acoustic model, language model and the package version."""
    described = f"{MODEL_LANGUAGE} + {language_model.label}" if language_model else MODEL_LANGUAGE
    return f"{described} (pocketsphinx {version('pocketsphinx')})"


def transcribe_wav(
    wav: bytes,
    *,
    language_model: LanguageModel | None = None,
    watch_phrases: Sequence[str] = (),
    cpu_clock=time.process_time,
) -> Recognition:
    """Recognise the words in a mono or stereo PCM WAV (8-bit unsigned or 16-bit) of any sample rate.

    `watch_phrases` are also listened for on their own (keyphrase spotting, see _add_spotting_search); a phrase
    spotted where the language-model pass heard other words takes their place. Silence gives a Recognition with
    no words. Undecodable input raises AudioUnreadable.
    """
    started = cpu_clock()
    samples, sample_rate = read_wav_as_mono_16bit(wav)
    audio_ms = len(samples) * 1000 // sample_rate if sample_rate else 0
    if sample_rate < MODEL_SAMPLE_RATE:
        samples = upsample(samples, source_rate=sample_rate, target_rate=MODEL_SAMPLE_RATE)
        sample_rate = MODEL_SAMPLE_RATE
    words = _decode(samples, sample_rate=sample_rate, language_model=language_model, watch_phrases=watch_phrases)
    return Recognition(
        words=words,
        engine=ENGINE_NAME,
        model=model_name(language_model),
        audio_ms=audio_ms,
        cpu_seconds=round(cpu_clock() - started, 3),
    )


def read_wav_as_mono_16bit(wav: bytes) -> tuple[array, int]:
    """Signed 16-bit mono samples and the sample rate; stereo (or more channels) is averaged down to mono."""
    try:
        with wave.open(io.BytesIO(wav), "rb") as reader:
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            rate = reader.getframerate()
            frames = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError) as error:
        # wave.Error says what is wrong with the header ("unknown format: 85", "file does not start with RIFF id")
        raise AudioUnreadable(f"not a PCM WAV file: {error}") from None
    if width not in (1, 2):
        raise AudioUnreadable(f"unsupported sample width: {width * 8}-bit (8-bit or 16-bit PCM expected)")
    if rate <= 0 or channels <= 0:
        raise AudioUnreadable("WAV header has no sample rate or channel count")
    if rate > MAX_SAMPLE_RATE:
        # The voice activity detector works up to 48 kHz; no call recording is sampled faster.
        raise AudioUnreadable(f"unsupported sample rate: {rate} Hz (at most {MAX_SAMPLE_RATE} Hz)")
    samples = _to_signed_16bit(frames, width=width)
    # A truncated file can end mid-frame; keep whole frames only.
    samples = samples[: len(samples) - len(samples) % channels]
    return _downmix(samples, channels=channels), rate


def upsample(samples: array, *, source_rate: int, target_rate: int) -> array:
    """Up to target_rate: band-limited for an integer factor (8 -> 16 kHz), linear interpolation otherwise."""
    if target_rate % source_rate == 0:
        return upsample_band_limited(samples, factor=target_rate // source_rate)
    return upsample_linear(samples, source_rate=source_rate, target_rate=target_rate)


def upsample_band_limited(samples: array, *, factor: int) -> array:
    """Zero-stuff by `factor` and low-pass at the old Nyquist frequency (a Hann-windowed sinc).

    Nothing new appears above the source's band, where linear interpolation leaves images of the speech. Filtered
    in blocks (with the filter's reach as overlap), so memory stays bounded on an hour-long call.
    """
    source = np.frombuffer(samples.tobytes(), dtype=np.int16).astype(np.float32)
    taps = _sinc_taps(factor)
    reach = len(taps) // 2 // factor + 1  # input samples the filter sees beyond a block on each side
    out = np.empty(len(source) * factor, dtype=np.int16)
    for start in range(0, len(source), UPSAMPLE_BLOCK):
        stop = min(len(source), start + UPSAMPLE_BLOCK)
        low, high = max(0, start - reach), min(len(source), stop + reach)
        stuffed = np.zeros((high - low) * factor, dtype=np.float32)
        stuffed[::factor] = source[low:high]
        filtered = np.convolve(stuffed, taps, mode="same")[(start - low) * factor : (stop - low) * factor]
        out[start * factor : stop * factor] = np.clip(np.rint(filtered), -32768, 32767)
    return array("h", out.tobytes())


def _sinc_taps(factor: int) -> np.ndarray:
    # sinc(n / factor) is 1 at every input sample and 0 at the others' positions: each original sample passes
    # unchanged and the gain of the zero-stuffed signal is restored.
    n = np.arange(-SINC_ZERO_CROSSINGS * factor, SINC_ZERO_CROSSINGS * factor + 1)
    return (np.sinc(n / factor) * np.hanning(len(n) + 2)[1:-1]).astype(np.float32)


def upsample_linear(samples: array, *, source_rate: int, target_rate: int) -> array:
    """Linear interpolation up to target_rate, for rates that are not an integer fraction of it."""
    if not samples:
        return array("h")
    step = source_rate / target_rate
    last = len(samples) - 1
    count = len(samples) * target_rate // source_rate
    out = array("h", bytes(2 * count))
    for i in range(count):
        position = i * step
        left = int(position)
        right = left + 1 if left < last else last
        fraction = position - left
        out[i] = int(samples[left] + (samples[right] - samples[left]) * fraction)
    return out


def _to_signed_16bit(frames: bytes, *, width: int) -> array:
    if width == 2:
        samples = array("h")
        samples.frombytes(frames[: len(frames) - len(frames) % 2])
        if sys.byteorder == "big":  # WAV is little-endian
            samples.byteswap()
        return samples
    # 8-bit WAV is unsigned with 128 as silence.
    return array("h", map(_EIGHT_BIT_TO_16.__getitem__, frames))


_EIGHT_BIT_TO_16 = tuple((value - 128) << 8 for value in range(256))


def _downmix(samples: array, *, channels: int) -> array:
    if channels == 1:
        return samples
    return array("h", (sum(samples[i : i + channels]) // channels for i in range(0, len(samples), channels)))


def _decode(
    samples: array, *, sample_rate: int, language_model: LanguageModel | None, watch_phrases: Sequence[str]
) -> list[RecognisedWord]:
    """Decode each stretch of speech the voice activity detector finds, as its own utterance.

    Only speech is decoded: silence and line noise between turns cost nothing, a silent recording yields no
    words (decoding digital silence as one utterance measured a hallucinated word), and a long call is many
    short utterances, so the search's memory stays bounded.
    """
    decoder = _new_decoder(sample_rate, language_model=language_model)
    spotting = _add_spotting_search(decoder, watch_phrases)
    words: list[RecognisedWord] = []
    for offset_ms, pcm in _speech_segments(samples, sample_rate=sample_rate):
        heard = [
            RecognisedWord(_spelling(segment.word), *_span_ms(segment, offset_ms), _confidence(segment.prob))
            for segment in _utterance(decoder, pcm)
            if _is_word(segment.word)
        ]
        if spotting:
            decoder.activate_search(SPOTTING_SEARCH)
            spotted = [
                SpottedPhrase(segment.word.strip(), *_span_ms(segment, offset_ms))
                for segment in _utterance(decoder, pcm)
            ]
            decoder.activate_search()  # back to the language model
            heard = with_spotted_phrases(heard, spotted)
        words += heard
    return words


def _utterance(decoder, pcm: bytes) -> list:
    decoder.start_utt()
    # full_utt=True: the model's feat.params asks for batch cepstral mean normalisation (over the whole
    # utterance), which measured better than the live estimate that feeding chunks uses.
    decoder.process_raw(pcm, False, True)
    decoder.end_utt()
    return list(decoder.seg() or ())  # a spotting search that spotted nothing has no segments at all


def _span_ms(segment, offset_ms: int) -> tuple[int, int]:
    """(start_ms, end_ms) of a decoder segment in the recording; its frames count from the utterance's start."""
    return offset_ms + segment.start_frame * FRAME_MS, offset_ms + (segment.end_frame + 1) * FRAME_MS


@dataclass(frozen=True)
class SpottedPhrase:
    text: str
    start_ms: int
    end_ms: int


def _add_spotting_search(decoder, phrases: Sequence[str]) -> bool:
    """Add the keyphrase search for the watch phrases the dictionary can spell; False when there are none.

    Why a second pass: the language-model pass weighs a watch phrase against everything else a call says and,
    on the emulator's calls, heard "close my account" as "slow my account" or "card number is" as "card im
    really". The spotting search weighs the phrase only against a loop of phones, so it catches a good share
    of those (asr_accuracy bench: 35 of 50 planted phrases in the language-model text, 39 of 50 with spotting,
    one phrase spotted that was not said; docs/benchmarks.md) for about a fifth more CPU.
    """
    spellable = sorted({p for p in map(spoken_words, phrases) if p and all(decoder.lookup_word(w) for w in p.split())})
    if not spellable:
        return False
    # pocketsphinx reads a keyphrase list only from a file: phrases and thresholds, never call audio or text.
    with tempfile.NamedTemporaryFile("w", suffix=".kws", encoding="utf-8") as keyphrases:
        keyphrases.write("".join(f"{phrase} /{SPOTTING_THRESHOLD:g}/\n" for phrase in spellable))
        keyphrases.flush()
        decoder.add_kws(SPOTTING_SEARCH, keyphrases.name)
    return True


def with_spotted_phrases(words: list[RecognisedWord], spotted: list[SpottedPhrase]) -> list[RecognisedWord]:
    """`words` with each spotted phrase the language-model pass did not hear put in place of what it heard there.

    A phrase replaces the words whose middle falls inside its span; its own words share the span evenly, with
    SPOTTED_CONFIDENCE (the spotting search gives no posterior). Longer phrases go first, and a phrase that
    overlaps one already placed ("complaint" inside "formal complaint") is left out.
    """
    placed: list[SpottedPhrase] = []
    for phrase in sorted(spotted, key=lambda p: (-len(p.text.split()), p.start_ms)):
        if any(phrase.start_ms < other.end_ms and other.start_ms < phrase.end_ms for other in placed):
            continue
        inside = [w for w in words if phrase.start_ms <= (w.start_ms + w.end_ms) // 2 < phrase.end_ms]
        placed.append(phrase)
        if f" {phrase.text} " not in f" {' '.join(w.text for w in inside)} ":
            words = sorted([w for w in words if w not in inside] + _phrase_words(phrase), key=lambda w: w.start_ms)
    return words


def _phrase_words(phrase: SpottedPhrase) -> list[RecognisedWord]:
    texts = phrase.text.split()
    step = (phrase.end_ms - phrase.start_ms) / len(texts)
    return [
        RecognisedWord(
            text=text,
            start_ms=phrase.start_ms + round(i * step),
            end_ms=phrase.start_ms + round((i + 1) * step),
            confidence=SPOTTED_CONFIDENCE,
        )
        for i, text in enumerate(texts)
    ]


def _speech_segments(samples: array, *, sample_rate: int):
    """(offset_ms, 16-bit PCM bytes) of each speech region found by pocketsphinx's own endpointer (WebRTC-style
    VAD), widened by SPEECH_PADDING_MS each side: the decoder expects silence around an utterance, and the VAD
    cuts a soft onset. Regions that touch once widened are merged."""
    from pocketsphinx import Segmenter

    segmenter = Segmenter(sample_rate=sample_rate, window=VAD_WINDOW_SECONDS)
    pad = SPEECH_PADDING_MS * sample_rate // 1000
    regions: list[list[int]] = []
    for segment in segmenter.segment(io.BytesIO(samples.tobytes())):
        start = max(0, int(segment.start_time * sample_rate) - pad)
        end = min(len(samples), int(segment.end_time * sample_rate) + pad)
        if regions and start <= regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], end)
        else:
            regions.append([start, end])
    for start, end in regions:
        yield start * 1000 // sample_rate, samples[start:end].tobytes()


def _new_decoder(sample_rate: int, *, language_model: LanguageModel | None):
    # Imported here so importing this module (and Django start-up) never loads the native library.
    from pocketsphinx import Decoder

    if language_model is None:
        return Decoder(samprate=sample_rate, loglevel="ERROR")
    return Decoder(samprate=sample_rate, loglevel="ERROR", lm=language_model.path)


def _is_word(token: str) -> bool:
    # <s>, </s>, <sil> and [NOISE]/[SPEECH] are the model's fillers (its noisedict), not words.
    return bool(token) and token[0] not in "<[+"


def _spelling(token: str) -> str:
    # Alternative pronunciations come back as "read(2)"; the word is the same.
    return token.split("(", 1)[0]


def _confidence(posterior: float) -> float:
    """The word's posterior probability from the lattice (the bestpath pass, on by default).

    The C library keeps it as a log in the decoder's logmath base (ps_seg_prob); the Python binding's
    Segment.prob already applies logmath_exp, so it arrives as a probability. Rounded and clamped because
    log-add rounding can put it a hair outside 0..1.
    """
    if math.isnan(posterior):
        return 0.0
    return round(min(1.0, max(0.0, posterior)), 4)
