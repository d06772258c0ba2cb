"""Bad input table: run every malformed input for real and record the exact error a user gets.

Categories:
  documents  genesys.transcript.parse_transcript() on broken Genesys transcript files
  download   GenesysClient.download() against a local server sending broken HTTP answers
  auth       GenesysClient.check_credentials() against the emulator with wrong credentials / URL
  settings   `manage.py check` with a malformed environment variable (stderr's last line)
  api        POST /api/transcripts/search and GET /api/transcripts/<id> with bad payloads (Django test client)
  search     reviews.search.search() and the /search/ page with hostile strings, on SQLite and PostgreSQL

    .venv/bin/python bench/bad_inputs.py            # writes the table into docs/reliability.md
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    EMULATOR_CLIENT_ID,
    EMULATOR_CLIENT_SECRET,
    PYTHON,
    ROOT,
    compliance_client,
    django_env,
    md_table,
    migrate,
    pg_available,
    pg_database,
    section_text,
    write_section,
)

HOSTILE_QUERIES = [
    '"unbalanced quote',
    "NEAR(card payment)",
    "*",
    "-refund",
    "",
    "   ",
    "OR",
    "'); DROP TABLE reviews_utterance; --",
    "card:*",
    "a" * 5000,
    " ".join(["word"] * 200),
    "\x00null",
    "🙂 emoji",
    "<script>alert(1)</script>",
    "café naïve",
]


def short(value: object, limit: int = 220) -> str:
    text = str(value).replace("\n", " ⏎ ")
    return text if len(text) <= limit else text[:limit] + "…"


def describe_exc(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def label(q: str) -> str:
    if len(q) > 60:
        return f"{q[:12]!r}… ({len(q)} chars)"
    return repr(q)


# ------------------------------------------------------------------ documents


def document_cases() -> list[tuple]:
    from genesys.transcript import parse_transcript

    valid_head = b'{"organizationId":"o","conversationId":"c","communicationId":"m","mediaType":"call","transcripts":['
    cases = {
        "truncated JSON": valid_head + b'{"transcriptId":"t","phrases":[{"text":"hel',
        "invalid UTF-8 byte in text": valid_head + b'{"transcriptId":"t","phrases":[{"text":"caf\xe9","words":[]}]}]}',
        "empty file (0 bytes)": b"",
        "JSON array instead of object": b"[]",
        "object without transcripts": b'{"conversationId":"c"}',
        "transcripts is a string": b'{"conversationId":"c","transcripts":"nope"}',
        "phrases is a number": valid_head + b'{"transcriptId":"t","phrases":42}]}',
        "HTML error page": b"<html><body>503 Service Unavailable</body></html>",
        "UTF-16 encoded JSON": '{"transcripts":[]}'.encode("utf-16"),
        "NaN literal": valid_head + b'{"transcriptId":"t","phrases":[{"text":"x","confidence":NaN}]}]}',
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in cases.items():
            path = Path(tmp) / "doc.json"
            path.write_bytes(data)
            try:
                doc = parse_transcript(path)
                phrases = sum(1 for _ in doc.phrases())
                out = f"accepted: {len(doc.transcripts)} transcripts, {phrases} phrases"
            except Exception as exc:  # noqa: BLE001 - we record whatever happens
                out = describe_exc(exc)
            rows.append(("document", name, "parse_transcript()", short(out)))
    return rows


# ------------------------------------------------------------------ download


def download_cases() -> list[tuple]:
    from genesys.client import GenesysClient

    body = b'{"transcripts":[]}' * 100

    behaviours = {
        "short body (Content-Length larger than sent, then close)": "short",
        "206 with Content-Range for a different offset": "bad_range",
        "403 Request has expired, no refresh possible": "expired",
        "500 on every attempt": "error500",
        "200 with Content-Length: 0": "empty",
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            mode = self.path.strip("/").split("?")[0]
            if mode == "short":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("ETag", '"abc"')
                self.end_headers()
                self.wfile.write(body[:100])
                self.wfile.flush()
                self.connection.close()
            elif mode == "bad_range":
                if "Range" in self.headers:
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes 5-99/{len(body)}")
                    self.send_header("Content-Length", "95")
                    self.send_header("ETag", '"abc"')
                    self.end_headers()
                    self.wfile.write(body[5:100])
                else:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("ETag", '"abc"')
                    self.end_headers()
                    self.wfile.write(body[:50])
                    self.wfile.flush()
                    self.connection.close()
            elif mode == "expired":
                msg = b"<?xml version='1.0'?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
                self.send_response(403)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
            elif mode == "error500":
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    client = GenesysClient(
        api_url=f"http://127.0.0.1:{port}", login_url=f"http://127.0.0.1:{port}", client_id="x", client_secret="y"
    )
    rows = []
    for name, mode in behaviours.items():
        try:
            with tempfile.TemporaryFile() as fh:
                res = client.download(f"http://127.0.0.1:{port}/{mode}?X-Amz-Expires=600", fh)
            out = f"accepted: {res.size} bytes"
        except Exception as exc:  # noqa: BLE001
            out = describe_exc(exc)
        rows.append(("download header/body", name, "client.download()", short(out)))
    server.shutdown()
    return rows


# ------------------------------------------------------------------ auth


def auth_cases() -> list[tuple]:
    from datetime import UTC, datetime, timedelta

    from genesys.client import GenesysClient
    from genesys.emulator import Emulator, generate_dataset

    end = datetime.now(UTC) - timedelta(hours=1)
    ds = generate_dataset(seed=1, conversations=3, start=end - timedelta(hours=2), end=end)
    rows = []
    emulator = Emulator(ds, client_id=EMULATOR_CLIENT_ID, client_secret=EMULATOR_CLIENT_SECRET)
    with emulator.serve(host="127.0.0.1", port=0) as url:
        cases = {
            "wrong client secret": {
                "api_url": url,
                "login_url": url,
                "client_id": EMULATOR_CLIENT_ID,
                "client_secret": "wrong",
            },
            "unknown client id": {"api_url": url, "login_url": url, "client_id": "nobody", "client_secret": "wrong"},
            "login URL with nothing listening": {
                "api_url": url,
                "login_url": "http://127.0.0.1:9",
                "client_id": "a",
                "client_secret": "b",
            },
        }
        for name, kwargs in cases.items():
            try:
                GenesysClient(**kwargs, max_retries=1, max_retry_seconds=2, timeout=3).check_credentials()
                out = "accepted"
            except Exception as exc:  # noqa: BLE001
                out = describe_exc(exc)
            rows.append(("Genesys credentials", name, "client.check_credentials()", short(out)))
    return rows


# ------------------------------------------------------------------ settings


SETTINGS_CASES = {
    "DATABASE_URL=mysql://u@h/db": {"DATABASE_URL": "mysql://u@h/db"},
    "DATABASE_URL=postgresql://127.0.0.1 (no db name)": {"DATABASE_URL": "postgresql://127.0.0.1"},
    "GENESYS_REGION=api.mypurecloud.com": {"GENESYS_REGION": "api.mypurecloud.com"},
    "GENESYS_API_URL=ftp://example.com": {"GENESYS_API_URL": "ftp://example.com"},
    "SQLITE_BUSY_TIMEOUT_SECONDS=abc": {"SQLITE_BUSY_TIMEOUT_SECONDS": "abc"},
    "GENESYS_RATE_LIMIT_PER_MINUTE=0": {"GENESYS_RATE_LIMIT_PER_MINUTE": "0"},
    "DEBUG=maybe": {"DEBUG": "maybe"},
    "REDIS_URL=localhost:6379": {"REDIS_URL": "localhost:6379"},
    "TRANSCRIPT_POLL_MAX_SECONDS=1 < BASE 30": {"TRANSCRIPT_POLL_MAX_SECONDS": "1"},
    "COMPLIANCE_WEBHOOK_URL set, no secret": {"COMPLIANCE_WEBHOOK_URL": "https://example.com/hook"},
    "COMPLIANCE_WEBHOOK_SECRET=plain (no whsec_)": {
        "COMPLIANCE_WEBHOOK_URL": "https://example.com/hook",
        "COMPLIANCE_WEBHOOK_SECRET": "plain",
    },
    "RECORDING_FORMAT=FLAC": {"RECORDING_FORMAT": "FLAC"},
    "GENESYS_CLIENT_SECRET_FILE=/nonexistent": {"GENESYS_CLIENT_SECRET_FILE": "/nonexistent/secret"},
    "DATA_DIR=/proc/forbidden": {"DATA_DIR": "/proc/forbidden"},
}


def settings_cases() -> list[tuple]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, extra in SETTINGS_CASES.items():
            env = django_env(Path(tmp)) | extra
            res = subprocess.run(
                [PYTHON, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
            )
            lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
            out = lines[-1] if lines else (res.stdout.strip().splitlines() or ["(no output)"])[-1]
            rows.append(("setting", name, "manage.py check", short(f"exit {res.returncode}: {out}")))
    return rows


# ------------------------------------------------------------------ api + search (Django child)


def django_child() -> None:
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from bench._data import TextGenerator, bulk_load_utterances, populate_conversations, rare_row_plan, utterance_rows
    from reviews.models import ApiToken
    from reviews.search import search

    pairs, _ = populate_conversations(20, seed=1, prefix="bad")
    bulk_load_utterances(utterance_rows(pairs, 20, TextGenerator(seed=1), rare=rare_row_plan(400), chunk=1000))
    user, web = compliance_client("bench-staff", "bench-password-123", SERVER_NAME="localhost")
    _, key = ApiToken.issue(user=user, name="bench")
    engine = connection.vendor
    rows = []
    for q in HOSTILE_QUERIES:
        try:
            page = search(user=user, query=q, limit=20)
            out = f"{page.total} hits" + (f"; message: {page.message}" if page.message else "")
        except Exception as exc:  # noqa: BLE001
            out = describe_exc(exc)
        rows.append(("search string", label(q), f"search() [{engine}]", short(out)))
    for q in ['"unbalanced quote', "a" * 5000, "\x00null", "<script>alert(1)</script>"]:
        res = web.get("/search/", {"q": q})
        body = res.content.decode(errors="replace")
        escaped = "<script>alert(1)</script>" not in body
        rows.append(
            (
                "search string",
                label(q),
                f"GET /search/ [{engine}]",
                f"HTTP {res.status_code}" + ("" if escaped else " **script echoed unescaped**"),
            )
        )
    if engine == "sqlite":
        api = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Bearer {key}")
        cases = [
            ("no JSON body", "POST", "/api/transcripts/search", b"", "application/json", {}),
            ("body is not JSON", "POST", "/api/transcripts/search", b"{not json", "application/json", {}),
            ("JSON array body", "POST", "/api/transcripts/search", b"[]", "application/json", {}),
            ("missing query", "POST", "/api/transcripts/search", b'{"limit":5}', "application/json", {}),
            (
                "limit is a string",
                "POST",
                "/api/transcripts/search",
                b'{"query":"card","limit":"ten"}',
                "application/json",
                {},
            ),
            (
                "limit 100000",
                "POST",
                "/api/transcripts/search",
                b'{"query":"card","limit":100000}',
                "application/json",
                {},
            ),
            (
                "unknown field",
                "POST",
                "/api/transcripts/search",
                b'{"query":"card","scored":"x"}',
                "application/json",
                {},
            ),
            (
                "garbage cursor",
                "POST",
                "/api/transcripts/search",
                b'{"query":"card","cursor":"!!!"}',
                "application/json",
                {},
            ),
            (
                "bad date filter",
                "POST",
                "/api/transcripts/search",
                b'{"query":"card","dateFrom":"yesterday"}',
                "application/json",
                {},
            ),
            (
                "form-encoded body",
                "POST",
                "/api/transcripts/search",
                b"query=card",
                "application/x-www-form-urlencoded",
                {},
            ),
            ("GET on a POST endpoint", "GET", "/api/transcripts/search", b"", "application/json", {}),
            ("unknown conversation id", "GET", "/api/transcripts/does-not-exist", b"", "application/json", {}),
            (
                "no Authorization header",
                "POST",
                "/api/transcripts/search",
                b'{"query":"card"}',
                "application/json",
                {"anon": True},
            ),
            (
                "wrong bearer token",
                "POST",
                "/api/transcripts/search",
                b'{"query":"card"}',
                "application/json",
                {"token": "tv_wrong"},
            ),
        ]
        for name, method, path, body, ctype, opts in cases:
            client = api
            if opts.get("anon"):
                client = Client(SERVER_NAME="localhost")
            elif opts.get("token"):
                client = Client(SERVER_NAME="localhost", HTTP_AUTHORIZATION=f"Bearer {opts['token']}")
            res = client.generic(method, path, body, content_type=ctype)
            rows.append(
                (
                    "API payload",
                    name,
                    f"{method} {path}",
                    short(f"HTTP {res.status_code}: {res.content.decode(errors='replace')}"),
                )
            )
    print(json.dumps(rows))


def run_django(engine: str) -> list[tuple]:
    with tempfile.TemporaryDirectory() as tmp:
        if engine == "sqlite":
            env = django_env(Path(tmp), STATIC_MANIFEST="false")
            migrate(env)
            res = subprocess.run([PYTHON, __file__, "--child"], cwd=ROOT, env=env, capture_output=True, text=True)
        else:
            with pg_database("tv_bench_bad") as url:
                env = django_env(Path(tmp), database_url=url, STATIC_MANIFEST="false")
                migrate(env)
                res = subprocess.run([PYTHON, __file__, "--child"], cwd=ROOT, env=env, capture_output=True, text=True)
    if res.returncode != 0:
        return [
            ("harness", engine, "child", short(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else "failed"))
        ]
    return [tuple(r) for r in json.loads(res.stdout.strip().splitlines()[-1])]


def main() -> None:
    parser = argparse.ArgumentParser(description="bad input table")
    parser.add_argument("--only", default="documents,download,auth,settings,django", help="comma-separated categories")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        django_child()
        return
    wanted = set(args.only.split(","))
    rows: list[tuple] = []
    for name, fn in (
        ("documents", document_cases),
        ("download", download_cases),
        ("auth", auth_cases),
        ("settings", settings_cases),
    ):
        if name in wanted:
            print(f"[bad_inputs] {name} ...", flush=True)
            try:
                rows += fn()
            except Exception as exc:  # noqa: BLE001 - the harness reports its own failure as a row
                rows.append(("harness", name, "-", short(describe_exc(exc))))
    if "django" in wanted:
        for engine in ("sqlite", "postgresql"):
            if engine == "postgresql" and not pg_available():
                continue
            print(f"[bad_inputs] api/search on {engine} ...", flush=True)
            rows += run_django(engine)
    table = md_table(["category", "input", "where", "exact output"], rows)
    notes = [
        "Every row was produced by running the case; outputs are cut at 220 characters (… marks a cut, ⏎ a newline)."
    ]
    body = section_text("Bad input table", table, notes)
    print(body)
    if not args.no_write:
        write_section("bad_inputs", body, doc="reliability.md", title="Reliability evidence")


if __name__ == "__main__":
    main()
