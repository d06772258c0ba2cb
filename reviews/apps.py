from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def create_schedules(sender, *, using: str = "default", **kwargs) -> None:
    """post_migrate: `migrate` leaves the django-q2 schedules in place, exactly once each."""
    from django.db import connections
    from django_q.models import Schedule

    from reviews.schedules import setup_schedules

    # `migrate reviews` alone may run before django_q's tables exist; the next full migrate fills in.
    if Schedule._meta.db_table in connections[using].introspection.table_names():
        setup_schedules(using=using)


def restore_search_triggers(sender, *, using: str = "default", **kwargs) -> None:
    """post_migrate: a SQLite table rebuild drops the FTS5 sync triggers; put them back."""
    from django.db import connections

    from reviews.search.sqlite import ensure_triggers

    connection = connections[using]
    if connection.vendor == "sqlite" and "reviews_utterance_fts" in connection.introspection.table_names():
        ensure_triggers()


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Transcript Vault"

    def ready(self) -> None:
        post_migrate.connect(create_schedules, sender=self, dispatch_uid="reviews.create_schedules")
        post_migrate.connect(restore_search_triggers, sender=self, dispatch_uid="reviews.restore_search_triggers")
