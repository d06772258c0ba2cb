"""Queue, agent and division names: looked up in bulk once, never again, and optional."""

from __future__ import annotations

import logging

import pytest

from genesys.emulator import Emulator, generate_dataset
from genesys.errors import PermissionDeniedError
from reviews.models import Agent, Conversation, Division, Queue
from reviews.pipeline import discover
from reviews.pipeline import names as names_module
from reviews.pipeline.names import NameResolver
from tests.pipeline.support import NOW, WINDOW_END, WINDOW_START, make_client

LOOKUPS = ("routing.queues", "users.list")


def lookup_calls(emulator) -> dict[str, int]:
    return {endpoint: emulator.stats.by_endpoint[endpoint] for endpoint in LOOKUPS}


def discover_window(client):
    return discover(client=client, start=WINDOW_START, end=WINDOW_END, now=NOW)


@pytest.fixture(autouse=True)
def _fresh_warnings():
    names_module._warned.clear()
    yield
    names_module._warned.clear()


@pytest.mark.django_db
def test_it_names_queues_agents_and_divisions_with_one_call_each(world):
    result = discover_window(world.client)

    assert result.found == 40
    assert lookup_calls(world.emulator) == {"routing.queues": 1, "users.list": 1}
    queues = {q["id"]: q for q in world.dataset.queues}
    users = {u["id"]: u for u in world.dataset.users}
    for conversation in Conversation.objects.select_related("queue__division", "agent", "division"):
        sim = world.dataset.conversation(conversation.genesys_id)
        assert conversation.queue.name == queues[sim.queue_id]["name"]
        assert conversation.agent.name == users[sim.user_id]["name"]
        assert conversation.queue.division.genesys_id == queues[sim.queue_id]["division_id"]
        assert conversation.division.name == world.dataset.division(sim.division_id)["name"]
    assert not Queue.objects.filter(name="").exists()
    assert not Agent.objects.filter(name="").exists()
    assert not Division.objects.filter(name="").exists()


@pytest.mark.django_db
def test_it_never_looks_up_a_name_it_already_has(world):
    discover_window(world.client)
    renamed = Queue.objects.first()
    Queue.objects.filter(pk=renamed.pk).update(name="Our own name")

    discover_window(world.client)

    assert lookup_calls(world.emulator) == {"routing.queues": 1, "users.list": 1}  # only the first run's
    assert Queue.objects.get(pk=renamed.pk).name == "Our own name"


@pytest.mark.django_db
def test_it_only_looks_up_the_names_still_missing(world):
    discover_window(world.client)
    agent = Agent.objects.order_by("pk").first()
    Agent.objects.filter(pk=agent.pk).update(name="")
    sent: list[list[str]] = []
    original = world.client.get_users

    def spy(ids):
        sent.append(list(ids))
        return original(ids)

    world.client.get_users = spy
    discover_window(world.client)

    assert sent == [[agent.genesys_id]]
    assert lookup_calls(world.emulator) == {"routing.queues": 1, "users.list": 2}
    assert Agent.objects.get(pk=agent.pk).name


@pytest.mark.django_db
def test_it_keeps_ids_and_warns_once_without_the_directory_permissions(caplog):
    from genesys.clock import FakeClock

    clock = FakeClock(NOW.timestamp())
    dataset = generate_dataset(7, 20, WINDOW_START, WINDOW_END, large=0, malformed=0)
    emulator = Emulator(dataset, clock=clock, seed=7, denied_permissions={"routing:queue:view", "directory:user:view"})
    with emulator.serve() as base_url, caplog.at_level(logging.DEBUG, logger="reviews.pipeline.names"):
        client = make_client(base_url=base_url, clock=clock)
        first = discover_window(client)
        second = discover_window(client)
    emulator.close()

    assert first.found == second.found == 20
    assert Conversation.objects.count() == 20
    assert not Conversation.objects.filter(queue__isnull=True).exists()
    assert set(Queue.objects.values_list("name", flat=True)) == {""}
    assert set(Agent.objects.values_list("name", flat=True)) == {""}
    # One attempt per kind per run; the failure is a warning once, then debug.
    assert lookup_calls(emulator) == {"routing.queues": 2, "users.list": 2}
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    messages = sorted(r.getMessage() for r in warnings)
    assert "agent name look-up failed (missing permission directory:user:view" in messages[0]
    assert "queue name look-up failed (missing permission routing:queue:view" in messages[1]
    assert all("contextId=" in m and "contextId=-" not in m for m in messages)
    assert sum(1 for r in caplog.records if r.levelno == logging.DEBUG and "look-up failed" in r.getMessage()) == 2


class _FakeDirectory:
    def __init__(self, *, fail: Exception | None = None) -> None:
        self.queue_calls: list[list[str]] = []
        self.user_calls: list[list[str]] = []
        self.fail = fail

    def get_queues(self, ids):
        self.queue_calls.append(list(ids))
        if self.fail:
            raise self.fail
        return [{"id": i, "name": f"Queue {i}", "division": {"id": "div-1", "name": "Home"}} for i in ids]

    def get_users(self, ids):
        self.user_calls.append(list(ids))
        return [{"id": i, "name": f"Agent {i}"} for i in ids if i != "gone"]


@pytest.mark.django_db
def test_it_sends_a_full_hundred_as_soon_as_it_has_them_and_the_rest_at_the_end():
    directory = _FakeDirectory()
    resolver = NameResolver(directory)
    for i in range(150):
        queue = Queue.objects.create(genesys_id=f"q{i:03d}")
        resolver.note("queue", queue.genesys_id, queue.name)
        resolver.flush(full_only=True)
        if i == 98:
            assert directory.queue_calls == []
    assert [len(call) for call in directory.queue_calls] == [100]
    resolver.flush()
    assert [len(call) for call in directory.queue_calls] == [100, 50]
    assert not Queue.objects.filter(name="").exists()
    assert set(Queue.objects.values_list("division__name", flat=True)) == {"Home"}
    resolver.flush()
    assert len(directory.queue_calls) == 2


@pytest.mark.django_db
def test_it_does_not_ask_twice_for_an_id_the_directory_does_not_know():
    directory = _FakeDirectory()
    resolver = NameResolver(directory)
    for genesys_id in ("gone", "here"):
        Agent.objects.create(genesys_id=genesys_id)
        resolver.note("agent", genesys_id, "")
    resolver.flush()
    resolver.note("agent", "gone", "")
    resolver.flush()
    assert directory.user_calls == [["gone", "here"]]
    assert Agent.objects.get(genesys_id="gone").name == ""
    assert Agent.objects.get(genesys_id="here").name == "Agent here"


@pytest.mark.django_db
def test_it_stops_looking_up_a_kind_after_a_failure_in_the_same_run():
    directory = _FakeDirectory(fail=PermissionDeniedError("denied", status=403, missing_permissions=["x:y:z"]))
    resolver = NameResolver(directory)
    Queue.objects.create(genesys_id="q1")
    resolver.note("queue", "q1", "")
    resolver.flush()
    Queue.objects.create(genesys_id="q2")
    resolver.note("queue", "q2", "")
    resolver.flush()
    assert directory.queue_calls == [["q1"]]
