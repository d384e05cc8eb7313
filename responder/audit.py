"""Writing the audit log, apart from `responder.review` (which re-exports it) so that the
channels it imports can audit what they decide too."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from responder.db.models import AuditEntry


def audit_object_id(object_id: object) -> str:
    """The id as the audit log keeps it: cut to its column's length, so an object named at
    length (an imported file's name, kept up to 200 characters) is still audited, on
    PostgreSQL too, which refuses a longer value where SQLite keeps it whole."""
    return str(object_id)[: AuditEntry.__table__.c.object_id.type.length]


def audit(
    session: Session,
    actor: str,
    action: str,
    object_type: str,
    object_id: object,
    /,
    **detail: Any,
) -> None:
    """Positional first, so a detail may be called `action` or `actor` too."""
    session.add(
        AuditEntry(
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=audit_object_id(object_id),
            detail=detail,
        )
    )
