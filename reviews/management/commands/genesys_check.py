"""python manage.py genesys_check [--deep] [--json]: is the Genesys connection usable, and if not, what to fix.

Each check calls a real endpoint the pipeline depends on, so a missing permission shows up here rather than
as failed ingestion later. A 404 is a pass: Genesys only says "not found" after it has authorised the call.
Every run also shows what the pipeline has met so far (from the database). `--deep` adds read-only probes
of how this org behaves (_deep_probes.py) and stores what they learn where the pipeline reads it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from genesys.client import GenesysClient
from genesys.errors import (
    AuthenticationError,
    GenesysError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
)
from reviews.genesys_factory import build_client
from reviews.management.commands._deep_probes import AllowanceSpy, DeepProbe, Outcome, store_findings
from reviews.management.commands._met_so_far import database_summary, format_summary
from reviews.management.commands._tables import Row
from reviews.management.commands._tables import format_table as format_rows

PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"
REGION_FIX = "Check GENESYS_REGION / GENESYS_LOGIN_URL (and GENESYS_API_URL) and outbound network access"
CREDENTIALS_FIX = "Check GENESYS_CLIENT_ID/SECRET, and that GENESYS_REGION is the org's region"


@dataclass
class CheckResult:
    name: str
    outcome: str  # PASS, FAIL, WARN (optional check failed), SKIP
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Check:
    name: str
    permission: str
    run: Callable[[], str]
    optional: bool = False
    without: str = ""  # what an optional check's failure costs, appended to the fix


def permission_fix(error: PermissionDeniedError, fallback: str) -> str:
    permissions = ", ".join(error.missing_permissions) or fallback
    return f"Add permission {permissions} to the OAuth client's role"


def outcome_for(check: Check, error: Exception) -> CheckResult:
    failed = "WARN" if check.optional else "FAIL"
    if isinstance(error, NotFoundError):
        return CheckResult(check.name, "PASS", "authorised (404 for a probe id)")
    if isinstance(error, PermissionDeniedError):
        fix = permission_fix(error, check.permission)
        if check.optional and check.without:
            fix = f"{fix} (optional; without it {check.without})"
        return CheckResult(check.name, failed, f"403 {error.code or ''}".strip(), fix)
    if isinstance(error, AuthenticationError):
        return CheckResult(check.name, failed, f"{error.status} {error.code or ''}".strip(), CREDENTIALS_FIX)
    if isinstance(error, TransportError):
        return CheckResult(check.name, failed, "unreachable", REGION_FIX)
    if isinstance(error, GenesysError):
        return CheckResult(
            check.name, failed, f"HTTP {error.status} {error.code or ''}".strip(), "See the detail; retry later"
        )
    raise error


class Probe:
    """The checks, sharing what earlier ones found (a real conversation makes later probes more telling)."""

    def __init__(self, client: GenesysClient, *, now: datetime) -> None:
        self.client = client
        self.start = now - timedelta(hours=1)
        self.end = now
        self.conversation_id: str | None = None
        self.communication_id: str | None = None
        self.queue_id: str | None = None
        self.user_id: str | None = None

    def analytics(self) -> str:
        first = next(self.client.query_conversation_details(start=self.start, end=self.end, page_size=1), None)
        if first is None:
            return "authorised; no recorded calls in the last hour"
        self.conversation_id = first.get("conversationId")
        for participant in first.get("participants") or []:
            if participant.get("purpose") == "agent" and participant.get("userId") and self.user_id is None:
                self.user_id = participant["userId"]
            for session in participant.get("sessions") or []:
                if session.get("mediaType") == "voice" and self.communication_id is None:
                    self.communication_id = session.get("sessionId")
                for segment in session.get("segments") or []:
                    if segment.get("queueId") and self.queue_id is None:
                        self.queue_id = segment["queueId"]
        return "authorised; found a recorded call"

    def transcript_search(self) -> str:
        hit = next(self.client.search_transcripts(start=self.start, end=self.end, page_size=1), None)
        if hit is None:
            return "authorised; no transcripts in the last hour"
        if hit.get("communicationId"):
            self.conversation_id = hit.get("conversationId")
            self.communication_id = hit.get("communicationId")
        return "authorised; found a transcript"

    def transcript_url(self) -> str:
        url = self.client.get_transcript_url(
            self.conversation_id or PLACEHOLDER_ID, self.communication_id or PLACEHOLDER_ID
        )
        return "authorised; transcript URL issued" if url else "authorised (404: no transcript for the probe)"

    def recording_metadata(self) -> str:
        items = self.client.list_recording_metadata(self.conversation_id or PLACEHOLDER_ID)
        return f"authorised; {len(items)} recording(s)"

    def batch_status(self) -> str:
        self.client.get_batch_download(PLACEHOLDER_ID)
        return "authorised"

    def queue_names(self) -> str:
        found = self.client.get_queues([self.queue_id or PLACEHOLDER_ID])
        return f"authorised; {len(found)} queue name(s) resolved"

    def user_names(self) -> str:
        found = self.client.get_users([self.user_id or PLACEHOLDER_ID])
        return f"authorised; {len(found)} agent name(s) resolved"

    def checks(self) -> list[Check]:
        return [
            Check("analytics details query", "analytics:conversationDetail:view", self.analytics),
            Check(
                "transcript search",
                "speechAndTextAnalytics:data:view or recording:recording:view",
                self.transcript_search,
            ),
            Check(
                "transcript URL",
                "recording:recording:view and speechAndTextAnalytics:data:view",
                self.transcript_url,
            ),
            Check("recording metadata", "recording:recording:view", self.recording_metadata),
            Check("batch download status", "recording:recording:view", self.batch_status, optional=True),
            Check(
                "queue names",
                "routing:queue:view",
                self.queue_names,
                optional=True,
                without="queues and their divisions show as ids",
            ),
            Check(
                "agent names",
                "directory:user:view",
                self.user_names,
                optional=True,
                without="agents show as ids",
            ),
        ]


def run_checks(client: GenesysClient, *, now: datetime) -> list[CheckResult]:
    results: list[CheckResult] = []
    login = Check("login", "", client.check_credentials)
    try:
        client.check_credentials()
    except GenesysError as error:
        result = outcome_for(login, error)
        result.detail = f"{client.login_url}: {result.detail}"
        results.append(result)
        probe_names = [check.name for check in Probe(client, now=now).checks()]
        results.extend(CheckResult(name, "SKIP", "login failed") for name in probe_names)
        return results
    results.append(CheckResult("login", "PASS", f"token from {client.login_url}"))
    probe = Probe(client, now=now)
    for check in probe.checks():
        try:
            detail = check.run()
        except GenesysError as error:
            results.append(outcome_for(check, error))
        else:
            results.append(CheckResult(check.name, "PASS", detail))
    return results


def format_table(results: list[CheckResult]) -> str:
    return format_rows(("CHECK", "RESULT", "DETAIL", "FIX"), [(r.name, r.outcome, r.detail, r.fix) for r in results])


STORED_TEXT = {
    "stored": "stored (source genesys_check)",
    "deleted": "deleted: the org showed it does not hold",
    "absent": "none kept: the org showed it does not hold",
}


def format_deep(outcomes: list[Outcome]) -> str:
    """ "What this org does": probe, result and finding, then what the pipeline does about it and any fix."""
    rows = []
    for outcome in outcomes:
        notes = [f"pipeline: {outcome.pipeline}"] if outcome.pipeline else []
        if outcome.fix:
            notes.append(f"fix: {outcome.fix}")
        if outcome.stored:
            notes.append(f"finding {outcome.key}: {STORED_TEXT[outcome.stored]}")
        rows.append(Row((outcome.probe, outcome.result, outcome.found), notes))
    return format_rows(("WHAT THIS ORG DOES", "RESULT", "FINDING"), rows)


def run_deep(client: GenesysClient, spy: AllowanceSpy, *, now: datetime, login_ok: bool) -> list[Outcome]:
    if not login_ok:
        return [Outcome(name, "SKIP", "login failed") for name, _ in DeepProbe(client, now=now, spy=spy).probes()]
    outcomes = DeepProbe(client, now=now, spy=spy).run()
    store_findings(outcomes, now=now)
    return outcomes


class Command(BaseCommand):
    help = (
        "Check the Genesys Cloud region, OAuth credentials and every permission the pipeline needs; "
        "--deep also learns how the org behaves (read-only) and stores it for the pipeline."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--deep",
            action="store_true",
            help="also probe the org's behaviour (search language and filter, transcript shape, download headers, "
            "transcription settings, divisions, rate limits); read-only, a few dozen calls",
        )
        parser.add_argument("--json", action="store_true", help="print everything as one JSON object on stdout")

    def handle(self, *args, **options):
        client = build_client()
        # Installed before the first call, so every endpoint the checks touch reports its allowance.
        spy = AllowanceSpy(client.rate_limiter)
        now = datetime.fromtimestamp(client.clock.time(), UTC)
        results = run_checks(client, now=now)
        login_ok = bool(results) and results[0].outcome == "PASS"
        outcomes = run_deep(client, spy, now=now, login_ok=login_ok) if options["deep"] else None
        summary = database_summary(now=now)
        failures = [r for r in results if r.outcome == "FAIL"]
        if options["json"]:
            self._write_json(results, summary, outcomes, ok=not failures)
        else:
            self._write_text(results, summary, outcomes, now=now)
        if failures:
            raise CommandError(f"{len(failures)} Genesys check(s) failed: {', '.join(r.name for r in failures)}")
        if not options["json"]:
            self.stdout.write(self.style.SUCCESS("All required Genesys checks passed."))

    def _write_text(self, results, summary, outcomes, *, now: datetime) -> None:
        self.stdout.write(f"Genesys API {settings.GENESYS_API_URL}, login {settings.GENESYS_LOGIN_URL}")
        self.stdout.write(format_table(results))
        self.stdout.write("")
        self.stdout.write(format_summary(summary, now=now))
        if outcomes is not None:
            self.stdout.write("")
            self.stdout.write(format_deep(outcomes))

    def _write_json(self, results, summary, outcomes, *, ok: bool) -> None:
        document = {
            "api_url": settings.GENESYS_API_URL,
            "login_url": settings.GENESYS_LOGIN_URL,
            "ok": ok,
            "checks": [asdict(result) for result in results],
            "database": summary,
        }
        if outcomes is not None:
            document["deep"] = [outcome.as_dict() for outcome in outcomes]
            document["findings"] = {o.key: o.finding for o in outcomes if o.key and o.stored == "stored"}
        self.stdout.write(json.dumps(document, sort_keys=True, default=str))
