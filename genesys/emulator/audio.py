"""The emulator's recording format: 8 kHz, 8-bit unsigned mono PCM WAV, as long as the call.

8 kHz 8-bit mono is 64 kbit/s, the bit rate of G.711 telephone audio, so a twelve-minute call is under 6 MB (the
emulator keeps every recording it served in memory). What the recording says is speech.py's; this module only
knows the format, so sizes (`wav_size`, the recordings API's outputSizeInBytes) need no audio libraries.
"""

from __future__ import annotations

import io
import wave

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 1  # 8-bit PCM is unsigned: 128 is silence
SILENCE = 128
WAV_HEADER_BYTES = 44


def wav_size(duration_ms: int) -> int:
    return WAV_HEADER_BYTES + samples_in(duration_ms) * SAMPLE_WIDTH


def samples_in(ms: int) -> int:
    return max(0, ms) * SAMPLE_RATE // 1000


def wav_bytes(pcm: bytes) -> bytes:
    """8-bit unsigned mono samples at SAMPLE_RATE as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(pcm)
    return out.getvalue()
