"""Run the built-in Genesys Cloud emulator on one port until Ctrl-C."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from genesys.emulator import FAULT_PROFILES, VARIANTS, Emulator, generate_dataset

LIVE_WINDOW = timedelta(minutes=30)


def _aware(value: str, option: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} must be an ISO-8601 date-time, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_emulator(options: dict, *, now: datetime) -> tuple[Emulator, datetime | None]:
    """The emulator the options describe, and when its live calls stop ending (None without live traffic)."""
    end = _aware(options["end"], "--end") if options["end"] else now
    start = _aware(options["start"], "--start") if options["start"] else end - timedelta(hours=24)
    if end <= start:
        raise CommandError("--end must be after --start")
    # Live traffic only makes sense when the window ends now: the demo then keeps finding new calls.
    live_until = None if options["no_live"] or options["end"] else now + LIVE_WINDOW
    variant = VARIANTS[options["variant"]]
    try:
        dataset = generate_dataset(
            options["seed"],
            options["conversations"],
            start,
            end,
            large=options["large"],
            large_mb=options["large_mb"],
            malformed=options["malformed"],
            live_until=live_until,
            shape=variant.shape,
            lifelike=options.get("lifelike", False),
        )
    except ValueError as exc:  # e.g. midnight_calls without a midnight inside the window
        raise CommandError(f"--variant {variant.name}: {exc}") from None
    emulator = Emulator(
        dataset,
        client_id=settings.GENESYS_CLIENT_ID,
        client_secret=settings.GENESYS_CLIENT_SECRET,
        faults=options["faults"],
        rate_limit_per_minute=options["rate_limit"],
        seed=options["seed"],
        behaviour=variant.behaviour,
    )
    return emulator, live_until


class Command(BaseCommand):
    help = "Serve a deterministic Genesys Cloud emulator (login, API and pre-signed downloads) on one port."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8787)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--conversations", type=int, default=200)
        parser.add_argument("--faults", default="none", choices=sorted(FAULT_PROFILES))
        parser.add_argument(
            "--variant",
            default="clean",
            choices=sorted(VARIANTS),
            help="play one way a real org differs from our defaults (genesys/emulator/variants.py)",
        )
        parser.add_argument("--start", help="ISO start of the dataset window (default: 24 h ago)")
        parser.add_argument("--end", help="ISO end of the dataset window (default: now)")
        parser.add_argument("--large", type=int, default=1, help="conversations with a large transcript")
        parser.add_argument("--large-mb", type=float, default=12)
        parser.add_argument("--malformed", type=int, default=0, help="conversations with a corrupt transcript")
        parser.add_argument("--rate-limit", type=int, default=300, help="API requests per token per minute")
        parser.add_argument("--no-live", action="store_true", help="do not add calls that end over the next 30 minutes")
        parser.add_argument(
            "--lifelike",
            action="store_true",
            help="calls a supervisor believes (the demo's): varied sentences, business hours, locales, agents who differ",
        )

    def handle(self, *args, **options) -> None:
        emulator, live_until = build_emulator(options, now=datetime.now(UTC).replace(microsecond=0))
        dataset = emulator.dataset
        with emulator.serve(options["host"], options["port"]) as base_url:
            self._print_summary(base_url, dataset, options, live_until)
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                self.stdout.write("Stopping the emulator")
        emulator.close()

    def _print_summary(self, base_url: str, dataset, options, live_until) -> None:
        summary = dataset.summary()
        self.stdout.write(f"Genesys emulator listening on {base_url}")
        self.stdout.write(f"  token: POST {base_url}/oauth/token  (client id {settings.GENESYS_CLIENT_ID})")
        self.stdout.write(f"  window: {dataset.start.isoformat()} .. {dataset.end.isoformat()}")
        if live_until:
            self.stdout.write(f"  live calls keep ending until {live_until.isoformat()}")
        self.stdout.write(f"  faults: {options['faults']}   variant: {options['variant']}   seed: {options['seed']}")
        self.stdout.write("  " + ", ".join(f"{name}={count}" for name, count in summary.items()))
        self.stdout.flush()
