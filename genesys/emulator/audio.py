"""Deterministic PCM WAV audio: a tone per speaker turn, aligned to phrase timing so seeking is audible.

A recording is as long as its call. 8 kHz, 8-bit mono: 64 kbit/s, the bit rate of G.711 telephone audio, so a
twelve-minute call is under 6 MB (the emulator keeps every recording it served in memory).
"""

from __future__ import annotations

import io
import math
import wave
from functools import lru_cache

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 1  # 8-bit PCM is unsigned: 128 is silence
SILENCE = 128
WAV_HEADER_BYTES = 44
FADE_SAMPLES = 80  # 10 ms ramps avoid clicks at turn boundaries

# Two alternating pitches per speaker, so consecutive turns of the same speaker are distinguishable too.
SPEAKER_TONES = {"ivr": (330, 349), "agent": (440, 494), "customer": (587, 659)}


def wav_size(duration_ms: int) -> int:
    return WAV_HEADER_BYTES + _samples(duration_ms) * SAMPLE_WIDTH


def render_wav(duration_ms: int, turns: list[tuple[int, int, str]]) -> bytes:
    """Mono 8 kHz 8-bit WAV of `duration_ms`; each (offset_ms, length_ms, speaker) turn is a tone, the rest silence."""
    total = _samples(duration_ms)
    pcm = bytearray([SILENCE]) * total
    turn_counts: dict[str, int] = {}
    for offset_ms, length_ms, speaker in turns:
        start = _samples(offset_ms)
        if start >= total:
            break
        end = min(total, start + _samples(length_ms))
        count = turn_counts.get(speaker, 0)
        turn_counts[speaker] = count + 1
        frequency = SPEAKER_TONES.get(speaker, SPEAKER_TONES["agent"])[count % 2]
        pcm[start:end] = _tone(frequency, end - start)
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    return out.getvalue()


def _samples(ms: int) -> int:
    return max(0, ms) * SAMPLE_RATE // 1000


def _tone(frequency: int, length: int) -> bytearray:
    second = _one_second(frequency)  # integer frequencies repeat exactly every second
    samples = bytearray(second * (length // SAMPLE_RATE + 1))[:length]
    ramp = min(FADE_SAMPLES, length // 2)
    for i in range(ramp):
        factor = i / ramp
        samples[i] = SILENCE + int((samples[i] - SILENCE) * factor)
        samples[length - 1 - i] = SILENCE + int((samples[length - 1 - i] - SILENCE) * factor)
    return samples


@lru_cache(maxsize=16)
def _one_second(frequency: int) -> bytes:
    # A fundamental plus a weaker harmonic sounds less harsh than a pure sine.
    return bytes(
        SILENCE
        + int(
            60 * math.sin(2 * math.pi * frequency * n / SAMPLE_RATE)
            + 20 * math.sin(4 * math.pi * frequency * n / SAMPLE_RATE)
        )
        for n in range(SAMPLE_RATE)
    )
