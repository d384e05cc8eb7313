"""CSV imports from CRM and billing exports: idempotent upsert by external id, streamed in batches.

The whole file is checked first (not empty, UTF-8 throughout, the required columns in its
header), so a file the importer cannot read changes nothing. It is then read row by row and
written a batch at a time: one look-up of the batch's external ids, bulk inserts and bulk
updates, one commit. Memory depends on the batch, not the file. A bad row (wrong type, unknown
customer, bad phone number, a value longer than its column or a number too large for it) is
reported as `file:line: problem` and skipped; the good rows are kept. Should the database
still refuse a batch, the import stops there: that batch is rolled back, the earlier ones stay,
and the summary says which lines were and were not imported (`stopped`). A dry run (the web
page's preview) does the same, each batch in its own transaction that is rolled back, so it
holds SQLite's write lock for a batch at a time, not for the whole file (the worker and the
review pages write in between). Its counts and messages are still the import's: it keeps the
external ids and identities its earlier batches would have added (`_Earlier`), so a row seen
again in a later batch counts as updated, as in the import; a dry run's memory grows with the
file's new rows, an import's does not, but only by about 50 bytes a new customer: they are
held as hashes (`preview_keys`).

A customer row whose email or phone belongs to a provisional customer (someone who wrote in
before the CRM had them) links that one to the row's customer, as an agent would (`links`),
and says so by line (`linked`), unless an agent kept those two apart (unlinked them, or said
"not this customer"): the provisional customer keeps it, the row's customer is imported without
it, and the line says why (`not_linked`); otherwise the next import would undo the agent's
decision. One held by another known customer is a clash, the row skipped. An agent may link
that provisional customer from its page while the batch runs: the link is made with its row
locked (`links.hold_provisional`), so the batch finds the agent's link and says so on the line
(linked by them, or to another customer and so not to the row's) instead of failing. The
linked senders' waiting drafts are queued in the import's last transaction, for the workers to
write again (`customers.redraft_queue`; `redrafts` says how many).
A subscriptions import summarises each customer it touched, and the one a subscription moved
away from (`summary`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from itertools import chain, islice
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from responder.config import ImportColumns, Settings
from responder.customers.csvcheck import file_problem
from responder.customers.identity import normalise_email, normalise_handle, normalise_phone
from responder.customers.import_finish import finish
from responder.customers.links import (
    LinkError,
    active_link,
    hold_provisional,
    link_customers,
    ruled_out,
)
from responder.customers.preview_keys import HashedKeys, hashed
from responder.customers.redraft_queue import queued_words
from responder.customers.summary import summarise_subscriptions
from responder.customers.value import rescore
from responder.db.models import Customer, CustomerIdentity, Interaction, Subscription, SupportCase
from responder.db.outage import database_unavailable, first_line

KINDS = ("customers", "subscriptions", "cases", "interactions")
AUDITED_PROBLEMS = 20  # the first bad rows named in the audit log; the count says the rest
CUSTOMERS = Customer.__table__
Progress = Callable[[int], None]
INTEGER_MAX = 2**31 - 1  # the database's INTEGER columns (lines, followers)
ID_LENGTH = 100  # external ids
IDENTITY_LENGTH = 320  # an email address, phone number or handle as stored and as written


@dataclass
class ImportSummary:
    kind: str = "customers"
    path: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)
    pending: list[tuple[int, str]] = field(default_factory=list, repr=False)
    stopped: str = ""  # why the import stopped part-way, and where; "" when it read the file
    # Rows imported but the last step (tiers, the audit entry) lost: what and why; "" when done.
    audit_failed: str = ""
    # Provisional customers linked to the known customer a row names (`file:line: ...`).
    linked: list[str] = field(default_factory=list)
    link_ids: list[int] = field(default_factory=list, repr=False)
    # Those an agent kept apart from that customer, so not linked (`file:line: ...`).
    not_linked: list[str] = field(default_factory=list)
    # The linked senders' waiting drafts, queued in the import's last step for the workers to
    # write again (`customers.redraft_queue`): the rows, and the report's line ("" for none).
    redraft_ids: list[int] = field(default_factory=list, repr=False)
    redrafts: str = ""
    actor: str = "cli"
    dry_run: bool = False

    def linked_to(
        self, line: int, identity: tuple[str, str, str], external_id: str, link: int, done: bool
    ) -> None:
        """A provisional customer (the sender of earlier messages) is this row's customer."""
        self.link_ids.append(link)
        is_linked = "is linked" if done else "would be linked"
        self.linked.append(
            f"{self.path}:{line}: {identity[0]} {identity[2]!r} wrote to us before the CRM "
            f"had them: that provisional customer {is_linked} to {external_id}, with its "
            "messages (unlink it on its customer page if that is wrong)"
        )

    def linked_meanwhile(
        self, line: int, identity: tuple[str, str, str], external_id: str, link: int, who: str
    ) -> None:
        """Someone (an agent on the sender's page) linked this provisional customer to the
        row's customer while the import ran: linked, by them."""
        self.link_ids.append(link)
        self.linked.append(
            f"{self.path}:{line}: {identity[0]} {identity[2]!r} wrote to us before the CRM "
            f"had them: {who} linked that provisional customer to {external_id} while this "
            "import ran, with its messages"
        )

    def not_linked_meanwhile(
        self, line: int, identity: tuple[str, str, str], external_id: str, why: str, done: bool
    ) -> None:
        """The provisional customer changed while the import ran (`why`: linked to another
        customer by an agent, say): the row's customer is imported without it."""
        imported = "is imported" if done else "would be imported"
        self.not_linked.append(
            f"{self.path}:{line}: {identity[0]} {identity[2]!r} wrote to us before the CRM "
            f"had them, but {why}: not linked to {external_id}, which {imported} without it"
        )

    def kept_apart(
        self, line: int, identity: tuple[str, str, str], external_id: str, why: str, done: bool
    ) -> None:
        """An agent unlinked this provisional customer from the row's, or ruled it out."""
        imported = "is imported" if done else "would be imported"
        self.not_linked.append(
            f"{self.path}:{line}: {identity[0]} {identity[2]!r} stays with the provisional "
            f"customer who wrote to us first, not linked to {external_id}: {why}; "
            f"{external_id} {imported} without it (link them by hand on the sender's page "
            "if they are the same person)"
        )

    def report(self, line: int, problem: str) -> None:
        self.pending.append((line, f"{self.path}:{line}: {problem}"))

    def flush(self) -> None:
        """A batch's errors in file order, whichever check found them."""
        self.errors += [text for _, text in sorted(self.pending)]
        self.pending.clear()

    @property
    def skipped(self) -> int:
        return len(self.errors)

    def lines(self) -> list[str]:
        return [
            f"{self.kind}: {self.rows} rows, {self.created} created, {self.updated} updated, "
            f"{self.skipped} skipped",
            *([self.stopped] if self.stopped else []),
            *([self.audit_failed] if self.audit_failed else []),
            *self.linked,
            *self.not_linked,
            *([self.redrafts] if self.redrafts else []),
        ]

    def stop(self, batch: int, first: int, last: int, exc: BaseException, dry_run: bool) -> None:
        """The batch the database refused: it and the rest of the file are not imported."""
        self.pending.clear()
        lost = database_unavailable(exc)
        if dry_run:
            why = (
                "the database could not be reached" if lost else "the database refuses a row there"
            )
            self.stopped = (
                f"{self.path}: the import would stop at line {first} (batch {batch}, lines "
                f"{first}-{last}): {why}: {first_line(exc)}. Lines "
                f"before {first} would be imported; none from line {first} on would be"
            )
            return
        why = "the database could not be reached" if lost else "the database refused a row there"
        self.stopped = (
            f"{self.path}: stopped at line {first} (batch {batch}, lines {first}-{last}): "
            f"{why}: {first_line(exc)}. Lines before {first} are imported "
            f"({self.created} added, {self.updated} updated, {self.skipped} skipped); nothing "
            f"from line {first} on is. Correct the file and import it again: rows already "
            "imported are matched by external id, not added twice"
        )

    def unaudited(self, exc: BaseException, tiers: bool) -> None:
        """The rows are imported but the last transaction (tiers, the audit entry) failed: say
        what was imported and what is missing, since nothing else records it."""
        why = (
            "the database could not be reached"
            if database_unavailable(exc)
            else "the database refused it"
        )
        tiers_too = " and value scores and tiers were not recomputed" if tiers else ""
        self.audit_failed = (
            f"{self.path}: imported, {self.created} added and {self.updated} updated "
            f"({self.skipped} skipped), but the audit entry could not be written{tiers_too}: "
            f"{why}: {first_line(exc)}. Import the file again once the database is back: "
            "rows already imported are matched by external id, not added "
            "twice, and that import is audited"
        )


class RowError(ValueError):
    pass


class _Earlier:
    """What a dry run's earlier batches would have added, their transactions being rolled back:
    new external ids, and each new identity's customer (external id). A later batch inserts such
    a row again in its own transaction (the same values reach the database) and counts it as
    updated, and refuses an identity another customer would have, as the import would. Held as
    hashes (`preview_keys`), so a large file's preview does not hold its every id as text."""

    def __init__(self) -> None:
        self.added = HashedKeys()
        self.identities = HashedKeys(valued=True)

    def split(self, new: list[str]) -> tuple[int, int]:
        """(added, updated) for a batch's rows not on file: one an earlier batch added is an
        update, as in the import; the others are remembered as added."""
        keys = hashed(new)
        again = int(self.added.held(keys).sum())
        self.added.add(keys)
        return len(new) - again, again

    @staticmethod
    def customer(external_id: str) -> int:
        """The customer as `owners` names it."""
        return int(hashed([external_id])[0])

    def owners(self, identities: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """Of these (kind, value) identities, those an earlier batch gave a customer: whose."""
        found = self.identities.values(hashed(_identity_key(i) for i in identities))
        return {identities[at]: owner for at, owner in found.items()}

    def give(self, given: list[tuple[tuple[str, str], str]]) -> None:
        """Each (kind, value) identity to its customer's external id."""
        self.identities.add(hashed(_identity_key(i) for i, _ in given), hashed(c for _, c in given))


def _identity_key(identity: tuple[str, str]) -> str:
    return f"{identity[0]}\0{identity[1]}"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (empty, not UTF-8, a required column missing);
    nothing on file changed."""


class _Refused(Exception):
    """The database refused a batch: (batch number, its first line, its last line)."""

    def __init__(self, where: tuple[int, int, int], cause: SQLAlchemyError) -> None:
        super().__init__(str(cause))
        self.where = where
        self.cause = cause


# -- values --------------------------------------------------------------------------------------


def _number(row: dict[str, str], name: str, kind: type[int] | type[float]) -> Any:
    value = row.get(name, "")
    if not value:
        return None
    try:
        number = kind(value)
    except ValueError:
        raise RowError(f"{name}: {value!r} is not a {kind.__name__}") from None
    if kind is int and abs(number) > INTEGER_MAX:
        raise RowError(f"{name}: {value!r} is too large")
    if kind is float and not math.isfinite(number):
        raise RowError(f"{name}: {value!r} is not a number")
    return number


def _day(row: dict[str, str], name: str) -> str:
    value = row.get(name, "")
    if value:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise RowError(f"{name}: {value!r} is not a date (YYYY-MM-DD)") from None
    return value


def _moment(row: dict[str, str], name: str) -> datetime | None:
    value = row.get(name, "")
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"{name}: {value!r} is not a date and time (ISO 8601)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _list(row: dict[str, str], name: str) -> list[str]:
    return [a.strip() for a in row.get(name, "").split(";") if a.strip()]


def _choice(row: dict[str, str], name: str, allowed: Iterable[str], default: str) -> str:
    value = (row.get(name) or default).lower()
    if value not in allowed:
        raise RowError(f"{name}: {row[name]!r} is not one of {', '.join(allowed)}")
    return value


def _text(row: dict[str, str], name: str, limit: int) -> str:
    value = row.get(name, "")
    if len(value) > limit:
        raise RowError(f"{name}: longer than {limit} characters")
    return value


# -- reading -------------------------------------------------------------------------------------


def read_rows(
    path: Path, columns: dict[str, str], required: Iterable[str], source: str = ""
) -> Iterator[Any]:
    """(line number, {field: stripped value}, problem) for each row, fields named as in the
    mapping. A row with more or fewer values than the header is a problem, not a row: read as
    it stands, its missing values would blank what is on file and its extra ones shift out of
    sight (a comma in an unquoted name, an export cut short, a quote never closed). `source`
    names the file in the messages (default: its path)."""
    source = source or str(path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise ImportFileError(f"{source}: the file is empty (no header row)")
        header = set(reader.fieldnames)
        width = len(reader.fieldnames or ())
        present = {f: c for f, c in columns.items() if c in header}
        missing = [f"{columns.get(f, f)!r}" for f in required if f not in present]
        if missing:
            found = ", ".join(repr(c) for c in reader.fieldnames) or "none"
            raise ImportFileError(
                f"{source}: required column {', '.join(missing)} missing (the header has {found})"
            )
        start = reader.line_num + 1
        for row in reader:
            problem = _shape_problem(row, width, reader.line_num - start)
            values = {f: (row.get(c) or "").strip() for f, c in present.items()}
            nul = next((present[f] for f, v in values.items() if "\x00" in v), None)
            if nul is not None and not problem:  # databases refuse it in text
                problem = f"{nul}: a NUL character (byte 0x00): row skipped"
            yield start, values, problem
            start = reader.line_num + 1


def _shape_problem(row: dict[Any, Any], width: int, lines_spanned: int) -> str:
    """Why a row's values do not line up with the header's columns, or ""."""
    extra = row.get(None) or []
    given = width + len(extra) - sum(1 for k, v in row.items() if k is not None and v is None)
    if given == width:
        return ""
    quote = " (a quote opened here and closed lines later, or never)" if lines_spanned else ""
    return (
        f"{given} values where the header has {width} columns{quote}: "
        "row skipped, nothing on file changed"
    )


def _batches(rows: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while batch := list(islice(rows, size)):
        yield batch


# -- customers -----------------------------------------------------------------------------------

CUSTOMER_TEXT = {"name": 300, "plan": 100, "segment": 30, "language": 10}


def customer_values(row: dict[str, str]) -> dict[str, Any]:
    """Column values for the fields present in the file; absent fields are left unchanged."""
    values: dict[str, Any] = {"provisional": False}
    for name, limit in CUSTOMER_TEXT.items():
        if name in row:
            values[name] = _text(row, name, limit)
    if "language" in values:
        values["language"] = values["language"] or "en"
    for name in ("contract_start", "contract_end"):
        if name in row:
            values[name] = _day(row, name)
    if "monthly_spend" in row:
        values["monthly_spend"] = _number(row, "monthly_spend", float)
    if "lines" in row:
        values["lines"] = _number(row, "lines", int)
    if "followers" in row:
        values["followers"] = _number(row, "followers", int) or 0
    if "addons" in row:
        values["addons"] = _list(row, "addons")
    return values


def customer_identities(row: dict[str, str], region: str) -> list[tuple[str, str, str]]:
    found: list[tuple[str, str, str]] = []
    if row.get("email"):
        address = normalise_email(row["email"])
        if not address:
            raise RowError(f"email: {row['email']!r} is not an email address")
        found.append(("email", address, row["email"]))
    for column in ("phone", "whatsapp"):
        if row.get(column):
            phone = normalise_phone(row[column], region)
            if not phone:
                raise RowError(f"{column}: {row[column]!r} is not a valid phone number")
            found.append(("phone", phone, row[column]))
    if row.get("x_handle"):
        handle = normalise_handle(row["x_handle"])
        if handle:
            found.append(("x_handle", handle, row["x_handle"]))
    for kind, value, written in found:
        if max(len(value), len(written)) > IDENTITY_LENGTH:
            raise RowError(f"{kind}: longer than {IDENTITY_LENGTH} characters")
    unique: dict[tuple[str, str], tuple[str, str, str]] = {}
    for identity in found:
        unique.setdefault(identity[:2], identity)
    return list(unique.values())


def _ids_by_external(session: Session, model: Any, external_ids: Iterable[str]) -> dict[str, int]:
    wanted = sorted(set(external_ids))
    if not wanted:
        return {}
    rows = session.execute(select(model.external_id, model.id).where(model.external_id.in_(wanted)))
    return dict(rows.all())


def _identity_owners(
    session: Session, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], tuple[int, bool]]:
    """Whose each (kind, value) identity is: (customer id, whether provisional)."""
    by_kind: dict[str, set[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, set()).add(value)
    owners: dict[tuple[str, str], tuple[int, bool]] = {}
    for kind, values in by_kind.items():
        rows = session.execute(
            select(CustomerIdentity.value, CustomerIdentity.customer_id, Customer.provisional)
            .join(Customer, Customer.id == CustomerIdentity.customer_id)
            .where(CustomerIdentity.kind == kind, CustomerIdentity.value.in_(sorted(values)))
        )
        owners.update({(kind, value): (owner, bool(p)) for value, owner, p in rows})
    return owners


@dataclass
class _Parsed:
    line: int
    external_id: str
    values: dict[str, Any]
    identities: list[tuple[str, str, str]] = field(default_factory=list)
    customer: str = ""


def _parse_customer(line: int, row: dict[str, str], region: str) -> _Parsed:
    external_id = row.get("external_id", "")
    if not external_id:
        raise RowError("external_id is empty")
    if len(external_id) > ID_LENGTH:
        raise RowError(f"external_id: longer than {ID_LENGTH} characters")
    return _Parsed(line, external_id, customer_values(row), customer_identities(row, region))


def _upsert_customers(
    session: Session,
    batch: list[_Parsed],
    summary: ImportSummary,
    earlier: _Earlier | None,
    actor: str,
) -> list[int]:
    """A known customer's identity held by a provisional customer (someone who wrote in before
    the CRM had them) is no clash: the provisional customer is linked to the known one, as an
    agent links it (`links`), so their messages join the known customer's timeline; unless an
    agent kept the two apart (`ruled_out`): then it keeps that identity and the row is imported
    without it."""
    merged: dict[str, _Parsed] = {}
    for parsed in batch:
        first = merged.get(parsed.external_id)
        if first is not None:
            first.values.update(parsed.values)
            first.identities += [i for i in parsed.identities if i not in first.identities]
            first.line = parsed.line
        else:
            merged[parsed.external_id] = parsed
    ids = _ids_by_external(session, Customer, merged)
    owners = _identity_owners(session, (i[:2] for p in merged.values() for i in p.identities))
    claimed: dict[tuple[str, str], str] = {}
    merging: dict[int, tuple[_Parsed, tuple[str, str, str]]] = {}  # provisional: row, identity
    apart = ruled_out(session, (o for o, p in owners.values() if p), ids.values())
    kept: dict[tuple[int, str], tuple[_Parsed, tuple[str, str, str], str]] = {}
    accepted: list[_Parsed] = []
    given = (
        earlier.owners(list({i[:2] for p in merged.values() for i in p.identities}))
        if earlier is not None
        else {}
    )

    def taken(identity: tuple[str, str, str], external_id: str, own_id: int | None) -> bool:
        owner, provisional = owners.get(identity[:2], (own_id, False))
        if owner == own_id:
            return False
        promised = merging.get(owner)  # a provisional customer joins one known customer
        return not provisional or (promised is not None and promised[0].external_id != external_id)

    for parsed in merged.values():
        own_id = ids.get(parsed.external_id)
        mine = earlier.customer(parsed.external_id) if earlier is not None and given else 0
        clash = next(
            (
                i
                for i in parsed.identities
                if taken(i, parsed.external_id, own_id)
                or given.get(i[:2], mine) != mine
                or claimed.get(i[:2], parsed.external_id) != parsed.external_id
            ),
            None,
        )
        if clash is not None:
            summary.report(
                parsed.line, f"{clash[0]} {clash[2]!r} already belongs to another customer"
            )
            continue
        for identity in parsed.identities:
            claimed[identity[:2]] = parsed.external_id
            owner, provisional = owners.get(identity[:2], (own_id, False))
            if not provisional or owner == own_id or identity[:2] in given:
                continue  # none, or linked by an earlier batch
            if (why := apart.get((owner, own_id or 0))) is not None:
                kept.setdefault((owner, parsed.external_id), (parsed, identity, why))
            else:
                merging.setdefault(owner, (parsed, identity))
        accepted.append(parsed)
    now = datetime.now(UTC)
    new = [p for p in accepted if p.external_id not in ids]
    old = [p for p in accepted if p.external_id in ids]
    if new:
        created = session.execute(
            insert(CUSTOMERS).returning(CUSTOMERS.c.external_id, CUSTOMERS.c.id),
            [{"external_id": p.external_id, **p.values} for p in new],
        )
        ids.update(dict(created.all()))
    if old:
        session.execute(
            update(Customer),
            [{"id": ids[p.external_id], "updated_at": now, **p.values} for p in old],
        )
    identities = [
        {"customer_id": ids[p.external_id], "kind": kind, "value": value, "display": display}
        for p in accepted
        for kind, value, display in p.identities
        if (kind, value) not in owners
    ]
    if identities:
        session.execute(insert(CustomerIdentity.__table__), identities)
    _count(summary, [p.external_id for p in new], len(old), earlier)
    given_now = [
        ((kind, value), parsed.external_id)
        for parsed in accepted
        for kind, value, _ in parsed.identities
        if (kind, value) not in owners
    ]
    for provisional_id, (parsed, identity) in merging.items():
        # A preview's later batches: all its identities go with it, not only those in the file
        # (read before they move).
        theirs = (
            session.execute(
                select(CustomerIdentity.kind, CustomerIdentity.value).where(
                    CustomerIdentity.customer_id == provisional_id
                )
            ).all()
            if earlier is not None
            else []
        )
        target = ids[parsed.external_id]
        if _link(
            session, summary, provisional_id, target, parsed, identity, actor, earlier is None
        ):
            given_now += [((kind, value), parsed.external_id) for kind, value in theirs]
    for parsed, identity, why in kept.values():
        summary.kept_apart(parsed.line, identity, parsed.external_id, why, earlier is None)
    if earlier is not None:
        earlier.give(given_now)
    return [ids[p.external_id] for p in accepted]


def _link(
    session: Session,
    summary: ImportSummary,
    provisional_id: int,
    customer_id: int,
    parsed: _Parsed,
    identity: tuple[str, str, str],
    actor: str,
    done: bool,
) -> bool:
    """Link the provisional customer to the row's, as the batch read them; whether this
    import linked it. An agent may have linked it meanwhile (from its customer page, as the
    batch ran), or kept the two apart: read again with its row locked (`hold_provisional`),
    that is said on the row's line, and the batch goes on. `done`: an import, not a preview."""
    hold_provisional(session, provisional_id)
    meanwhile = active_link(session, provisional_id)
    if meanwhile is not None:
        who = meanwhile.linked_by or "someone"
        if meanwhile.target_id == customer_id:
            summary.linked_meanwhile(parsed.line, identity, parsed.external_id, meanwhile.id, who)
            return False
        other = session.get(Customer, meanwhile.target_id)
        name = (other.external_id or other.name) if other is not None else "another customer"
        why = f"{who} linked that provisional customer to {name} while this import ran"
        summary.not_linked_meanwhile(parsed.line, identity, parsed.external_id, why, done)
        return False
    apart = ruled_out(session, [provisional_id], [customer_id]).get((provisional_id, customer_id))
    if apart is not None:
        summary.kept_apart(parsed.line, identity, parsed.external_id, apart, done)
        return False
    try:
        link = link_customers(
            session, provisional_id, customer_id, actor, imported_from=summary.path
        )
    except LinkError as exc:
        why = f"that provisional customer could not be linked ({exc})"
        summary.not_linked_meanwhile(parsed.line, identity, parsed.external_id, why, done)
        return False
    summary.linked_to(parsed.line, identity, parsed.external_id, link.id, done)
    return True


def _count(summary: ImportSummary, new: list[str], old: int, earlier: _Earlier | None) -> None:
    added, again = earlier.split(new) if earlier is not None else (len(new), 0)
    summary.created += added
    summary.updated += old + again


# -- subscriptions, cases, interactions ----------------------------------------------------------


def _subscription_values(row: dict[str, str]) -> dict[str, Any]:
    return {
        "plan": _text(row, "plan", 100),
        "monthly_spend": _number(row, "monthly_spend", float),
        "addons": _list(row, "addons"),
        "contract_start": _day(row, "contract_start"),
        "contract_end": _day(row, "contract_end"),
        "lines": _number(row, "lines", int),
        "status": _choice(row, "status", ("active", "suspended", "cancelled"), "active"),
    }


def _case_values(row: dict[str, str]) -> dict[str, Any]:
    return {
        "category": _text(row, "category", 50).lower(),
        "status": _choice(row, "status", ("open", "closed"), "open"),
        "subject": row.get("subject", ""),
        "opened_at": _moment(row, "opened_at"),
        "closed_at": _moment(row, "closed_at"),
    }


def _interaction_values(row: dict[str, str]) -> dict[str, Any]:
    at = _moment(row, "at")
    if at is None:
        raise RowError("at: a date and time is required")
    return {
        "channel": (_text(row, "channel", 30) or "phone").lower(),
        "direction": _choice(row, "direction", ("in", "out"), "in"),
        "at": at,
        "summary": row.get("summary", ""),
        "agent": _text(row, "agent", 100),
    }


RELATED: dict[str, tuple[Any, Callable[[dict[str, str]], dict[str, Any]]]] = {
    "subscriptions": (Subscription, _subscription_values),
    "cases": (SupportCase, _case_values),
    "interactions": (Interaction, _interaction_values),
}


def _parse_related(kind: str, line: int, row: dict[str, str]) -> _Parsed:
    external_id = row.get("external_id", "")
    if not external_id:
        raise RowError("external_id is empty")
    if len(external_id) > ID_LENGTH:
        raise RowError(f"external_id: longer than {ID_LENGTH} characters")
    if not row.get("customer"):
        raise RowError("customer is empty")
    return _Parsed(line, external_id, RELATED[kind][1](row), customer=row["customer"])


def _upsert_related(
    session: Session,
    kind: str,
    batch: list[_Parsed],
    summary: ImportSummary,
    earlier: _Earlier | None,
) -> list[int]:
    model = RELATED[kind][0]
    customers = _ids_by_external(session, Customer, (p.customer for p in batch))
    known: dict[str, _Parsed] = {}
    for parsed in batch:
        if parsed.customer not in customers:
            summary.report(parsed.line, f"unknown customer {parsed.customer!r}")
            continue
        parsed.values["customer_id"] = customers[parsed.customer]
        known[parsed.external_id] = parsed
    ids = _ids_by_external(session, model, known)
    new = [{"external_id": e, **p.values} for e, p in known.items() if e not in ids]
    old = [{"id": ids[e], **p.values} for e, p in known.items() if e in ids]
    # A row moved to another customer changes the one it leaves too (its plan and spend).
    former = set(
        session.scalars(select(model.customer_id).where(model.id.in_([r["id"] for r in old])))
        if old
        else ()
    )
    if new:
        session.execute(insert(model), new)
    if old:
        session.execute(update(model), old)
    _count(summary, [row["external_id"] for row in new], len(old), earlier)
    return sorted(former | {p.values["customer_id"] for p in known.values()})


# -- the import ----------------------------------------------------------------------------------


def required_fields(kind: str) -> tuple[str, ...]:
    return ("external_id",) if kind == "customers" else ("external_id", "customer")


def expected_columns(settings: Settings, kind: str) -> list[tuple[str, str, bool]]:
    """(column in the export, Responder field, required) for one kind, as `[import_columns]`
    maps them: what an upload form tells the person choosing a file."""
    columns: dict[str, str] = getattr(settings.import_columns or ImportColumns(), kind)
    required = required_fields(kind)
    return [(column, name, name in required) for name, column in columns.items()]


Batches = Callable[[], AbstractContextManager[Session]]


def _transactions(factory: sessionmaker[Session], dry_run: bool) -> Batches:
    """Each batch's own transaction: committed, or in a dry run rolled back, so no batch holds
    the database's write lock longer than it takes to write (`_Earlier` stands in for what the
    earlier batches of a dry run would have left)."""

    @contextmanager
    def own() -> Iterator[Session]:
        with factory() as session:
            session.begin()
            try:
                yield session
                if not dry_run:
                    session.commit()
            finally:
                session.rollback()

    return own


def import_csv(
    factory: sessionmaker[Session],
    kind: str,
    path: Path,
    progress: Progress | None = None,
    *,
    settings: Settings | None = None,
    today: date | None = None,
    actor: str = "cli",
    dry_run: bool = False,
    source: str = "",
    via: str = "cli",
) -> ImportSummary:
    """Upsert one export into the database; tiers are recomputed once at the end, and the
    import is in the audit log (who, which file, what it changed, the first problems), since
    it can change every customer on file; that last step is retried after a lost connection
    (`import_finish`), and should it still fail, the summary says so (`audit_failed`).
    `dry_run` counts and reports the same and changes nothing (no audit entry either);
    `source` names the file in the messages and the audit log when `path` is only where an
    upload was put."""
    if kind not in KINDS:
        raise ValueError(f"unknown import {kind!r}: one of {', '.join(KINDS)}")
    settings = settings or Settings()
    today = today or date.today()
    columns: dict[str, str] = getattr(settings.import_columns or ImportColumns(), kind)
    source = source or str(path)
    summary = ImportSummary(kind=kind, path=source, actor=actor, dry_run=dry_run)
    region = settings.customers.default_region
    if problem := file_problem(path):
        advice = ": save the export as CSV UTF-8" if problem.startswith("not UTF-8") else ""
        raise ImportFileError(f"{source}: {problem}{advice}")
    rows = read_rows(path, columns, required_fields(kind), source)
    header_read = next(rows, None)  # the header's problems are raised before any batch
    if header_read is not None:
        rows = chain([header_read], rows)
    transaction = _transactions(factory, dry_run)
    earlier = _Earlier() if dry_run else None
    try:
        _import_rows(
            kind, rows, summary, transaction, earlier, settings, today, region, progress, actor
        )
    except _Refused as refused:
        summary.stop(*refused.where, refused.cause, dry_run)
    if dry_run:
        return summary
    tiers = kind in ("customers", "subscriptions")
    detail = {
        "path": source,
        "via": via,
        "rows": summary.rows,
        "created": summary.created,
        "updated": summary.updated,
        "skipped": summary.skipped,
        "problems": summary.errors[:AUDITED_PROBLEMS],
        **({"stopped": summary.stopped} if summary.stopped else {}),
        **({"linked": summary.linked[:AUDITED_PROBLEMS]} if summary.linked else {}),
        **({"not_linked": summary.not_linked[:AUDITED_PROBLEMS]} if summary.not_linked else {}),
    }
    try:
        summary.redraft_ids = finish(
            factory,
            kind,
            source,
            detail,
            tiers=settings.value if tiers else None,
            actor=actor,
            linked=summary.link_ids,
            via=via,
        )
    except SQLAlchemyError as exc:
        summary.unaudited(exc, tiers)
        if summary.link_ids:
            summary.redrafts = (
                f"{source}: the waiting drafts of the senders it linked were not queued to be"
                " written again for them, with the audit entry: each one's page offers a redraft"
            )
        return summary
    summary.redrafts = queued_words(source, len(summary.redraft_ids))
    return summary


def _import_rows(
    kind: str,
    rows: Iterator[Any],
    summary: ImportSummary,
    transaction: Batches,
    earlier: _Earlier | None,
    settings: Settings,
    today: date,
    region: str,
    progress: Progress | None,
    actor: str,
) -> None:
    for number, batch in enumerate(_batches(rows, settings.customers.import_batch_size), 1):
        parsed: list[_Parsed] = []
        for line, row, problem in batch:
            if problem:
                summary.report(line, problem)
                continue
            try:
                if kind == "customers":
                    parsed.append(_parse_customer(line, row, region))
                else:
                    parsed.append(_parse_related(kind, line, row))
            except RowError as exc:
                summary.report(line, str(exc))
        counts = (
            summary.created,
            summary.updated,
            len(summary.linked),
            len(summary.link_ids),
            len(summary.not_linked),
        )
        try:
            with transaction() as session:
                if kind == "customers":
                    touched = _upsert_customers(session, parsed, summary, earlier, actor)
                else:
                    touched = _upsert_related(session, kind, parsed, summary, earlier)
                if kind == "subscriptions":
                    summarise_subscriptions(session, touched)
                if kind in ("customers", "subscriptions"):
                    rescore(session, settings.value, today, touched)
        except SQLAlchemyError as exc:
            summary.created, summary.updated = counts[:2]  # the batch was rolled back
            del summary.linked[counts[2] :], summary.link_ids[counts[3] :]
            del summary.not_linked[counts[4] :]
            raise _Refused((number, batch[0][0], batch[-1][0]), exc) from exc
        summary.rows += len(batch)
        summary.flush()
        if progress:
            progress(summary.rows)


def import_customers(
    factory: sessionmaker[Session],
    path: Path,
    progress: Progress | None = None,
    *,
    settings: Settings | None = None,
) -> ImportSummary:
    return import_csv(factory, "customers", path, progress, settings=settings)
