"""Run the recogniser in a child process: low CPU priority, capped memory, a wall-clock limit.

The worker process keeps its normal priority for the Genesys tasks it also runs; a decoder that crashes, runs
away with memory or never finishes takes only the child with it. The WAV goes in on stdin, the recognition
comes back as JSON on stdout (a pipe: what was said is never written to a file or a log). The child imports no
Django: `python -m reviews.asr.child NICE MEMORY_BYTES WATCH_PHRASES_JSON [LANGUAGE_MODEL_PATH LANGUAGE_MODEL_LABEL]`.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

# Mapped before the memory cap is set (main): the cap is for what decoding allocates. Loaded after it, the shared
# library itself may not fit (a fresh install compiles and maps more on first import) and the child died with an
# ImportError instead of the clear "ran out of memory".
import pocketsphinx  # noqa: F401

from reviews.asr.engine import AudioUnreadable, RecognisedWord, Recognition, transcribe_wav
from reviews.asr.language_model import LanguageModel

EXIT_UNREADABLE = 3
EXIT_OUT_OF_MEMORY = 4
PR_SET_PDEATHSIG = 1
PROJECT_ROOT = Path(__file__).resolve().parents[2]


class EngineFailed(RuntimeError):
    """The child crashed, ran out of memory or time; the message names which, never any audio or text."""


def recognise_in_child(
    wav: bytes,
    *,
    nice: int,
    memory_bytes: int,
    timeout_seconds: float,
    language_model: LanguageModel | None = None,
    watch_phrases: Sequence[str] = (),
) -> Recognition:
    """transcribe_wav() in a child process. AudioUnreadable for bad input, EngineFailed for anything else."""
    command = [sys.executable, "-m", "reviews.asr.child", str(nice), str(memory_bytes), json.dumps(list(watch_phrases))]
    if language_model is not None:
        command += [language_model.path, language_model.label]
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    try:
        finished = subprocess.run(
            command, input=wav, capture_output=True, timeout=timeout_seconds, env=environment, check=False
        )
    except subprocess.TimeoutExpired:
        raise EngineFailed(f"speech-to-text took longer than {timeout_seconds:g}s and was stopped") from None
    if finished.returncode == EXIT_UNREADABLE:
        raise AudioUnreadable(_reason(finished.stdout) or "recording unreadable")
    if finished.returncode == EXIT_OUT_OF_MEMORY or _native_allocation_failed(finished):
        raise EngineFailed(f"speech-to-text ran out of memory (cap {memory_bytes // (1024 * 1024)} MB)")
    if finished.returncode < 0:
        raise EngineFailed(f"speech-to-text process killed by signal {-finished.returncode}")
    if finished.returncode != 0:
        # stderr may carry a traceback quoting values; only the exception's type name (its last line's head).
        raise EngineFailed(f"speech-to-text process failed (exit {finished.returncode}): {_error_kind(finished)}")
    return recognition_from_json(finished.stdout)


def recognition_to_json(recognition: Recognition) -> bytes:
    return json.dumps(asdict(recognition), separators=(",", ":")).encode()


def recognition_from_json(data: bytes) -> Recognition:
    try:
        fields = json.loads(data)
        words = [RecognisedWord(**word) for word in fields.pop("words")]
        return Recognition(words=words, **fields)
    except (ValueError, TypeError, KeyError, AttributeError):
        raise EngineFailed("speech-to-text process returned no readable result") from None


def _reason(stdout: bytes) -> str:
    try:
        return str(json.loads(stdout).get("unreadable", ""))[:200]
    except (ValueError, AttributeError):
        return ""


def _native_allocation_failed(finished: subprocess.CompletedProcess) -> bool:
    # pocketsphinx's C library exits (status -1, so 255) after printing "calloc(...) failed from <file>".
    return finished.returncode == 255 and b"alloc(" in finished.stderr


def _error_kind(finished: subprocess.CompletedProcess) -> str:
    lines = finished.stderr.decode("utf-8", "replace").strip().splitlines()
    last = lines[-1] if lines else ""
    kind = last.split(":", 1)[0].strip()
    return kind if kind.replace(".", "").replace("_", "").isalnum() else "unknown error"


def _limit_self(*, nice: int, memory_bytes: int) -> None:
    os.nice(nice)
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if sys.platform == "linux":
        # Die with the worker: a worker killed by its task timeout must not leave a decoder running on.
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def main(argv: list[str]) -> int:
    nice, memory_bytes, watch_phrases = int(argv[0]), int(argv[1]), json.loads(argv[2])
    language_model = LanguageModel(path=argv[3], label=argv[4]) if len(argv) > 3 else None
    _limit_self(nice=nice, memory_bytes=memory_bytes)
    wav = sys.stdin.buffer.read()
    try:
        recognition = transcribe_wav(wav, language_model=language_model, watch_phrases=watch_phrases)
    except AudioUnreadable as unreadable:
        sys.stdout.buffer.write(json.dumps({"unreadable": str(unreadable)}).encode())
        return EXIT_UNREADABLE
    except MemoryError:
        return EXIT_OUT_OF_MEMORY
    sys.stdout.buffer.write(recognition_to_json(recognition))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
