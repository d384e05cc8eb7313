"""Bring a process up: schema, seed content, channels and the pollers for this config."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.engine import Engine

from responder.channels.imap import FolderPoller
from responder.channels.maildir_source import MaildirSource, ensure_channel
from responder.channels.social.ingest import retry_unprocessed
from responder.channels.social.media import MediaFetcher
from responder.classify.embedder import Embedder
from responder.config import Settings
from responder.db.migrate import upgrade
from responder.db.session import transaction
from responder.pipeline.media_fetch import fetch_due
from responder.pipeline.worker import Poller
from responder.runtime import Runtime
from responder.supervisor.content_files import seed_content

log = logging.getLogger(__name__)


def prepare(
    settings: Settings,
    engine: Engine | None = None,
    *,
    migrate: bool = True,
    embedder: Embedder | None = None,
    seed: bool = True,
) -> Runtime:
    """Seeding loads the content files the database lacks, each held to `responder
    import-content`'s checks; a file refused is logged (file, line, why) and the start goes on.
    `seed` False: `responder import-content`, which loads and reports the files itself, and
    `responder export`, which writes over the files what the database holds."""
    rt = Runtime(settings, engine, embedder)
    if migrate:
        upgrade(rt.engine, phone_region=settings.customers.default_region)
    if not seed:
        return rt
    with transaction(rt.factory) as session:
        report = seed_content(
            session,
            settings,
            settings.path(settings.drafting.templates_dir),
            settings.path(settings.classify.definitions_dir),
        )
    for refused in report.refused:
        log.warning(
            "content file %s (fix it, then restart or run `responder import-content`)", refused
        )
    return rt


def imap_pollers(rt: Runtime) -> list[FolderPoller]:
    """One poller per folder of every configured IMAP mailbox (each mailbox is a Channel)."""
    found: list[FolderPoller] = []
    for mailbox in rt.settings.imap.mailboxes:
        channel_id = ensure_channel(rt.factory, mailbox.name, "imap", mailbox.address)
        for folder in mailbox.folders:
            found.append(
                FolderPoller(
                    rt.factory,
                    mailbox,
                    rt.settings.imap,
                    channel_id,
                    folder,
                    pipeline=rt.settings.pipeline,
                )
            )
    return found


def start_imap_watchers(
    rt: Runtime, stop: threading.Event, on_stored: Callable[[], None] | None = None
) -> list[threading.Thread]:
    """One IDLE thread per IMAP folder; `on_stored` wakes this process's worker on new mail."""
    threads = []
    for watcher in imap_pollers(rt):
        watcher.on_stored = on_stored
        thread = threading.Thread(target=watcher.run, args=(stop,), name=repr(watcher), daemon=True)
        thread.start()
        threads.append(thread)
    return threads


def pollers(rt: Runtime, *, imap: bool = True) -> list[Poller]:
    """The sources a worker loop polls; `imap=False` when IDLE threads watch the mailboxes."""
    found: list[Poller] = []
    settings = rt.settings.maildir
    if settings.enabled:
        channel_id = ensure_channel(rt.factory, settings.name, "maildir", settings.address)
        source = MaildirSource(rt.settings.path(settings.path), channel_id)

        def poll(source: MaildirSource = source) -> int:
            return source.poll(rt.factory)

        poll.mailbox = settings.name  # type: ignore[attr-defined]  # label for poller metrics
        found.append(poll)
    found.append(
        lambda: retry_unprocessed(
            rt.factory,
            older_than=timedelta(minutes=1),
            max_attempts=rt.settings.pipeline.max_attempts,
        )
    )
    fetcher = MediaFetcher(rt.settings.social, rt.settings.pipeline.max_attachment_bytes)

    def fetch_media() -> int:
        fetch_due(rt.factory, fetcher)
        return 0  # files of messages already stored: nothing new for the queue

    found.append(fetch_media)
    if imap:
        found.extend(poller.poll for poller in imap_pollers(rt))
    return found
