"""Real speech for the emulator's recordings: espeak-ng, heard through a telephone line.

espeak-ng comes from the `espeakng-loader` wheel (it bundles libespeak-ng.so and espeak-ng-data), driven through
ctypes: nothing from the system, no downloads. espeak-ng speaks at 22050 Hz; each phrase is resampled to the
recording's 8 kHz with an FFT (which is an ideal anti-alias low-pass) and band-limited to the telephone band
(300-3400 Hz) in the same step. The phrases are then placed on a line that hisses all through the call (white
noise about LINE_SNR_DB below speech, from a generator seeded by the call, so the same call always gives the
same bytes) and written in audio.py's format.

espeak-ng keeps global state (one voice, one callback) and is not thread-safe, and the emulator serves requests
from several threads: every synthesis holds `_ESPEAK_LOCK`. Phrases are cached (calls repeat their scripted
lines), so rendering a call costs little more than writing its WAV.
"""

from __future__ import annotations

import _ctypes
import ctypes
import hashlib
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import espeakng_loader
import numpy as np

from .audio import SAMPLE_RATE, SILENCE, samples_in, wav_bytes

# (voice, pitch 0-100) per speaker, so the agent, the caller and the IVR sound like different people. One voice
# at three pitches: espeak-ng's variant voices (en-us+m3, +f2, ...) measured 8-18 points more word errors with
# pocketsphinx than plain en-us, and the bench is about the engine, not about espeak's variants.
SPEAKER_VOICES = {"ivr": ("en-us", 65), "agent": ("en-us", 50), "customer": ("en-us", 40)}
DEFAULT_WPM = 150  # slower than espeak's 175: measured fewer word errors (145-160 wpm alike, 175 worse)
MIN_WPM, MAX_WPM = 120, 320  # past 320 wpm espeak-ng's speech is no longer intelligible: truncate instead
TELEPHONE_BAND_HZ = (300, 3400)
BAND_EDGE_HZ = 150  # raised-cosine roll-off each side of the band: a brick wall would ring
SPEECH_RMS = 0.15  # loudness every phrase is brought to (full scale 1.0), leaving headroom for peaks
LINE_SNR_DB = 27  # a fair telephone line: the hiss is heard all through the call, every word still clear
NOISE_LOOP_SAMPLES = 8 * SAMPLE_RATE  # the hiss repeats every 8 s: unnoticeable, and memory stays bounded
FADE_SAMPLES = 80  # 10 ms ramp where speech is cut at the next line, so the cut does not click
FULL_SCALE = 127
SILENCE_THRESHOLD = 200  # |int16| below this at the ends of espeak's output is its padding, trimmed

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAMETER_RATE = 1
_PARAMETER_PITCH = 3
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_ESPEAK_LOCK = threading.Lock()
RANDOM_SEED = 15  # any fixed seed: the same phrase is the same samples on every run
ESPEAK_RATE = 22050  # what espeak-ng's voices are synthesised at (espeak_Initialize answers it)


@dataclass(frozen=True)
class SpokenLine:
    """One line of a recording: said by `speaker`, starting `offset_ms` in, fitted to `slot_ms` where it can be."""

    offset_ms: int
    slot_ms: int
    speaker: str  # "ivr" | "agent" | "customer"
    text: str
    wpm: int = DEFAULT_WPM  # the pace it is said at when it fits its slot


def synthesize(text: str, *, speaker: str = "agent", wpm: int = DEFAULT_WPM, seed: str = "clip") -> bytes:
    """A short telephone WAV (8 kHz, 8-bit mono, line noise from `seed`) of `text`, half a second of line each side."""
    clip = phrase_samples(text, speaker, wpm)
    duration_ms = len(clip) * 1000 // SAMPLE_RATE + 1000
    return render_speech(duration_ms, [SpokenLine(500, duration_ms - 1000, speaker, text, wpm)], seed=seed)


def render_speech(duration_ms: int, lines: list[SpokenLine], *, seed: str) -> bytes:
    """The WAV of a whole recording: each line spoken in its slot, the line's noise everywhere else."""
    lines = sorted(lines, key=lambda line: line.offset_ms)  # each line may run on until the next one starts
    placed = []
    for index, line in enumerate(lines):
        following = lines[index + 1].offset_ms if index + 1 < len(lines) else duration_ms
        placed.append((line.offset_ms, _fitted(line, room_ms=min(following, duration_ms) - line.offset_ms)))
    return _line_recording(duration_ms, placed, seed=seed)


def _fitted(line: SpokenLine, *, room_ms: int) -> np.ndarray:
    """The line spoken fast enough to fit its slot (up to MAX_WPM); cut at the next line when even that is too slow."""
    clip = phrase_samples(line.text, line.speaker, line.wpm)
    slot = max(1, line.slot_ms * SAMPLE_RATE // 1000)
    if len(clip) > slot:
        wanted = line.wpm * len(clip) / slot
        wpm = min(MAX_WPM, max(MIN_WPM, int(-(-wanted // 10) * 10)))  # tens of wpm, so fitted lines cache too
        clip = phrase_samples(line.text, line.speaker, wpm)
    room = max(0, room_ms * SAMPLE_RATE // 1000)
    return clip[:room] if len(clip) > room else clip


@lru_cache(maxsize=512)
def phrase_samples(text: str, speaker: str, wpm: int) -> np.ndarray:
    """`text` said by `speaker` at `wpm`: float32 samples at 8 kHz in the telephone band, at SPEECH_RMS (read-only)."""
    voice, pitch = SPEAKER_VOICES.get(speaker, SPEAKER_VOICES["agent"])
    raw = _espeak(text, voice, pitch=pitch, wpm=wpm)
    loud = np.flatnonzero(np.abs(raw) >= SILENCE_THRESHOLD)
    if not len(loud):
        return np.zeros(0, dtype=np.float32)
    phone = _telephone_band(raw[loud[0] : loud[-1] + 1].astype(np.float64), ESPEAK_RATE)
    rms = float(np.sqrt(np.mean(phone**2))) or 1.0
    samples = np.clip(phone * (SPEECH_RMS / rms), -1.0, 1.0).astype(np.float32)
    samples.flags.writeable = False  # shared by every call that says this line
    return samples


def _telephone_band(samples: np.ndarray, rate: int) -> np.ndarray:
    """Resample to 8 kHz keeping only 300-3400 Hz: the spectrum above 4 kHz (which would alias) is dropped."""
    count = len(samples)
    out_count = max(1, round(count * SAMPLE_RATE / rate))
    spectrum = np.fft.rfft(samples)
    kept = out_count // 2 + 1
    frequencies = np.arange(kept) * rate / count
    low, high = TELEPHONE_BAND_HZ
    gain = _raised_cosine((frequencies - (low - BAND_EDGE_HZ)) / BAND_EDGE_HZ)
    gain *= _raised_cosine(((high + BAND_EDGE_HZ) - frequencies) / BAND_EDGE_HZ)
    band = spectrum[:kept] * gain[: len(spectrum[:kept])]
    return np.fft.irfft(band, out_count) * (out_count / count)


def _raised_cosine(position: np.ndarray) -> np.ndarray:
    """0 below 0, 1 above 1, a smooth half cosine between."""
    clipped = np.clip(position, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * clipped)


# ---------------------------------------------------------------------------------------------- the line


def _line_recording(duration_ms: int, placed: list[tuple[int, np.ndarray]], *, seed: str) -> bytes:
    """Mono 8 kHz 8-bit WAV of `duration_ms`: each (offset_ms, float samples at 8 kHz) is heard from its offset
    (cut at the end of the call), the line's noise everywhere."""
    total = samples_in(duration_ms)
    noise = _line_noise(seed)
    pcm = np.resize(_quantised(noise), total)  # np.resize repeats the loop to the call's length
    for offset_ms, samples in placed:
        start = samples_in(offset_ms)
        length = min(len(samples), total - start)
        if length <= 0:
            continue
        speech = _faded(samples[:length]) if length < len(samples) else samples
        positions = np.arange(start, start + length) % NOISE_LOOP_SAMPLES
        pcm[start : start + length] = _quantised(speech + noise[positions])
    return wav_bytes(pcm.tobytes())


def _line_noise(seed: str) -> np.ndarray:
    # A string seed through sha256, so it does not depend on PYTHONHASHSEED (as data.py's seeds).
    generator = np.random.Generator(np.random.PCG64(int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8])))
    level = SPEECH_RMS / 10 ** (LINE_SNR_DB / 20)
    return (generator.standard_normal(NOISE_LOOP_SAMPLES) * level).astype(np.float32)


def _faded(samples: np.ndarray) -> np.ndarray:
    ramp = min(FADE_SAMPLES, len(samples))
    faded = samples.copy()
    faded[len(faded) - ramp :] *= np.linspace(1.0, 0.0, ramp, dtype=np.float32)
    return faded


def _quantised(samples: np.ndarray) -> np.ndarray:
    return (np.clip(np.rint(samples * FULL_SCALE), -FULL_SCALE - 1, FULL_SCALE) + SILENCE).astype(np.uint8)


# ---------------------------------------------------------------------------------------------- espeak-ng


def _espeak(text: str, voice: str, *, pitch: int, wpm: int) -> np.ndarray:
    """int16 samples at ESPEAK_RATE of `text` (plain text, not SSML).

    The library is loaded afresh for every phrase and unloaded after it, with a fixed random seed: espeak-ng
    seeds its noise from the clock, and keeps static state across phrases that even espeak_Terminate does not
    reset. Otherwise a phrase would sound slightly different on every run and after every other phrase, and a
    recording's bytes would not be reproducible. A load costs a few milliseconds; phrases are cached.
    """
    chunks: list[bytes] = []

    def collect(wav, count, _events) -> int:
        if wav and count > 0:
            chunks.append(ctypes.string_at(wav, count * 2))
        return 0  # 0: go on synthesising

    callback = _SYNTH_CALLBACK(collect)
    encoded = text.encode("utf-8") + b"\0"
    with _ESPEAK_LOCK, _fresh_library() as library:
        library.espeak_SetSynthCallback(callback)
        if library.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak-ng has no voice {voice!r}")
        library.espeak_SetParameter(_PARAMETER_RATE, wpm, 0)
        library.espeak_SetParameter(_PARAMETER_PITCH, pitch, 0)
        status = library.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        library.espeak_Synchronize()
    if status != 0:
        raise RuntimeError(f"espeak-ng could not synthesise (error {status})")
    return np.frombuffer(b"".join(chunks), dtype=np.int16)


@contextmanager
def _fresh_library():
    library = ctypes.CDLL(espeakng_loader.get_library_path())
    library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    library.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    library.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    library.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int]
    library.espeak_Synth.argtypes += [ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    # Synchronous: espeak_Synth returns once every sample went through the callback (no audio device, no thread).
    rate = library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, espeakng_loader.get_data_path().encode(), 0)
    try:
        if rate != ESPEAK_RATE:
            raise RuntimeError(f"espeak-ng failed to initialise (rate {rate})")
        library.espeak_ng_SetRandSeed(RANDOM_SEED)  # espeak_Initialize seeds its noise from the clock
        yield library
    finally:
        library.espeak_Terminate()
        _ctypes.dlclose(library._handle)  # unloaded, so the next phrase starts from espeak-ng's initial state
