from __future__ import annotations

import os
from pathlib import Path

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate

DATABASE_FILE_MODE = 0o600


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


def private_sqlite_files(sender, *, connection, **kwargs) -> None:
    """connection_created: the SQLite database and its -wal/-shm files are the owner's only (0600).

    SQLite creates the -wal and -shm files with the database file's mode, so once the database is 0600 every
    later one is too; the first connection (which created all three with the umask's mode) fixes them here.
    """
    if connection.vendor != "sqlite":
        return
    name = str(connection.settings_dict["NAME"])
    if not name or name == ":memory:" or name.startswith("file:"):
        return  # in-memory (the test suite's default): nothing on disk
    for path in (Path(name), Path(f"{name}-wal"), Path(f"{name}-shm")):
        try:
            if path.stat().st_mode & 0o777 != DATABASE_FILE_MODE:
                os.chmod(path, DATABASE_FILE_MODE)
        except FileNotFoundError:
            continue


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Transcript Vault"

    def ready(self) -> None:
        post_migrate.connect(create_schedules, sender=self, dispatch_uid="reviews.create_schedules")
        post_migrate.connect(restore_search_triggers, sender=self, dispatch_uid="reviews.restore_search_triggers")
        connection_created.connect(private_sqlite_files, dispatch_uid="reviews.private_sqlite_files")
        from reviews import auth_events  # imports models: only once the app registry is ready

        auth_events.connect()
