"""An import's last step: tiers recomputed across all customers, the import's audit entry and
the linked senders' waiting drafts queued for the workers to write again
(`customers.redraft_queue`), in one transaction after every batch is in. A connection lost
there (a restart, a failover) would leave the rows imported with no audit entry, so the step is
tried again a few times
before the import reports it (`ImportSummary.audit_failed`). The transaction rolls back whole,
so a retry recomputes the tiers once from the committed rows; a commit whose answer was lost
with the connection is found by the retry and not written twice."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from responder.audit import audit, audit_object_id
from responder.config import ValueSettings
from responder.customers.links import retier_linked
from responder.customers.redraft_queue import queue_redrafts, queued_since
from responder.customers.value import assign_tiers
from responder.db.models import AuditEntry, utcnow
from responder.db.outage import database_unavailable, first_line
from responder.pipeline.notify import announce_work

log = logging.getLogger(__name__)

#: Waits before each retry of the last step after a lost connection: a brief drop is ridden
#: out in a few seconds, a longer outage is reported rather than holding the import open.
RETRY_SECONDS = (0.5, 1.0, 2.0)


def finish(
    factory: sessionmaker[Session],
    kind: str,
    source: str,
    detail: dict[str, Any],
    *,
    tiers: ValueSettings | None,
    actor: str,
    linked: list[int] | None = None,
    via: str = "cli",
) -> list[int]:
    """Recompute tiers (unless `tiers` is None), give the messages of the provisional customers
    the import `linked` their known customer's tier, write the audit entry and queue their
    waiting drafts to be written again, tried again on a lost connection; the queued rows' ids.
    Raises the last error when the retries are spent or the database refused the step (that
    is not retried: it would refuse it again)."""
    started = utcnow()
    action, name = f"import.{kind}", Path(source).name
    for attempt, wait in enumerate((*RETRY_SECONDS, None), 1):
        try:
            with factory() as session, session.begin():
                if attempt > 1 and _written(session, action, name, detail, actor, started):
                    # An earlier attempt committed; its answer was lost with the connection.
                    return queued_since(session, source, actor, started)
                if tiers is not None:
                    assign_tiers(session, tiers)
                queued: list[int] = []
                if linked:
                    retier_linked(session, linked)
                    queued = queue_redrafts(
                        session, linked, imported_from=source, actor=actor, via=via
                    )
                queued_count = {"redrafts_queued": len(queued)} if queued else {}
                audit(session, actor, f"import.{kind}", "file", name, **detail, **queued_count)
                if queued:
                    announce_work(session)  # the workers' next round writes them
            return queued
        except SQLAlchemyError as exc:
            if wait is None or not database_unavailable(exc):
                raise
            log.warning(
                "import of %s: the database was lost at the last step (tiers, audit entry), "
                "attempt %d; retrying in %.1fs: %s",
                source,
                attempt,
                wait,
                first_line(exc),
            )
            time.sleep(wait)


def _written(
    session: Session, action: str, name: str, detail: dict[str, Any], actor: str, since: datetime
) -> bool:
    """This import's entry, already written by an earlier attempt."""
    found = session.scalars(
        select(AuditEntry.detail).where(
            AuditEntry.action == action,
            AuditEntry.actor == actor,
            AuditEntry.object_type == "file",
            AuditEntry.object_id == audit_object_id(name),
            AuditEntry.at >= since,
        )
    )
    return any(
        {k: v for k, v in written.items() if k != "redrafts_queued"} == detail for written in found
    )
