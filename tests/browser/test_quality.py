"""A supervisor's quality dashboard in a real browser (Debian's Chromium via Playwright): open /quality/ from the top
bar, switch the grouping to queues, click a count and land on the search listing exactly that many calls.
Writes quality.png (var/screenshots; `make screenshots` publishes the documented ones)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from django.utils import timezone

from reviews.models import Evaluation
from tests.browser.support import (
    BROWSER_MARKS,
    PASSWORD,
    SCREENSHOTS,
    assert_no_serious_axe_violations,
    chromium_page,
    log_in,
)
from tests.test_evaluations_support import make_version
from tests.test_quality import call

pytestmark = BROWSER_MARKS

AGENTS = ("Ana Silva", "Ben Okafor", "Chloe Martin", "Dev Patel")
TOPICS = ("Refund", "Billing", "Cancellation", "Address change", "Complaint")


@pytest.fixture
def page(live_server):
    with chromium_page(live_server.url, height=1100) as page:
        yield page


@pytest.fixture
def world(transactional_db):
    """Four agents' calls over the last 30 days in two queues of the supervisor's division, one queue outside it."""
    from django.contrib.auth.models import Group, User

    from reviews.models import AccessScope, Agent, Division, Queue

    sales = Division.objects.create(genesys_id="div-sales", name="Sales")
    other = Division.objects.create(genesys_id="div-other", name="Other")
    queues = [
        Queue.objects.create(genesys_id="queue-billing", name="Billing", division=sales),
        Queue.objects.create(genesys_id="queue-retention", name="Retention", division=sales),
    ]
    hidden = Queue.objects.create(genesys_id="queue-hidden", name="Hidden claims", division=other)
    version = make_version(questions=[{"text": "Greeting"}])
    reviewer = User.objects.create_user("rita")
    rng = random.Random(13)
    now = timezone.now()
    for number in range(48):
        agent_name = AGENTS[number % len(AGENTS)]
        agent, _ = Agent.objects.get_or_create(
            genesys_id=f"agent-{number % len(AGENTS)}", defaults={"name": agent_name}
        )
        weak = agent_name == "Dev Patel"  # a lower-scoring, more negative agent a QA lead should spot
        conversation = call(
            f"conv-{number}",
            agent=agent,
            queue=queues[number % 2],
            started=now - timedelta(days=rng.randint(0, 27), hours=rng.randint(1, 8)),
            seconds=rng.randint(120, 900),
            transcript=(rng.randint(200, 900), rng.uniform(0.15, 0.3) if weak else rng.uniform(0.02, 0.1)),
            turns=[
                (rng.uniform(-0.9, 0.1) if weak else rng.uniform(-0.4, 0.8), [rng.choice(TOPICS)]),
                (rng.uniform(-0.5, 0.6), []),
            ],
            leak=number % 7 == 0,
        )
        Evaluation.objects.create(
            conversation=conversation,
            form_version=version,
            kind=Evaluation.Kind.AUTOMATIC,
            status=Evaluation.Status.SUBMITTED,
            score=rng.uniform(40, 75) if weak else rng.uniform(70, 100),
        )
        if number % 3 == 0:
            Evaluation.objects.create(
                conversation=conversation,
                form_version=version,
                kind=Evaluation.Kind.HUMAN,
                evaluator=reviewer,
                status=Evaluation.Status.SUBMITTED,
                score=rng.uniform(50, 70) if weak else rng.uniform(75, 100),
            )
    outsider, _ = Agent.objects.get_or_create(genesys_id="agent-outsider", defaults={"name": "Olly Outside"})
    call("conv-hidden", agent=outsider, queue=hidden, started=now - timedelta(days=2), seconds=60, transcript=(50, 0))
    user = User.objects.create_user("sam", password=PASSWORD)
    user.groups.add(Group.objects.get_or_create(name="Supervisor")[0])
    AccessScope.objects.create(user=user).divisions.add(sales)
    return user


def test_it_drills_down_from_a_number_to_the_calls_behind_it(page, world):
    log_in(page, "sam")
    page.click("nav.mainnav >> text=Quality")
    page.wait_for_url("**/quality/")
    summary = page.locator(".quality-summary table")
    assert summary.locator("tbody th[scope=row]").all_inner_texts() == list(AGENTS)  # 12 calls each: by name
    assert "Olly Outside" not in page.content()
    assert page.locator("svg.chart[role=img]").count() == 7
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "quality.png"), full_page=True)
    assert_no_serious_axe_violations(page, "quality dashboard")

    page.get_by_label("Group by").select_option("queue")
    page.click(".page-header form button[type=submit]")
    page.wait_for_url("**/quality/?*group_by=queue*")
    assert summary.locator("tbody th[scope=row]").all_inner_texts() == ["Billing", "Retention"]

    billing = summary.locator("tbody tr", has=page.locator("th", has_text="Billing"))
    leaks = billing.locator("td").nth(11).locator("a")  # the "Leaks" column
    expected = int(leaks.inner_text())
    assert expected > 0
    leaks.click()
    page.wait_for_url("**/search/?*redaction_status=leaks_found*")
    assert page.locator(".result-count").inner_text() == f"{expected} conversation{'s' if expected != 1 else ''}"
    assert page.csp_errors == []
