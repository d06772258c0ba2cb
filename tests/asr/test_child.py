from __future__ import annotations

import os
import subprocess
import sys

import pytest

from reviews.asr.child import PROJECT_ROOT, EngineFailed, recognise_in_child
from reviews.asr.engine import AudioUnreadable
from tests.asr.conftest import recognised, spoken_wav

MB = 1024 * 1024


def test_it_returns_what_the_engine_recognises_in_process():
    recognition = recognise_in_child(spoken_wav(), nice=5, memory_bytes=512 * MB, timeout_seconds=120)

    assert recognition.words == recognised().words
    assert recognition.audio_ms == recognised().audio_ms


def test_it_decodes_with_the_language_model_it_is_handed(narrow_language_model):
    recognition = recognise_in_child(
        spoken_wav(), nice=5, memory_bytes=512 * MB, timeout_seconds=120, language_model=narrow_language_model
    )

    assert "hold" in [word.text for word in recognised().words]
    assert "hold" not in [word.text for word in recognition.words]
    assert recognition.model.startswith("en-us + archive language model (test) (pocketsphinx ")


def test_it_spots_the_watch_phrases_it_is_handed(narrow_language_model):
    def heard(watch_phrases):
        recognition = recognise_in_child(
            spoken_wav(),
            nice=5,
            memory_bytes=512 * MB,
            timeout_seconds=120,
            language_model=narrow_language_model,
            watch_phrases=watch_phrases,
        )
        return [word.text for word in recognition.words]

    assert "please" not in heard([])
    assert "please" in heard(["Please"])


def test_it_passes_an_unreadable_recording_on_with_its_reason():
    with pytest.raises(AudioUnreadable, match="not a PCM WAV file"):
        recognise_in_child(b"\x00garbage", nice=5, memory_bytes=512 * MB, timeout_seconds=120)


def test_it_stops_a_recogniser_that_runs_past_its_time():
    with pytest.raises(EngineFailed, match="took longer than 0.05s"):
        recognise_in_child(spoken_wav(), nice=5, memory_bytes=512 * MB, timeout_seconds=0.05)


def test_it_reports_a_recogniser_that_runs_out_of_memory():
    # The model alone needs more than 64 MB of address space; the cap turns that into a clear failure.
    with pytest.raises(EngineFailed, match="ran out of memory"):
        recognise_in_child(spoken_wav(), nice=5, memory_bytes=64 * MB, timeout_seconds=120)


def test_it_lowers_its_own_priority_and_caps_its_memory():
    # In a fresh interpreter, as the worker starts it (a fork of the test process could inherit a held lock).
    script = (
        "import os, resource; from reviews.asr.child import _limit_self; "
        f"_limit_self(nice=7, memory_bytes={300 * MB}); "
        "print(os.nice(0), *resource.getrlimit(resource.RLIMIT_AS))"
    )
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    finished = subprocess.run([sys.executable, "-c", script], capture_output=True, env=env, timeout=60, check=True)

    niceness, soft, hard = (int(value) for value in finished.stdout.split())
    assert niceness == os.nice(0) + 7
    assert (soft, hard) == (300 * MB, 300 * MB)
