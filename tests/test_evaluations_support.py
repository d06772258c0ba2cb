"""Builders shared by the evaluation tests (no tests here): a call with turns, a scorecard, a request."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.test import RequestFactory
from django.utils import timezone

from reviews.models import (
    Agent,
    Conversation,
    Division,
    EvaluationForm,
    EvaluationFormVersion,
    EvaluationQuestion,
    EvaluationSection,
    Queue,
    Transcript,
    Utterance,
)

Rule = EvaluationQuestion.AutoRule


def make_call(genesys_id: str = "conv-eval", *, turns, duration_s: int = 100, queue=None, agent_name="Dana Agent"):
    """A stored call whose turns are (speaker, start_s, end_s, text[, topics]) tuples."""
    if queue is None:
        division, _ = Division.objects.get_or_create(genesys_id="div-e", defaults={"name": "DE"})
        queue, _ = Queue.objects.get_or_create(genesys_id="queue-e", defaults={"name": "QE", "division": division})
    agent, _ = Agent.objects.get_or_create(genesys_id=f"agent-{agent_name}", defaults={"name": agent_name})
    started = timezone.now() - timedelta(days=1)
    conversation = Conversation.objects.create(
        genesys_id=genesys_id,
        state=Conversation.State.STORED,
        started_at=started,
        ended_at=started + timedelta(seconds=duration_s),
        queue=queue,
        division=queue.division,
        agent=agent,
    )
    transcript = Transcript.objects.create(
        conversation=conversation,
        communication_id=f"comm-{genesys_id}",
        sha256="0" * 64,
        size_bytes=1,
        raw_path="transcripts/none",
        redaction_status=Transcript.RedactionStatus.VERIFIED,
    )
    for index, (speaker, start_s, end_s, text, *topics) in enumerate(turns):
        Utterance.objects.create(
            transcript=transcript,
            conversation=conversation,
            index=index,
            speaker=speaker,
            start_ms=int(start_s * 1000),
            end_ms=int(end_s * 1000),
            text=text,
            topics=topics[0] if topics else [],
        )
    return conversation


def make_version(name: str = "Service", *, questions, pass_score: float = 80.0, publish: bool = True):
    """A form with one version; questions are dicts of EvaluationQuestion fields (section: its title)."""
    form = EvaluationForm.objects.create(name=name)
    version = EvaluationFormVersion.objects.create(form=form, number=1, pass_score=pass_score)
    sections = {}
    for position, fields in enumerate(questions):
        fields = dict(fields)
        title = fields.pop("section", "Call")
        if title not in sections:
            sections[title] = EvaluationSection.objects.create(version=version, title=title, position=len(sections))
        EvaluationQuestion.objects.create(version=version, section=sections[title], position=position, **fields)
    if publish:
        version.publish(at=timezone.now())
    return version


def user_in(username: str, group: str) -> User:
    user = User.objects.create_user(username, password="pw")
    user.groups.add(Group.objects.get_or_create(name=group)[0])
    return user


def request_by(user):
    request = RequestFactory().post("/evaluations/", REMOTE_ADDR="10.0.0.9")
    request.user = user
    return request
