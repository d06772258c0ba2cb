"""The audit trail's hash chain: each AuditEvent links to the one before it (OWASP ASVS 16.4.2, tamper evidence).

chain_hash = sha256(previous_hash | canonical immutable fields). Chain order is the primary key: every event is
appended under one lock (SQLite serialises writers: the project opens transactions IMMEDIATE; PostgreSQL takes
a transaction-level advisory lock), so the row read as "the last one" really is the one before the new row and
ids follow the chain. Edit a row and its own hash no longer matches; delete one and the next row's
previous_hash names a hash that is not there; insert one and either its previous_hash or its successor's breaks.

Hashed: when, who (username: the user id is SET_NULL when a user is deleted), action, object, detail, address.
NOT hashed: `count` and `last_at`, which record_folded updates in place when it folds a flood of identical failures
into one row (so folding never breaks the chain; the count itself is therefore not tamper-evident).

Rows written before the chain existed (migration 0007) have empty hashes. verify() accepts them only as a
prefix, before the first chained row, and reports how many there are; `audit_verify --seal-legacy` chains them
(after checking the live chain, it re-links every row from the first one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import json
from dataclasses import asdict, dataclass

from django.db import connection, transaction
from django.utils import timezone

from reviews.models import AuditEvent, GenesysFinding

LAST_CHECK_KEY = "audit.chain"  # GenesysFinding row holding the last check's verdict (operations page, /metrics)
GENESIS = ""  # previous_hash of the first chained row
# Any constant works: it only has to be the same for every writer of this database.
_ADVISORY_LOCK_KEY = 0x7476_6175_6474  # "tvaudt"
_BATCH = 2000
_LAST_HASH_SQL = "SELECT {hash} FROM {table} ORDER BY {pk} DESC LIMIT 1".format(
    hash=connection.ops.quote_name("chain_hash"),
    table=connection.ops.quote_name(AuditEvent._meta.db_table),
    pk=connection.ops.quote_name(AuditEvent._meta.pk.column),
)
_HASHED_FIELDS = ("at", "username", "action", "object_type", "object_id", "detail", "ip")


def _canonical_at(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _canonical_ip(value: str | None) -> str:
    # PostgreSQL's inet returns its own spelling of an IPv6 address; compare addresses, not spellings.
    return str(ipaddress.ip_address(value)) if value else ""


def link_hash(previous_hash: str, values: dict) -> str:
    """The chain hash of an event with these field values that follows `previous_hash`."""
    canonical = json.dumps(
        {
            "at": _canonical_at(values["at"]),
            "username": values["username"],
            "action": values["action"],
            "object_type": values["object_type"],
            "object_id": values["object_id"],
            "detail": values["detail"],
            "ip": _canonical_ip(values["ip"]),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(f"{previous_hash}|{canonical}".encode()).hexdigest()


def _lock() -> None:
    """Serialise audit writers until the transaction ends (SQLite already does: IMMEDIATE transactions)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])


def _last_hash() -> str:
    # Plain SQL: this runs on every request, and compiling the ORM query cost ten times the query itself.
    with connection.cursor() as cursor:
        cursor.execute(_LAST_HASH_SQL)
        row = cursor.fetchone()
    return row[0] if row else GENESIS


def append(**values) -> AuditEvent:
    """Insert one AuditEvent chained to the last one: one lock, one indexed read, one insert."""
    # No savepoint inside a caller's transaction: a failed insert fails that transaction, as a plain create() did.
    with transaction.atomic(savepoint=False):
        _lock()
        previous = _last_hash()
        return AuditEvent.objects.create(previous_hash=previous, chain_hash=link_hash(previous, values), **values)


@dataclass
class Verdict:
    ok: bool
    checked: int = 0  # chained rows whose links were checked
    legacy: int = 0  # unchained rows before the first chained row (written before the chain existed)
    head_id: int | None = None
    head_hash: str = ""
    broken_id: int | None = None  # the first row at which the chain breaks
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def _rows():
    """Every event in chain order, streamed in primary-key batches (memory stays flat on millions of rows)."""
    last = 0
    while True:
        batch = list(
            AuditEvent.objects.filter(pk__gt=last)
            .order_by("pk")
            .values("pk", "previous_hash", "chain_hash", *_HASHED_FIELDS)[:_BATCH]
        )
        if not batch:
            return
        yield from batch
        last = batch[-1]["pk"]


def verify(*, anchor: dict | None = None) -> Verdict:
    """Walk the chain; the verdict names the first row where it breaks and why.

    `anchor` is the head a previous check recorded ({"head_id", "head_hash"}): a chain cut off after it, or
    rewritten as a whole from the start, no longer holds that row with that hash.
    """
    verdict = Verdict(ok=True)
    previous: str | None = None  # None: still in the legacy prefix
    for row in _rows():
        if previous is None and not row["chain_hash"] and not row["previous_hash"]:
            verdict.legacy += 1
            continue
        expected_previous = GENESIS if previous is None else previous
        if not row["chain_hash"]:
            return _broken(verdict, row, "an unchained row inside the chain (inserted after the chain began)")
        if row["previous_hash"] != expected_previous:
            return _broken(
                verdict, row, "its previous_hash is not the hash of the row before it (a row was deleted or inserted)"
            )
        if row["chain_hash"] != link_hash(row["previous_hash"], row):
            return _broken(verdict, row, "its content does not match its hash (the row was changed)")
        previous = row["chain_hash"]
        verdict.checked += 1
        verdict.head_id, verdict.head_hash = row["pk"], previous
        if anchor and row["pk"] == anchor.get("head_id") and previous != anchor.get("head_hash"):
            return _broken(verdict, row, "it is not the row the last check ended at (the chain was rewritten)")
    if anchor and anchor.get("head_id") and (verdict.head_id or 0) < anchor["head_id"]:
        verdict.ok, verdict.broken_id = False, anchor["head_id"]
        verdict.reason = "the row the last check ended at is gone (the end of the chain was cut off)"
    return verdict


def _broken(verdict: Verdict, row: dict, reason: str) -> Verdict:
    verdict.ok = False
    verdict.broken_id = row["pk"]
    verdict.reason = reason
    return verdict


def _seal_legacy(*, anchor: dict | None) -> Verdict:
    """Chain the unchained legacy prefix, then re-link the rows after it; refuses a chain that is already broken.

    Runs under the writers' lock, so no event is appended meanwhile. Re-linking from verified rows adds no
    trust the chain did not already have; it only extends it to the rows written before it existed.
    """
    with transaction.atomic():
        _lock()
        before = verify(anchor=anchor)
        if not before.ok or not before.legacy:
            return before
        previous = GENESIS
        pending: list[AuditEvent] = []
        for row in _rows():
            chain_hash = link_hash(previous, row)
            pending.append(AuditEvent(pk=row["pk"], previous_hash=previous, chain_hash=chain_hash))
            previous = chain_hash
            if len(pending) >= _BATCH:
                AuditEvent.objects.bulk_update(pending, ["previous_hash", "chain_hash"])
                pending = []
        AuditEvent.objects.bulk_update(pending, ["previous_hash", "chain_hash"])
        return verify()


def last_check() -> dict | None:
    """The last recorded verdict with its `checked_at`, or None if the chain was never checked."""
    row = GenesysFinding.objects.filter(key=LAST_CHECK_KEY).first()
    return row.value if row else None


def check_and_record(*, now: dt.datetime | None = None) -> Verdict:
    """verify() against the last good check's head, and record the verdict for the operations page and /metrics.

    A broken verdict keeps the last good head as the anchor, so the next check breaks at the same place again.
    """
    previous = last_check() or {}
    anchor = previous.get("anchor")
    verdict = verify(anchor=anchor)
    if verdict.ok:
        anchor = {"head_id": verdict.head_id, "head_hash": verdict.head_hash}
    value = verdict.as_dict() | {"checked_at": (now or timezone.now()).isoformat(), "anchor": anchor}
    GenesysFinding.objects.update_or_create(
        key=LAST_CHECK_KEY, defaults={"value": value, "source": "audit_verify", "learned_at": now or timezone.now()}
    )
    return verdict


def seal_legacy() -> Verdict:
    """Chain the legacy rows (see _seal_legacy), then record a fresh anchor: the rows' hashes changed on purpose.

    A chain that fails its check (last anchor included) is left as it is and the failing verdict returned.
    """
    before = check_and_record()
    if not before.ok or not before.legacy:
        return before
    verdict = _seal_legacy(anchor=(last_check() or {}).get("anchor"))
    if verdict.ok and not verdict.legacy:
        GenesysFinding.objects.filter(key=LAST_CHECK_KEY).delete()
        return check_and_record()
    return verdict
