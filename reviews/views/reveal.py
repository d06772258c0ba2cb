"""Reveal what the vault masked in one utterance: compliance officers only, for a stated reason, audited.

PCI DSS 3.4.1 / ASVS V8: the full value is shown only to those with a business need (the Compliance group; staff
or superuser status alone is not enough), only on an explicit POST (CSRF-protected) that names a reason, and only
for an utterance of a conversation the user may open. Every reveal is a REVEAL audit event naming the utterance,
the conversation, the reason and the kinds of value revealed, never the value; every refusal is an ACCESS_DENIED
event. The answer is an htmx fragment that no cache may keep.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_POST

from reviews import access, audit
from reviews.encryption import DecryptionError
from reviews.models import AuditEvent, Utterance
from reviews.pipeline.masking import open_original
from reviews.redaction import mask_text
from reviews.redaction.masks import vault_mask_kinds

logger = logging.getLogger(__name__)

MIN_REASON_CHARS = 10
MAX_REASON_CHARS = 500
FRAGMENT = "reviews/conversation.html#revealed"


@login_required
@require_POST
def reveal(request: HttpRequest, conversation_id: str, utterance_pk: int) -> HttpResponse:
    if not access.can_reveal_masked_values(request.user):
        audit.deny(
            request,
            PermissionDenied("Only compliance officers can reveal masked values."),
            object_type="utterance",
            object_id=utterance_pk,
            reason="not a compliance officer",
            operation="reveal",
            conversation=conversation_id,
        )
    conversation = audit.conversation_or_404(request, conversation_id, operation="reveal")
    utterance = (
        Utterance.objects.select_related("conversation", "transcript")
        .filter(conversation=conversation, pk=utterance_pk)
        .exclude(sealed_original="")
        .first()
    )
    if utterance is None:
        audit.deny(
            request,
            Http404("No masked utterance with this id in this conversation."),
            object_type="utterance",
            object_id=utterance_pk,
            reason="no masked utterance with this id in the conversation",
            operation="reveal",
            conversation=conversation.genesys_id,
        )
    # A reason is the user's own words; should they paste the value into it, the audit row keeps it masked.
    reason = mask_text(" ".join((request.POST.get("reason") or "").split()))[:MAX_REASON_CHARS]
    if len(reason) < MIN_REASON_CHARS:
        audit.record_event(
            request=request,
            action=AuditEvent.Action.ACCESS_DENIED,
            object_type="utterance",
            object_id=str(utterance.pk),
            detail={"path": request.path, "reason": "reveal without a reason", "operation": "reveal"},
        )
        return _no_store(
            render(
                request,
                FRAGMENT,
                {"error": f"Say why you need to see it (at least {MIN_REASON_CHARS} characters)."},
                status=400,
            )
        )
    try:
        original = open_original(utterance)
    except DecryptionError:
        logger.error("sealed original cannot be opened utterance=%s conversation=%s", utterance.pk, conversation_id)
        context = {"error": "The original cannot be opened (its key is not configured); nothing was revealed."}
        return _no_store(render(request, FRAGMENT, context, status=500))
    kinds = vault_mask_kinds(" ".join([utterance.text, *(str(word[0]) for word in utterance.words)]))
    audit.record_event(
        request=request,
        action=AuditEvent.Action.REVEAL,
        object_type="utterance",
        object_id=str(utterance.pk),
        detail={"conversation": conversation.genesys_id, "index": utterance.index, "reason": reason, "kinds": kinds},
    )
    text = original.get("text") or " ".join(str(word[0]) for word in original.get("words") or [])
    return _no_store(render(request, FRAGMENT, {"original_text": text, "reason": reason, "kinds": kinds}))


def _no_store(response: HttpResponse) -> HttpResponse:
    patch_cache_control(response, no_store=True, private=True)
    return response
