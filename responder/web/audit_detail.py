"""An audit entry as a supervisor reads it: its action in words ("Template saved", the code
`template.save` beside it, small), and its detail as "reason: Wrong customer", not a line of
JSON; a long value (a whole rule set, a template's text) folded away behind its start. A time
stored in the detail reads as the When column does ("until: 2026-12-08 18:06 UTC"), not as
2026-12-08T18:06:44.758931+00:00."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, NamedTuple

from responder.web.clock import PageClock

LONG = 120
GLIMPSE = 60
#: An aware ISO 8601 time as `datetime.isoformat()` writes it (what detail dicts hold).
ISO_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)")

#: Every action code the code base writes with `audit(` (tests/test_audit_words.py checks
#: that none is missing); the API and the What filter keep the codes.
ACTION_WORDS: dict[str, str] = {
    "account.name": "Own name changed",
    "account.password": "Own password changed",
    "acknowledgement.dismiss": "Acknowledgement let be",
    "acknowledgement.send_again": "Acknowledgement sent again",
    "auto_send.set": "Auto-send confidence set",
    "classifier.activate": "Classifier version activated",
    "classifier.discard": "Classifier version discarded",
    "classifier.retrain": "Classifier retrain started",
    "classifier.retrain_failed": "Classifier retrain failed",
    "customer.link": "Sender linked to a customer",
    "customer.link_dismissal_undone": "Customer suggestion brought back",
    "customer.link_dismissed": "Customer suggestion dismissed",
    "customer.unlink": "Sender unlinked from a customer",
    "customer.write": "New email written to a customer",
    "customer.write_undo": "New email taken back (Undo send)",
    "draft.approve": "Draft approved",
    "draft.pick_action": "Draft written for a chosen action",
    "draft.redraft": "Draft written again",
    "draft.reject": "Draft rejected",
    "draft.restore": "Draft back after a block was lifted",
    "draft.save": "Draft saved",
    "draft.undo": "Approval undone",
    "example.accept": "Correction accepted as an example",
    "example.add": "Example added",
    "example.move": "Example moved to another label",
    "example.reject": "Correction rejected",
    "example.remove": "Example removed",
    "examples.import": "Examples imported",
    "import.cases": "Case import",
    "import.customers": "Customer import",
    "import.interactions": "Interaction import",
    "import.subscriptions": "Subscription import",
    "incident.edit": "Incident edited",
    "incident.record": "Incident recorded",
    "incident.reopen": "Incident reopened",
    "incident.resolve": "Incident resolved",
    "message.assign": "Message assigned",
    "message.draft_anyway": "Ignored message drafted anyway",
    "message.leave_unsent": "Message left unsent",
    "message.reclassify": "Message reclassified",
    "message.reopen": "Message reopened",
    "message.retry": "Message retried",
    "message.snooze": "Message snoozed",
    "message.unfetchable": "Mail no longer on the server, ignored",
    "message.wake": "Message woken",
    "note.add": "Note added",
    "note.delete": "Note deleted",
    "note.edit": "Note edited",
    "reply.cc_remove": "Cc removed from a reply",
    "reply.cc_restore": "Cc put back on a reply",
    "reply.edit_again": "Undelivered reply back to edit",
    "reply.file_add": "File attached to a reply",
    "reply.file_remove": "File removed from a reply",
    "reply.leave_unsent": "Reply left unsent",
    "rules.overwrite": "Rules saved over another's change",
    "rules.save": "Rules saved",
    "sender.block": "Sender blocked",
    "sender.unblock": "Sender unblocked",
    "snippet.create": "Snippet created",
    "snippet.import": "Snippet imported",
    "snippet.restore": "Snippet restored",
    "snippet.retire": "Snippet retired",
    "snippet.rollback": "Snippet rolled back",
    "snippet.save": "Snippet saved",
    "staff.add": "Staff account added",
    "staff.deactivate": "Staff account deactivated",
    "staff.password_reset": "Staff password reset",
    "staff.reactivate": "Staff account reactivated",
    "staff.role": "Staff role changed",
    "template.create": "Template created",
    "template.failed": "Template failed to render",
    "template.import": "Template imported",
    "template.restore": "Template restored",
    "template.retire": "Template retired",
    "template.rollback": "Template rolled back",
    "template.save": "Template saved",
    "webhook.retry": "Webhook delivery retried",
}


def action_words(action: str) -> str:
    """`template.save` -> `Template saved`; a code without words is shown as it is."""
    return ACTION_WORDS.get(action, action)


UTC_CLOCK = PageClock()


class Field(NamedTuple):
    name: str
    text: str
    long: bool

    @property
    def glimpse(self) -> str:
        return self.text[:GLIMPSE].rstrip() + "…"


def _moment(value: str, clock: PageClock) -> str | None:
    """The time in the page's zone, named; None for text that only looks like a time (a
    reason typed as "2026-02-30T09:00Z") or one the zone cannot write (past the year 9999)."""
    try:
        return f"{clock.minute(datetime.fromisoformat(value))} {clock.label}"
    except (ValueError, OverflowError):
        return None


def _text(value: Any, clock: PageClock) -> str:
    if isinstance(value, str) and ISO_MOMENT.fullmatch(value):
        return _moment(value, clock) or value
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "; ".join(value) if value else "none"
    return json.dumps(value, ensure_ascii=False)


def audit_fields(detail: Any, clock: PageClock = UTC_CLOCK) -> list[Field]:
    """One field per key, named in words (`draft_version` reads "draft version"); times in the
    page's time zone, named."""
    if not isinstance(detail, dict):
        text = _text(detail, clock)
        return [Field("detail", text, len(text) > LONG)] if detail else []
    fields = []
    for key, value in detail.items():
        text = _text(value, clock)
        fields.append(Field(str(key).replace("_", " "), text, len(text) > LONG))
    return fields
