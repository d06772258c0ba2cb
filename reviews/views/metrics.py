"""GET /metrics: Prometheus exposition.

With METRICS_BEARER_TOKEN set, a scraper sends `Authorization: Bearer <token>`; without it only
logged-in staff may look (the page then works from a browser session, no token to leak).
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

from reviews.observability import BacklogCollector


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    return HttpResponse(generate_latest(_scrape_registry()), content_type=CONTENT_TYPE_LATEST)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token = settings.METRICS_BEARER_TOKEN
    if token:
        scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(offered.strip().encode(), token.encode()):
            return None
        response = JsonResponse({"error": "send Authorization: Bearer <METRICS_BEARER_TOKEN>"}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not request.user.is_authenticated:
        return JsonResponse({"error": "log in as staff, or set METRICS_BEARER_TOKEN for scrapers"}, status=401)
    if not request.user.is_staff:
        return JsonResponse({"error": "metrics are for staff"}, status=403)
    return None


def _scrape_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if settings.PROMETHEUS_MULTIPROC_DIR:
        # Every process's counters and histograms, merged from the shared directory.
        MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
    else:
        registry.register(_DefaultRegistry())
    registry.register(BacklogCollector())
    return registry


class _DefaultRegistry:
    """This process's metrics (single-process deployments and tests)."""

    def collect(self):
        return REGISTRY.collect()
