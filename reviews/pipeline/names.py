"""Queue, agent and division names for the ids discovery stores.

Analytics gives ids only. Names come from the directory's bulk look-ups (routing/queues and users, ≤100 ids
per call). The database is the cache: only rows whose name is still empty are looked up, so a steady state
costs no calls, and a discovery run costs about one call per kind for the queues/agents it met first.

The look-ups need routing:queue:view and directory:user:view, which are optional: without them (or on any
other Genesys error) discovery carries on with the ids, and the failure is logged once per process.
"""

from __future__ import annotations

import logging
import threading

from django.db import IntegrityError, transaction

from genesys.client import MAX_IDS_PER_LOOKUP
from genesys.errors import GenesysError, PermissionDeniedError
from reviews.models import Agent, Division, Queue

logger = logging.getLogger(__name__)

QUEUE_PERMISSION = "routing:queue:view"
USER_PERMISSION = "directory:user:view"
NAME_MAX_LENGTH = 200

# (kind, error type) already logged at WARNING by this process; repeats go to DEBUG.
_warned: set[tuple[str, str]] = set()
_warned_lock = threading.Lock()


def _log_failure(kind: str, permission: str, error: GenesysError, count: int) -> None:
    key = (kind, type(error).__name__)
    with _warned_lock:
        first = key not in _warned
        _warned.add(key)
    if isinstance(error, PermissionDeniedError):
        what = f"missing permission {', '.join(error.missing_permissions) or permission}: add it to the OAuth role"
    else:
        what = f"{type(error).__name__} HTTP {error.status}"
    logger.log(
        logging.WARNING if first else logging.DEBUG,
        "%s name look-up failed (%s); keeping %d id(s) unnamed contextId=%s",
        kind,
        what,
        count,
        error.context_id or "-",
    )


class NameResolver:
    """Collects the unnamed queue/agent ids of one discovery run and names them in bulk.

    `note_*` are cheap (no query); `flush()` looks up what is pending, `flush(full_only=True)` only the kinds
    with a full call's worth of ids, so a long run never holds many ids and never spends a call on a few.
    """

    def __init__(self, client) -> None:
        self.client = client
        self.pending: dict[str, set[str]] = {"queue": set(), "agent": set()}
        self.attempted: set[tuple[str, str]] = set()  # never the same id twice in one run
        self.disabled: set[str] = set()  # kinds whose look-up failed this run

    def note(self, kind: str, genesys_id: str | None, name: str) -> None:
        if genesys_id and not name and kind not in self.disabled and (kind, genesys_id) not in self.attempted:
            self.pending[kind].add(genesys_id)

    def flush(self, *, full_only: bool = False) -> None:
        for kind in ("queue", "agent"):
            if len(self.pending[kind]) >= (MAX_IDS_PER_LOOKUP if full_only else 1):
                self._resolve(kind)

    def _resolve(self, kind: str) -> None:
        model = Queue if kind == "queue" else Agent
        ids = self.pending[kind]
        self.pending[kind] = set()
        self.attempted.update((kind, i) for i in ids)
        # Another worker may have named some meanwhile: the database decides what is still unnamed.
        unnamed = sorted(model.objects.filter(genesys_id__in=ids, name="").values_list("genesys_id", flat=True))
        if not unnamed or kind in self.disabled:
            return
        look_up = self.client.get_queues if kind == "queue" else self.client.get_users
        try:
            entities = look_up(unnamed)
        except GenesysError as error:
            self.disabled.add(kind)
            _log_failure(kind, QUEUE_PERMISSION if kind == "queue" else USER_PERMISSION, error, len(unnamed))
            return
        store_names(model, entities, wanted=set(unnamed))


def _name(entity: dict | None) -> str:
    return str((entity or {}).get("name") or "").strip()[:NAME_MAX_LENGTH]


def _division_pk(division: dict | None) -> int | None:
    """The Division row for a {id, name} reference, created if new and named if still unnamed."""
    division_id = (division or {}).get("id")
    if not division_id:
        return None
    name = _name(division)
    try:
        with transaction.atomic():
            row, _ = Division.objects.get_or_create(genesys_id=division_id, defaults={"name": name})
    except IntegrityError:  # created concurrently
        row = Division.objects.get(genesys_id=division_id)
    if name and not row.name:
        Division.objects.filter(pk=row.pk, name="").update(name=name)
    return row.pk


def store_names(model, entities: list[dict], *, wanted: set[str]) -> int:
    """Fill empty names (and a queue's empty division) from look-up entities; never overwrite a name."""
    named = 0
    for entity in entities:
        genesys_id = entity.get("id")
        name = _name(entity)
        if genesys_id not in wanted:
            continue
        division_pk = _division_pk(entity.get("division"))
        if model is Queue and division_pk is not None:
            Queue.objects.filter(genesys_id=genesys_id, division__isnull=True).update(division_id=division_pk)
        if model is Queue and isinstance(entity.get("enableTranscription"), bool):
            # Whether the queue transcribes at all (genesys-api.md §12): a queue that does not need not wait 48 h.
            Queue.objects.filter(genesys_id=genesys_id).update(transcription_enabled=entity["enableTranscription"])
        if name:
            named += model.objects.filter(genesys_id=genesys_id, name="").update(name=name)
    return named
