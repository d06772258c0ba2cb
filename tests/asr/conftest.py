from __future__ import annotations

import io
import wave
from functools import cache
from pathlib import Path

import pytest

from reviews.asr import language_model
from reviews.asr.engine import Recognition, transcribe_wav
from reviews.asr.language_model import LanguageModel, write_language_model

# Telephone recordings (8 kHz, 8-bit mono, line noise) made once with genesys/emulator/speech.py and kept as files:
# espeak-ng's output depends on what it said before in the process, so synthesising here would not be repeatable.
AUDIO = Path(__file__).parent / "audio"
SPOKEN_PHRASE = "please hold the line"
GREETING = "good morning"
PAUSE_MS = 2500  # a pause between turns long enough to start a new phrase and a new decoder utterance


@cache
def spoken_wav(name: str = "please-hold-the-line") -> bytes:
    return (AUDIO / f"{name}.wav").read_bytes()


@cache
def spoken_call() -> bytes:
    """A two-turn call: the greeting, a pause of line silence, then the spoken phrase."""
    frames = []
    for name in ("good-morning", "please-hold-the-line"):
        with wave.open(io.BytesIO(spoken_wav(name))) as reader:
            frames.append(reader.readframes(reader.getnframes()))
    silence = bytes([128]) * (8000 * PAUSE_MS // 1000)
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(1)
        writer.setframerate(8000)
        writer.writeframes(frames[0] + silence + frames[1])
    return out.getvalue()


@cache
def recognised(name: str = "please-hold-the-line") -> Recognition:
    """The engine's recognition of a kept recording, decoded once per test run (about a second of CPU)."""
    return transcribe_wav(spoken_wav(name))


@cache
def recognised_call() -> Recognition:
    return transcribe_wav(spoken_call())


@pytest.fixture
def narrow_language_model(tmp_path, monkeypatch) -> LanguageModel:
    """A model that knows only other words than the recording says: what the general model hears, it cannot."""
    monkeypatch.setattr(language_model, "general_words", lambda: ())
    path = tmp_path / "archive.lm"
    write_language_model(["good morning", "thank you for calling"], phrases=[], path=path)
    return LanguageModel(str(path), "archive language model (test)")
