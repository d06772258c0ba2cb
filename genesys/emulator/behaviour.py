"""Org behaviour: how a real org's API can answer differently from what our client assumes (genesys-api.md §12).

`Emulator(dataset, behaviour=OrgBehaviour(...))`. Every field defaults to the emulator's plain behaviour, with
one deliberate change: the analytics details query has no maximum interval unless
`analytics_max_interval_days` sets one (the sources document none; 3P code queries 30-31-day chunks).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .protocol import ApiError

SEARCH_FAILURES = ("unavailable", "error", "malformed", "empty", "forbidden")
DIVISION_DENIAL_CODES = ("missing.division.permissions", "not.authorized")
INTERVAL_SEMANTICS = ("started", "active_day_touched")
SEARCH_PERMISSIONS = (
    "analytics:conversationDetail:view",
    "recording:recording:view",
    "recording:recordingSegment:view",
)
DIVISION_PERMISSION = "recording:recording:view"
RESTORE_PERMISSION = "recording:recording:editRetention"


@dataclass(frozen=True)
class OrgBehaviour:
    """How the org's API answers. Every field defaults to the plain emulator."""

    # Transcript search (POST /api/v2/speechandtextanalytics/transcripts/search)
    search_requires_language: bool = False  # 400 REQUIRED_SEARCH_FIELD without an EXACT `language` criterion
    search_ignores_conversation_filter: bool = False  # the `conversationId` criterion is not a searchable field
    # None | "unavailable" (503, no Retry-After) | "error" (500) | "malformed" (200, `results` is an object)
    # | "empty" (content search disabled: total 0) | "forbidden" (403 missing.any.permissions)
    search_failure: str | None = None
    # Division-scoped roles: no recording/STA rights in the dataset's last N divisions.
    denied_divisions: int = 0
    division_denial_code: str = "missing.division.permissions"  # or "not.authorized" (names nothing)
    # "S3"
    gzip_transcripts: bool = False  # transcript objects stored gzip-compressed, Content-Encoding: gzip
    expired_token_first_url: bool = False  # the first URL of each transcript object: 400 ExpiredToken
    # Login and rate limits
    login_429_first: int = 0  # the first N POST /oauth/token answer 429 Retry-After: 2
    endpoint_allowances: dict[str, int] = field(default_factory=dict)  # endpoint name -> requests per 60 s window
    # Recording batch jobs
    batch_job_ttl_s: float | None = None  # a job 404s this many clock seconds after submission
    batch_first_job_lost: bool = False  # the very first job 404s from its first poll
    # Analytics details query
    analytics_max_interval_days: int | None = None  # longer intervals answer 400 (None: no maximum)
    analytics_interval_semantics: str = "started"  # or "active_day_touched" (genesys-api.md §7.1)
    # Archived recordings: PUT /api/v2/conversations/{c}/recordings/{r} restores them
    restore: bool = False  # serve the PUT (endpoint recording.update); off: the route does not exist (404)
    restore_seconds: float = 300.0  # RESTORING -> RESTORED after this many clock seconds
    deny_restore: bool = False  # the role lacks recording:recording:editRetention (403 on the PUT)

    def __post_init__(self) -> None:
        if self.search_failure is not None and self.search_failure not in SEARCH_FAILURES:
            raise ValueError(f"search_failure must be None or one of {SEARCH_FAILURES}")
        if self.division_denial_code not in DIVISION_DENIAL_CODES:
            raise ValueError(f"division_denial_code must be one of {DIVISION_DENIAL_CODES}")
        if self.analytics_interval_semantics not in INTERVAL_SEMANTICS:
            raise ValueError(f"analytics_interval_semantics must be one of {INTERVAL_SEMANTICS}")
        if self.denied_divisions < 0 or self.login_429_first < 0:
            raise ValueError("denied_divisions and login_429_first must not be negative")
        if any(not isinstance(n, int) or n < 1 for n in self.endpoint_allowances.values()):
            raise ValueError("endpoint allowances must be positive integers")


def division_denied(behaviour: OrgBehaviour, division_id: str) -> ApiError:
    """The 403 for a conversation in a division the role has no rights in (the exact code is [UNCONF], §12)."""
    if behaviour.division_denial_code == "not.authorized":
        return ApiError(403, "not.authorized", "You are not authorized to perform the requested action.")
    return ApiError(
        403,
        "missing.division.permissions",
        "Unable to perform the requested action. You are missing the following permission(s) in division "
        f"[{division_id}]: [{DIVISION_PERMISSION}]",
        extra={"messageParams": {"division": division_id, "permissions": DIVISION_PERMISSION}},
    )


def search_failure(behaviour: OrgBehaviour) -> ApiError | None:
    """The error every search answers with under `search_failure`; None when the search answers normally."""
    if behaviour.search_failure == "unavailable":
        return ApiError(503, "service.unavailable", "Service Unavailable")  # deliberately no Retry-After
    if behaviour.search_failure == "error":
        return ApiError(500, "internal.server.error", "The server encountered an unexpected condition.")
    if behaviour.search_failure == "forbidden":
        listed = ", ".join(SEARCH_PERMISSIONS)
        return ApiError(
            403,
            "missing.any.permissions",
            "Unable to perform the requested action. You must have at least one of the following permissions "
            f"assigned: [{listed}]",
        )
    return None
