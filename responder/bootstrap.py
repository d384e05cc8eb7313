"""Bring a process up: schema, seed content, channels and the pollers for this config."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from responder.channels.maildir_source import MaildirSource, ensure_channel
from responder.channels.social.ingest import retry_unprocessed
from responder.classify.embedder import Embedder
from responder.config import Settings
from responder.content import seed_all
from responder.db.migrate import upgrade
from responder.db.session import transaction
from responder.pipeline.worker import Poller
from responder.runtime import Runtime


def prepare(
    settings: Settings,
    engine: Engine | None = None,
    *,
    migrate: bool = True,
    embedder: Embedder | None = None,
) -> Runtime:
    rt = Runtime(settings, engine, embedder)
    if migrate:
        upgrade(rt.engine)
    with transaction(rt.factory) as session:
        seed_all(
            session,
            settings.path(settings.drafting.templates_dir),
            settings.path(settings.classify.definitions_dir),
        )
    return rt


def pollers(rt: Runtime) -> list[Poller]:
    found: list[Poller] = []
    settings = rt.settings.maildir
    if settings.enabled:
        channel_id = ensure_channel(rt.factory, settings.name, "maildir", settings.address)
        source = MaildirSource(rt.settings.path(settings.path), channel_id)

        def poll(source: MaildirSource = source) -> int:
            return source.poll(rt.factory)

        poll.mailbox = settings.name  # type: ignore[attr-defined]  # label for poller metrics
        found.append(poll)
    found.append(lambda: retry_unprocessed(rt.factory, older_than=timedelta(minutes=1)))
    return found
