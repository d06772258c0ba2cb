"""Local speech-to-text accuracy on the emulator's synthesized calls (issue 15): WER, search recall, CPU, memory.

The emulator's calls without a Genesys transcript carry real speech (genesys/emulator/speech.py: espeak-ng on an
8 kHz telephone line) and keep what was said as ground truth (`spoken_script`, `planted_phrase`). This script:

1. picks N seeded audio-only calls and cuts from each served recording an excerpt of `--phrases` consecutive
   lines (around the planted phrase when there is one), or the whole call with `--whole-calls`; the same
   dataset holds at least `--archive-calls` calls Genesys transcribed (the archive);
2. stores the whole dataset with the product's pipeline (populate from the emulator) and asks the product for
   its language model (reviews.asr.vocabulary.current_language_model: estimated from the stored Genesys
   transcripts and the watch phrases, as a worker would);
3. runs reviews.asr.engine.transcribe_wav on the excerpts in one child process pinned to one core
   (os.sched_setaffinity) at normal priority, with that model and the watch phrases spotted, as a worker does; a
   second child on the other core decodes the same excerpts with pocketsphinx's general model, for comparison. Real-time factor = engine CPU seconds / audio
   seconds; each child's peak RSS (os.wait4) bounds the engine's memory;
4. word error rate with jiwer, both sides normalised the same way (lower case, no punctuation, numbers as
   words), overall (corpus WER: errors / reference words) and per call;
5. planted phrases: with `--search` the recognitions are stored by the product's own pipeline (populate from
   the emulator, then reviews.asr.jobs.transcribe_next with the bench's recognitions as the recogniser) and
   each planted phrase is looked up with reviews.search.search; without it (the documented fallback) a phrase
   counts as found when it appears in the recognised text.

    .venv/bin/python bench/asr_accuracy.py --calls 5                 # a quick look (~3 min)
    .venv/bin/python bench/asr_accuracy.py --calls 50 --search       # the documented run (~15 min)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import sys
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    PYTHON,
    child_pythonpath,
    md_table,
    run_measured,
    section_text,
    write_section,
)
from reviews.asr.engine import SPOTTING_THRESHOLD  # noqa: E402
from reviews.asr.language_model import spoken_words  # noqa: E402

GOAL_WER = 0.35
GOAL_PLANTED_FOUND = 0.70
GOAL_RTF = 0.5
GOAL_RSS_MB = 300.0  # "RSS bounded": well under the worker's ASR child cap (ASR_MEMORY_MB, 1024 by default)
START = datetime(2026, 11, 2, tzinfo=UTC)
END = START + timedelta(hours=8)
PAD_MS = 400  # line before and after an excerpt, so the first and last words are not clipped


@dataclass
class Excerpt:
    conversation_id: str
    start_ms: int
    end_ms: int
    reference: str
    planted: str | None
    wav_path: str


# ---------------------------------------------------------------------------------------------- ground truth


def audio_only_calls(*, seed: int, count: int, archive_calls: int):
    """`count` calls without a transcript, planted ones first, from a dataset grown until it has enough of them
    and `archive_calls` calls with a transcript."""
    from genesys.emulator import DatasetShape, generate_dataset

    size = max(20, count * 2, archive_calls * 2)
    while True:
        shape = DatasetShape(extra_never_transcribed_share=0.5)
        dataset = generate_dataset(seed, size, START, END, shape=shape)
        calls = [c for c in dataset.conversations if c.transcript is None and c.spoken_script]
        transcribed = sum(c.transcript is not None for c in dataset.conversations)
        if len(calls) >= count and transcribed >= archive_calls:
            calls.sort(key=lambda c: (c.planted_phrase is None, c.conversation_id))
            return dataset, calls[:count]
        size *= 2


def excerpt_span(conv, *, phrases: int, whole: bool) -> tuple[int, int, list]:
    """(start_ms, end_ms, phrases said inside): `phrases` lines from just before the planted one (or from the
    agent's first line), ending where the next line starts (a fitted line may run past its slot, never past it)."""
    script = conv.spoken_script
    if whole:
        return 0, conv.duration_ms, script
    planted = next((i for i, p in enumerate(script) if conv.planted_phrase and conv.planted_phrase in p.text), None)
    first = next((i for i, p in enumerate(script) if p.offset_ms >= conv.agent_join_ms), 0)
    begin = max(0, planted - phrases // 2) if planted is not None else first
    chosen = script[begin : begin + phrases]
    following = script[begin + len(chosen)].offset_ms if begin + len(chosen) < len(script) else conv.duration_ms
    start = max(0, chosen[0].offset_ms - PAD_MS)
    return start, min(conv.duration_ms, following), chosen


def cut_wav(wav: bytes, start_ms: int, end_ms: int) -> bytes:
    with wave.open(io.BytesIO(wav)) as reader:
        rate, width = reader.getframerate(), reader.getsampwidth()
        reader.setpos(start_ms * rate // 1000)
        frames = reader.readframes((end_ms - start_ms) * rate // 1000)
        channels = reader.getnchannels()
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(frames)
    return out.getvalue()


def found_in(phrase: str, text: str) -> bool:
    return f" {spoken_words(phrase)} " in f" {spoken_words(text)} "


# ---------------------------------------------------------------------------------------------- the ASR child


def asr_child(manifest: Path, out: Path) -> None:
    """Transcribe every excerpt in `manifest` on one core; one JSON line per excerpt."""
    from reviews.asr.engine import transcribe_wav
    from reviews.asr.language_model import LanguageModel

    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[int(os.environ.get("ASR_BENCH_CORE", "0")) % len(cores)]})  # one core
    language_model = json.loads(os.environ.get("ASR_BENCH_LANGUAGE_MODEL") or "null")
    language_model = LanguageModel(**language_model) if language_model else None
    watch_phrases = json.loads(os.environ.get("ASR_BENCH_WATCH_PHRASES") or "[]")
    with open(out, "w") as sink:
        for line in manifest.read_text().splitlines():
            item = json.loads(line)
            wav = Path(item["wav_path"]).read_bytes()
            recognition = transcribe_wav(wav, language_model=language_model, watch_phrases=watch_phrases)
            words = [[w.text, w.start_ms, w.end_ms, w.confidence] for w in recognition.words]
            row = {"conversation_id": item["conversation_id"], "audio_ms": recognition.audio_ms, "words": words}
            row.update({"cpu_seconds": recognition.cpu_seconds, "engine": recognition.engine})
            sink.write(json.dumps(row | {"model": recognition.model}) + "\n")
    # The engine's own high-water mark: VmHWM restarts at exec, while the rusage os.wait4 reports also counts the
    # moments before exec, when the child still was a copy of this (large) bench process.
    status = Path("/proc/self/status").read_text()
    (out.parent / f"{out.stem}.hwm").write_text(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))


def run_asr(
    excerpts: list[Excerpt], tmp: Path, *, language_model: dict | None, watch_phrases: list[str], core: int, name: str
):
    """(recognitions by call, peak RSS MB) of one ASR child on `core` with `language_model` (None: general),
    spotting `watch_phrases` as the worker does."""
    manifest, out = tmp / f"manifest-{name}.jsonl", tmp / f"recognitions-{name}.jsonl"
    manifest.write_text("".join(json.dumps(e.__dict__) + "\n" for e in excerpts))
    env = dict(os.environ, PYTHONPATH=child_pythonpath(), PYTHONUNBUFFERED="1", ASR_BENCH_CORE=str(core))
    env["ASR_BENCH_LANGUAGE_MODEL"] = json.dumps(language_model)
    env["ASR_BENCH_WATCH_PHRASES"] = json.dumps(watch_phrases)
    result = run_measured([PYTHON, __file__, "--asr-child", str(manifest), str(out)], env=env)
    if result.returncode != 0:
        raise RuntimeError(f"ASR child failed:\n{result.stderr[-3000:]}")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {row["conversation_id"]: row for row in rows}, int((tmp / f"{out.stem}.hwm").read_text()) / 1024


def language_model_child() -> None:
    """In the populated database: the language model a worker would decode with now (JSON, or null)."""
    import django

    django.setup()
    from dataclasses import asdict

    from genesys.clock import SYSTEM_CLOCK
    from reviews.asr.vocabulary import current_language_model, watch_phrases

    language_model = current_language_model(clock=SYSTEM_CLOCK)
    print(json.dumps({"model": asdict(language_model) if language_model else None, "phrases": watch_phrases()}))


# ---------------------------------------------------------------------------------------------- search


def populate(dataset, tmp: Path) -> dict[str, str]:
    """The dataset stored by the product's pipeline; the environment of a child working on that database."""
    from bench._common import EMULATOR_CLIENT_ID, EMULATOR_CLIENT_SECRET, populate_from_emulator
    from genesys.emulator import Emulator

    emulator = Emulator(dataset, client_id=EMULATOR_CLIENT_ID, client_secret=EMULATOR_CLIENT_SECRET)
    with emulator.serve(host="127.0.0.1", port=0) as url:
        env = populate_from_emulator(tmp / "data", url=url, start=START - timedelta(hours=1), end=END)
    env["PYTHONPATH"] = child_pythonpath()
    return env


def product_language_model(env: dict[str, str]) -> tuple[dict | None, list[str]]:
    result = run_measured([PYTHON, __file__, "--language-model-child"], env=env)
    if result.returncode != 0:
        raise RuntimeError(f"language model child failed:\n{result.stderr[-3000:]}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    return answer["model"], answer["phrases"]


def search_recall(env: dict[str, str], excerpts: list[Excerpt], recognitions: dict[str, dict], tmp: Path):
    """Store the recognitions through the product's pipeline and look each planted phrase up with search."""
    planted = [e for e in excerpts if e.planted]
    heard = tmp / "heard.json"
    heard.write_text(
        json.dumps({e.conversation_id: {"offset_ms": e.start_ms, **recognitions[e.conversation_id]} for e in planted})
    )
    queries = tmp / "queries.json"
    queries.write_text(json.dumps({e.conversation_id: e.planted for e in planted}))
    result = run_measured([PYTHON, __file__, "--search-child", str(heard), str(queries)], env=env)
    if result.returncode != 0:
        raise RuntimeError(f"search child failed:\n{result.stderr[-3000:]}")
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    print(
        f"search child: job outcomes {answer['outcomes']}, {answer['vault_asr_transcripts']} vault-asr transcripts, "
        f"{answer['in_utterances']}/{len(planted)} planted phrases inside one stored utterance"
    )
    return answer["found"]


def search_child(heard_path: Path, queries_path: Path) -> None:
    """In the populated database: transcribe_next with the bench's recognitions, then search each phrase."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from genesys.clock import SYSTEM_CLOCK
    from reviews import blobs
    from reviews.access import COMPLIANCE
    from reviews.asr.engine import ENGINE_NAME, RecognisedWord, Recognition, model_name
    from reviews.asr.jobs import transcribe_next
    from reviews.models import Conversation, Transcript, Utterance
    from reviews.search import SearchFilters
    from reviews.search.service import search_grouped_all

    heard = json.loads(heard_path.read_text())
    queries = json.loads(queries_path.read_text())
    by_digest = {}  # the stored recording's bytes -> its call: the recogniser is handed only the WAV
    for conversation in Conversation.objects.filter(genesys_id__in=list(heard)):
        for recording in conversation.recordings.filter(kept=True):
            with blobs.open_blob(recording.raw_path) as stream:
                by_digest[hashlib.sha256(stream.read()).hexdigest()] = conversation.genesys_id

    def recognise(wav: bytes) -> Recognition:
        # The bench decoded an excerpt already (one core, measured): its words placed on the call's timeline.
        # Audio-only calls the bench did not pick are heard as silence (their job ends "silent").
        row = heard.get(by_digest.get(hashlib.sha256(wav).hexdigest(), ""))
        if row is None:
            return Recognition([], ENGINE_NAME, model_name(), len(wav) // 8, 0.0)
        words = [RecognisedWord(t, s + row["offset_ms"], e + row["offset_ms"], c) for t, s, e, c in row["words"]]
        return Recognition(words, row["engine"], row["model"], len(wav) // 8, row["cpu_seconds"])

    outcomes: dict[str, int] = {}
    while (outcome := transcribe_next(clock=SYSTEM_CLOCK, recognise=recognise)) is not None:
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    # A compliance officer: the role that searches every call (a superuser is given no queue or division by default,
    # and search would answer it "no conversations to search yet").
    officer = get_user_model().objects.create_user("asr-bench", "asr-bench@example.com", "x" * 20)
    officer.groups.add(Group.objects.get_or_create(name=COMPLIANCE)[0])
    found = {}
    for conversation_id, phrase in queries.items():
        # Every call the search finds (as its CSV export lists them), not one page: the archive may say the phrase too.
        page = search_grouped_all(user=officer, query=f'"{phrase}"', filters=SearchFilters())
        found[conversation_id] = any(group.conversation.genesys_id == conversation_id for group in page.groups)
    stored = Transcript.objects.filter(source=Transcript.Source.VAULT_ASR).count()
    # Where a phrase is lost: in the stored utterances at all (one utterance holds it), or only by search.
    in_utterances = sum(
        any(
            found_in(phrase, text)
            for text in Utterance.objects.filter(conversation__genesys_id=conversation_id).values_list(
                "text", flat=True
            )
        )
        for conversation_id, phrase in queries.items()
    )
    answer = {"found": found, "outcomes": outcomes, "vault_asr_transcripts": stored, "in_utterances": in_utterances}
    print(json.dumps(answer))


# ---------------------------------------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--archive-calls", type=int, default=300, help="calls with a Genesys transcript, at least")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--phrases", type=int, default=6, help="lines per excerpt")
    parser.add_argument("--whole-calls", action="store_true", help="decode whole calls (hours of CPU for 50)")
    parser.add_argument("--search", action="store_true", help="store through the pipeline and use reviews.search")
    parser.add_argument("--doc", default="benchmarks.md", help="document (under docs/, or an absolute path)")
    parser.add_argument("--asr-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--search-child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--language-model-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.asr_child:
        return asr_child(*args.asr_child)
    if args.search_child:
        return search_child(*args.search_child)
    if args.language_model_child:
        return language_model_child()
    import jiwer

    dataset, calls = audio_only_calls(seed=args.seed, count=args.calls, archive_calls=args.archive_calls)
    archive = sum(c.transcript is not None for c in dataset.conversations)
    with tempfile.TemporaryDirectory(prefix="tv-bench-asr-") as tmp_name:
        tmp = Path(tmp_name)
        excerpts = []
        for conv in calls:
            start, end, said = excerpt_span(conv, phrases=args.phrases, whole=args.whole_calls)
            path = tmp / f"{conv.conversation_id}.wav"
            path.write_bytes(cut_wav(conv.wav_bytes(), start, end))
            reference = " ".join(p.text for p in said)
            planted = conv.planted_phrase if conv.planted_phrase and conv.planted_phrase in reference else None
            excerpts.append(Excerpt(conv.conversation_id, start, end, reference, planted, str(path)))
        env = populate(dataset, tmp)
        language_model, phrases = product_language_model(env)
        print(f"archive: {archive} calls with a Genesys transcript; language model: {language_model}")
        with ThreadPoolExecutor(max_workers=2) as pool:  # one core each
            ours = pool.submit(
                run_asr, excerpts, tmp, language_model=language_model, watch_phrases=phrases, core=0, name="archive"
            )
            general = pool.submit(
                run_asr, excerpts, tmp, language_model=None, watch_phrases=phrases, core=1, name="general"
            )
            (recognitions, peak_rss_mb), (general_recognitions, _) = ours.result(), general.result()
        hypotheses = {cid: " ".join(w[0] for w in row["words"]) for cid, row in recognitions.items()}
        general_text = {cid: " ".join(w[0] for w in row["words"]) for cid, row in general_recognitions.items()}
        method = "recognised text (fallback)"
        found = {e.conversation_id: found_in(e.planted, hypotheses[e.conversation_id]) for e in excerpts if e.planted}
        general_found = {
            e.conversation_id: found_in(e.planted, general_text[e.conversation_id]) for e in excerpts if e.planted
        }
        print(f"planted phrases in the recognised text: {sum(found.values())}/{len(found)}")
        if args.search:
            found = search_recall(env, excerpts, recognitions, tmp)
            method = "reviews.search over the stored vault-asr transcripts"
    general = Comparison(general_recognitions, general_text, general_found)
    context = Context(archive_calls=archive, phrases=phrases, method=method, general=general)
    print_report(args, excerpts, recognitions, hypotheses, found, context, peak_rss_mb, jiwer)


@dataclass
class Comparison:
    """The same excerpts decoded with pocketsphinx's general language model."""

    recognitions: dict[str, dict]
    hypotheses: dict[str, str]
    found: dict[str, bool]  # planted phrase in the recognised text


@dataclass
class Context:
    archive_calls: int
    phrases: list[str]
    method: str
    general: Comparison


def print_report(args, excerpts, recognitions, hypotheses, found, context, peak_rss_mb, jiwer) -> None:
    references = [spoken_words(e.reference) for e in excerpts]
    heard = [spoken_words(hypotheses[e.conversation_id]) for e in excerpts]
    overall = jiwer.wer(references, heard)
    per_call = [jiwer.wer(r, h) for r, h in zip(references, heard, strict=True)]
    audio_s = sum(recognitions[e.conversation_id]["audio_ms"] for e in excerpts) / 1000
    cpu_s = sum(recognitions[e.conversation_id]["cpu_seconds"] for e in excerpts)
    rtf = cpu_s / audio_s if audio_s else float("nan")
    recall = sum(found.values()) / len(found) if found else float("nan")
    per_call.sort()
    median = per_call[len(per_call) // 2]
    rows = [
        ["word error rate (corpus)", f"≤ {GOAL_WER:.0%}", f"{overall:.1%}", _met(overall <= GOAL_WER)],
        ["planted phrases found", f"≥ {GOAL_PLANTED_FOUND:.0%}", f"{sum(found.values())}/{len(found)} = {recall:.0%}"]
        + [_met(recall >= GOAL_PLANTED_FOUND)],
        ["real-time factor, one core", f"≤ {GOAL_RTF}", f"{rtf:.2f} ({cpu_s:.0f} CPU s / {audio_s:.0f} audio s)"]
        + [_met(rtf <= GOAL_RTF)],
        [
            "peak RSS of the ASR child",
            f"≤ {GOAL_RSS_MB:.0f} MB",
            f"{peak_rss_mb:.0f} MB",
            _met(peak_rss_mb <= GOAL_RSS_MB),
        ],
    ]
    table = md_table(["goal", "target", "measured", "met"], rows)
    table += "\n\n" + general_table(excerpts, references, context.general, jiwer)
    engine = next(iter(recognitions.values()))
    notes = [
        f"{len(excerpts)} audio-only calls (seed {args.seed}), "
        + ("whole calls" if args.whole_calls else f"an excerpt of {args.phrases} consecutive lines from each")
        + f": {audio_s / 60:.1f} minutes of audio; engine {engine['engine']}, model {engine['model']}.",
        f"Per-call WER: best {per_call[0]:.0%}, median {median:.0%}, worst {per_call[-1]:.0%}.",
        f"Planted phrases counted found by: {context.method}. Each watch phrase is also spotted in a second "
        f"keyphrase pass (reviews/asr/engine.py, threshold {SPOTTING_THRESHOLD:g}), which puts it in place of what the language "
        "model heard there; watch phrases in the recognised text more often than the excerpt said them (false "
        f"spots or mishearings): {heard_not_said(excerpts, hypotheses, context.phrases)} "
        f"(general model: {heard_not_said(excerpts, context.general.hypotheses, context.phrases)}).",
        f"Language model: estimated by the product (reviews/asr/vocabulary.py) from the {context.archive_calls} "
        "calls of the same dataset that Genesys transcribed, as stored (masked) by the pipeline, and the watch "
        f"phrases ({', '.join(context.phrases)}). The planted phrases are on that list: the figure is recall for "
        "phrases the vault is told to listen for. The emulator's calls draw on one set of scripts, so the archive "
        "says much of what the audio-only calls say; real calls repeat their scripts less, so read the WER as a "
        "lower bound, and the general model's as the figure for words the archive never says.",
        "Speech is espeak-ng (formant synthesis) at 8 kHz with line noise about 27 dB below speech; the engine "
        "is pocketsphinx's wideband model on upsampled audio, so WER here is synthetic-voice WER, not a "
        "prediction for human callers.",
    ]
    body = section_text("Local speech-to-text accuracy (bench/asr_accuracy.py)", table, notes)
    body += "\n\nPer call:\n\n" + per_call_table(excerpts, references, heard, recognitions, found, jiwer)
    print(body)
    if Path(args.doc).is_absolute():  # a draft outside docs/ (write_section keeps docs/ files and their locks)
        path = Path(args.doc)
        path.write_text(f"<!-- bench:asr_accuracy:start -->\n{body}\n<!-- bench:asr_accuracy:end -->\n")
    else:
        path = write_section("asr_accuracy", body, doc=args.doc, title="Benchmarks")
    print(f"\nwritten to {path}")


def heard_not_said(excerpts, hypotheses: dict[str, str], phrases: list[str]) -> int:
    """(excerpt, watch phrase) pairs where the recognised text has the phrase more often than the reference."""
    count = 0
    for excerpt in excerpts:
        said, heard = f" {spoken_words(excerpt.reference)} ", f" {spoken_words(hypotheses[excerpt.conversation_id])} "
        count += sum(heard.count(f" {p} ") > said.count(f" {p} ") for p in map(spoken_words, phrases))
    return count


def general_table(excerpts, references, general: Comparison, jiwer) -> str:
    """The same excerpts decoded with pocketsphinx's general en-us language model (ASR_LANGUAGE_MODEL=general)."""
    heard = [spoken_words(general.hypotheses[e.conversation_id]) for e in excerpts]
    audio_s = sum(general.recognitions[e.conversation_id]["audio_ms"] for e in excerpts) / 1000
    cpu_s = sum(general.recognitions[e.conversation_id]["cpu_seconds"] for e in excerpts)
    found = sum(general.found.values())
    row = [f"{jiwer.wer(references, heard):.1%}", f"{found}/{len(general.found)} (in the recognised text)"]
    row.append(f"{cpu_s / audio_s:.2f}" if audio_s else "-")
    return (
        "For comparison, the general model (`ASR_LANGUAGE_MODEL=general`), same excerpts, the other core:\n\n"
        + md_table(["WER", "planted phrases", "real-time factor"], [row])
    )


def per_call_table(excerpts, references, heard, recognitions, found, jiwer) -> str:
    rows = []
    for excerpt, reference, hypothesis in zip(excerpts, references, heard, strict=True):
        planted = "-"
        if excerpt.planted:
            planted = f"{excerpt.planted}: {'found' if found.get(excerpt.conversation_id) else 'missed'}"
        audio_s = recognitions[excerpt.conversation_id]["audio_ms"] / 1000
        rows.append([excerpt.conversation_id[:8], f"{audio_s:.0f}", f"{jiwer.wer(reference, hypothesis):.0%}", planted])
    return md_table(["call", "audio s", "WER", "planted phrase"], rows)


def _met(ok: bool) -> str:
    return "met" if ok else "**not met**"


if __name__ == "__main__":
    main()
