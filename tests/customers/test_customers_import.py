"""CSV imports: bad rows reported by file and line, good rows kept, re-import idempotent."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from sqlalchemy import Engine, create_engine, event, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from responder.cli import main
from responder.customers.importer import import_csv, import_customers
from responder.db.models import (
    AuditEntry,
    Customer,
    CustomerIdentity,
    Interaction,
    Subscription,
    SupportCase,
)
from responder.runtime import Runtime
from tests.helpers import lose_database_at_import_audit, refuse_plan, run_cli

HEADER = "external_id,name,email,phone,plan,monthly_spend,contract_end,lines,x_handle,whatsapp\n"


def _count(rt: Runtime, model: type) -> int:
    with rt.factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_bad_rows_are_reported_with_file_and_line_and_good_rows_kept(
    rt: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "crm.csv"
    path.write_text(
        HEADER
        + "X1,Ann Lee,ann@lee.test,+353851234567,Smart,25.00,2027-01-01,1,@annlee,\n"
        + "X2,Bad Spend,bad@spend.test,,Smart,lots,,1,,\n"
        + "X3,Bad Phone,bad@phone.test,12,Smart,10,,1,,\n"
        + "X4,Bad Date,bad@date.test,,Smart,10,31/12/2026,1,,\n"
        + "X5,Same Mail,ANN@LEE.TEST,,Smart,10,,1,,\n"
        + "X6,Bob Ray,bob@ray.test,087 123 4568,Basic,15,,1,,087 123 4568\n"
    )
    summary = import_customers(rt.factory, path, settings=rt.settings)
    assert (summary.created, summary.updated, summary.skipped) == (2, 0, 4)
    assert summary.errors[0] == f"{path}:3: monthly_spend: 'lots' is not a float"
    assert summary.errors[1].startswith(f"{path}:4: phone: '12' is not a valid phone number")
    assert summary.errors[2].startswith(f"{path}:5: contract_end:")
    assert summary.errors[3].startswith(f"{path}:6: email 'ANN@LEE.TEST' already belongs")
    with rt.factory() as session:
        bob = session.scalar(select(Customer).where(Customer.external_id == "X6"))
        assert bob is not None and bob.monthly_spend == 15.0
        phones = session.scalars(
            select(CustomerIdentity.value).where(
                CustomerIdentity.customer_id == bob.id, CustomerIdentity.kind == "phone"
            )
        ).all()
        assert phones == ["+353871234568"]  # national number, default region IE, stored once


def test_reimport_is_idempotent_and_updates_changed_rows(rt: Runtime, tmp_path: Path) -> None:
    path = rt.settings.path("demo") / "customers.csv"
    first = import_customers(rt.factory, path, settings=rt.settings)
    assert (first.created, first.skipped) == (50, 0)
    identities = _count(rt, CustomerIdentity)
    again = import_customers(rt.factory, path, settings=rt.settings)
    assert (again.created, again.updated, again.skipped) == (0, 50, 0)
    assert _count(rt, Customer) == 50
    assert _count(rt, CustomerIdentity) == identities
    changed = tmp_path / "changed.csv"
    changed.write_text("external_id,plan\nC1001,Unlimited Plus\n")
    import_customers(rt.factory, changed, settings=rt.settings)
    with rt.factory() as session:
        aoife = session.scalar(select(Customer).where(Customer.external_id == "C1001"))
        assert aoife is not None
        assert aoife.plan == "Unlimited Plus"
        assert aoife.monthly_spend == 25.0  # a column the file does not have is left alone


def test_subscriptions_cases_and_interactions_import_and_summarise(
    rt: Runtime, demo_customers: None, tmp_path: Path
) -> None:
    demo = rt.settings.path("demo")
    for kind, model, rows in (
        ("subscriptions", Subscription, 52),
        ("cases", SupportCase, 5),
        ("interactions", Interaction, 6),
    ):
        summary = import_csv(rt.factory, kind, demo / f"{kind}.csv", settings=rt.settings)
        assert (summary.created, summary.skipped) == (rows, 0), summary.errors
        again = import_csv(rt.factory, kind, demo / f"{kind}.csv", settings=rt.settings)
        assert (again.created, again.updated) == (0, rows)
        assert _count(rt, model) == rows
    with rt.factory() as session:
        declan = session.scalar(select(Customer).where(Customer.external_id == "C1002"))
        assert declan is not None
        # Two billing accounts add up to the customer's spend and lines.
        assert (declan.monthly_spend, declan.lines) == (312.5, 5)
        assert declan.addons == ["World Roam Pass", "Device Insurance"]
        assert declan.tier == "Best"
    bad = tmp_path / "cases.csv"
    bad.write_text(
        "case_id,customer_id,category,status,subject,opened_at,closed_at\n"
        "K1,C9999,complaint,open,Nobody,2026-11-01T10:00:00Z,\n"
        "K2,C1001,complaint,pending,Odd status,2026-11-01T10:00:00Z,\n"
        "K3,C1001,complaint,open,Fine,yesterday,\n"
        "K4,C1001,complaint,open,Fine,2026-11-01T10:00:00Z,\n"
    )
    summary = import_csv(rt.factory, "cases", bad, settings=rt.settings)
    assert summary.created == 1
    assert summary.errors == [
        f"{bad}:2: unknown customer 'C9999'",
        f"{bad}:3: status: 'pending' is not one of open, closed",
        f"{bad}:4: opened_at: 'yesterday' is not a date and time (ISO 8601)",
    ]


def test_cli_import_prints_a_summary(
    project: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = str(project / "config.toml")
    assert (
        main(["--config", config, "import", "customers", str(project / "demo/customers.csv")]) == 0
    )
    assert "created: 50" in capsys.readouterr().out
    bad = tmp_path / "interactions.csv"
    bad.write_text(
        "interaction_id,customer_id,channel,direction,at,summary,agent\n"
        "I1,C1001,phone,in,2026-11-20T09:00:00Z,Called,Ann\n"
        "I2,C1001,phone,sideways,2026-11-20T09:00:00Z,Called,Ann\n"
    )
    assert main(["--config", config, "import", "interactions", str(bad)]) == 1
    captured = capsys.readouterr()
    assert "created: 1" in captured.out and "skipped: 1" in captured.out
    assert f"{bad}:3: direction" in captured.err


def test_a_row_cut_short_or_run_on_is_skipped_and_blanks_nothing_on_file(
    rt: Runtime, tmp_path: Path
) -> None:
    """An export cut short used to import its short row with every missing value blank, wiping
    the customer's plan, spend and contract; a quote never closed ate the rows after it."""
    first = tmp_path / "crm.csv"
    first.write_text(HEADER + "X1,Ann Lee,ann@lee.test,,Smart,25.00,2027-01-01,1,,\n")
    import_customers(rt.factory, first, settings=rt.settings)
    path = tmp_path / "cut.csv"
    path.write_text(
        HEADER
        + "X1,Ann Lee,ann@lee.test\n"
        + "X2,Lee, Ann,lee@ann.test,,Smart,10,,1,,\n"
        + 'X3,"Unclosed,x3@mail.test,,Smart,10,,1,,\n'
        + "X4,Bob Ray,bob@ray.test,,Basic,15,,1,,\n"
    )
    summary = import_customers(rt.factory, path, settings=rt.settings)
    assert summary.errors == [
        f"{path}:2: 3 values where the header has 10 columns: row skipped, nothing on file changed",
        f"{path}:3: 11 values where the header has 10 columns: row skipped, nothing on file "
        "changed",
        f"{path}:4: 2 values where the header has 10 columns (a quote opened here and closed "
        "lines later, or never): row skipped, nothing on file changed",
    ]
    assert (summary.created, summary.updated) == (0, 0)
    with rt.factory() as session:
        ann = session.scalar(select(Customer).where(Customer.external_id == "X1"))
        assert ann is not None
        assert (ann.plan, ann.monthly_spend, ann.contract_end) == ("Smart", 25.0, "2027-01-01")


def test_an_import_is_in_the_audit_log_with_what_it_changed(rt: Runtime, tmp_path: Path) -> None:
    """An import can change every customer on file; it left no trace for a supervisor."""
    from litestar.testing import TestClient

    from responder.web.app import create_app
    from tests.helpers import staff
    from tests.test_web_security import login

    path = tmp_path / "crm.csv"
    path.write_text(
        HEADER
        + "X1,Ann Lee,ann@lee.test,,Smart,25.00,2027-01-01,1,,\n"
        + "X2,Bad Spend,bad@spend.test,,Smart,lots,,1,,\n"
    )
    import_csv(rt.factory, "customers", path, settings=rt.settings)
    staff(rt, "sue", "supervisor")
    with TestClient(create_app(rt)) as client:
        login(client, "sue")
        page = client.get("/audit", params={"action": "import."}).text
    assert "import.customers" in page and "file crm.csv" in page
    assert "<b>created</b>: 1" in page and "<b>skipped</b>: 1" in page
    assert f"<b>problems</b>: {path}:3: monthly_spend: &#39;lots&#39;" in page


def test_a_dry_run_counts_as_the_import_would_across_batches_and_changes_nothing(
    rt: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("external_id,plan\nX1,Basic\nX2,Basic\nX1,Smart\nX3,Basic\nX4,\n")
    customers = msgspec.structs.replace(rt.settings.customers, import_batch_size=2)
    settings = msgspec.structs.replace(rt.settings, customers=customers)
    dry = import_csv(rt.factory, "customers", path, settings=settings, dry_run=True)
    assert (dry.rows, dry.created, dry.updated) == (5, 4, 1), "X1 again in batch 2 is an update"
    assert _count(rt, Customer) == 0 and _count(rt, AuditEntry) == 0
    real = import_csv(rt.factory, "customers", path, settings=settings)
    assert (real.rows, real.created, real.updated) == (dry.rows, dry.created, dry.updated)
    assert _count(rt, Customer) == 4
    mails = tmp_path / "mails.csv"
    mails.write_text(
        "external_id,email\nX7,x7@mail.test\nX8,x8@mail.test\nX7,x7@mail.test\nX9,X7@mail.test\n"
    )
    dry = import_csv(rt.factory, "customers", mails, settings=settings, dry_run=True)
    assert (dry.created, dry.updated) == (2, 1)
    assert dry.errors == [f"{mails}:5: email 'X7@mail.test' already belongs to another customer"]
    real = import_csv(rt.factory, "customers", mails, settings=settings)
    assert (real.created, real.updated, real.errors) == (dry.created, dry.updated, dry.errors)
    billing = tmp_path / "billing.csv"
    billing.write_text("account_id,customer_id,plan\nS1,X1,Basic\nS2,X2,Basic\nS1,X1,Smart\n")
    dry = import_csv(rt.factory, "subscriptions", billing, settings=settings, dry_run=True)
    assert (dry.created, dry.updated) == (2, 1), "S1 again in batch 2 is an update"
    real = import_csv(rt.factory, "subscriptions", billing, settings=settings)
    assert (real.created, real.updated) == (dry.created, dry.updated)


def _impatient(url: str) -> Engine:
    """Another connection that waits half a second for a lock, not the busy timeout's 30."""
    if url.startswith("sqlite"):
        return create_engine(url, connect_args={"timeout": 0.5})
    return create_engine(url, connect_args={"options": "-c lock_timeout=500"})


def test_others_write_between_a_dry_runs_batches(rt: Runtime, tmp_path: Path) -> None:
    """A preview held one transaction for the whole file: on SQLite every other write (the
    worker storing mail, an agent approving) waited for it and failed after the busy timeout;
    on PostgreSQL a customer it updated stayed locked until it ended."""
    first = tmp_path / "first.csv"
    first.write_text("external_id,name\nX0,Ann Lee\n")
    import_csv(rt.factory, "customers", first, settings=rt.settings)
    path = tmp_path / "crm.csv"
    path.write_text("external_id,name\nX0,Ann Ray\nX1,B\nX2,C\nX1,D\nX3,E\n")
    customers = msgspec.structs.replace(rt.settings.customers, import_batch_size=2)
    settings = msgspec.structs.replace(rt.settings, customers=customers)
    other = _impatient(rt.settings.database.url)
    written: list[int] = []

    def between_batches(rows: int) -> None:
        with other.begin() as connection:
            connection.execute(
                update(Customer).where(Customer.external_id == "X0").values(name=f"Other {rows}")
            )
        written.append(rows)

    try:
        dry = import_csv(
            rt.factory, "customers", path, between_batches, settings=settings, dry_run=True
        )
    finally:
        other.dispose()
    assert written == [2, 4, 5]
    assert (dry.rows, dry.created, dry.updated, dry.stopped) == (5, 3, 2, "")
    with rt.factory() as session:
        names = dict(session.execute(select(Customer.external_id, Customer.name)).tuples().all())
    assert names == {"X0": "Other 5"}, "the other writes stay, the preview's do not"


def _cli(
    rt: Runtime,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *args: str,
) -> tuple[int, str, str]:
    """`responder ARGS` on the test's database, two rows a batch: exit code, out, err."""
    monkeypatch.setenv("RESPONDER_DATABASE__URL", rt.settings.database.url)
    monkeypatch.setenv("RESPONDER_CUSTOMERS__IMPORT_BATCH_SIZE", "2")
    code = main(["--config", str(project / "config.toml"), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_cli_checks_the_whole_file_first_and_a_bad_byte_late_in_it_changes_nothing(
    rt: Runtime,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """A Latin-1 name on line 6 used to fail after the first two batches were committed."""
    path = tmp_path / "crm.csv"
    good = "".join(f"X{n},Customer {n}\n" for n in range(1, 5))
    path.write_bytes(("external_id,name\n" + good).encode() + "X5,Liam Ó\n".encode("latin-1"))
    code, out, err = _cli(rt, project, monkeypatch, capsys, "import", "customers", str(path))
    assert code == 2 and out == ""
    assert f"error: {path}: not UTF-8 text (byte 0xd3 on line 6)" in err
    assert "Nothing on file changed." in err
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\xef\xbb\xbf\r\n")
    code, _, err = _cli(rt, project, monkeypatch, capsys, "import", "customers", str(empty))
    assert code == 2 and "the file is empty (no header row). Nothing on file changed." in err
    assert _count(rt, Customer) == 0 and _count(rt, AuditEntry) == 0


def test_an_excel_file_with_a_byte_order_mark_and_crlf_line_ends_imports_by_the_cli(
    rt: Runtime,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffexternal_id,name,plan,monthly_spend\r\nX1,Seán Ó Sé,Smart,25\r\n"
        'X2,Bad Spend,Smart,lots\r\nX3,"Two\r\nLines",Basic,10\r\nX4,Ann Lee,Basic,15\r\n'.encode()
    )
    code, out, err = _cli(rt, project, monkeypatch, capsys, "import", "customers", str(path))
    assert code == 1 and "created: 3" in out and "skipped: 1" in out
    assert err.strip() == f"{path}:3: monthly_spend: 'lots' is not a float"
    with rt.factory() as session:
        names = dict(session.execute(select(Customer.external_id, Customer.name)).tuples().all())
    assert names == {"X1": "Seán Ó Sé", "X3": "Two\r\nLines", "X4": "Ann Lee"}


def test_values_the_database_would_refuse_are_skipped_rows_named_by_line(
    rt: Runtime, demo_customers: None, tmp_path: Path
) -> None:
    """A value longer than its column or a number too large for it made the database refuse
    the batch (PostgreSQL) or was stored as it came (SQLite); now it is a skipped row."""
    long_id = "K" * 101
    cases = tmp_path / "cases.csv"
    cases.write_text(
        "case_id,customer_id,category,status,subject,opened_at,closed_at\n"
        f"{long_id},C1001,complaint,open,Long id,2026-11-01T10:00:00Z,\n"
        "K2,C1001,complaint,open,Nul\x00here,2026-11-01T10:00:00Z,\n"
        "K3,C1001,complaint,open,Fine,2026-11-01T10:00:00Z,\n"
    )
    summary = import_csv(rt.factory, "cases", cases, settings=rt.settings)
    assert summary.errors == [
        f"{cases}:2: external_id: longer than 100 characters",
        f"{cases}:3: subject: a NUL character (byte 0x00): row skipped",
    ]
    assert (summary.created, summary.stopped) == (1, "")
    crm = tmp_path / "crm.csv"
    crm.write_text(
        "external_id,email,lines,followers,monthly_spend\n"
        "X1,,99999999999,,\n"
        "X2,,,3000000000,\n"
        "X3,,,,nan\n"
        f"X4,{'a' * 320}@mail.test,,,\n"
        "X5,x5@mail.test,2,10,25\n"
    )
    summary = import_csv(rt.factory, "customers", crm, settings=rt.settings)
    assert summary.errors == [
        f"{crm}:2: lines: '99999999999' is too large",
        f"{crm}:3: followers: '3000000000' is too large",
        f"{crm}:4: monthly_spend: 'nan' is not a number",
        f"{crm}:5: email: longer than 320 characters",
    ]
    assert (summary.created, summary.stopped) == (1, "")


def test_a_batch_the_database_refuses_stops_the_import_and_says_what_was_imported(
    rt: Runtime,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """It used to end in a traceback with the earlier batches committed, no word of them, no
    tiers recomputed and nothing in the audit log."""
    refuse_plan(rt, "Refused")
    path = tmp_path / "crm.csv"
    path.write_text(
        "external_id,plan\nX1,Basic\nX2,Lots\nX3,Basic\nX4,Refused\nX5,Basic\nX6,Basic\n"
    )
    customers = msgspec.structs.replace(rt.settings.customers, import_batch_size=2)
    settings = msgspec.structs.replace(rt.settings, customers=customers)
    dry = import_csv(rt.factory, "customers", path, settings=settings, dry_run=True)
    assert dry.stopped.startswith(
        f"{path}: the import would stop at line 4 (batch 2, lines 4-5): the database refuses "
        "a row there: "
    )
    assert "plan refused" in dry.stopped
    assert _count(rt, Customer) == 0

    code, out, err = _cli(rt, project, monkeypatch, capsys, "import", "customers", str(path))
    assert code == 3
    assert f"error: {path}: stopped at line 4 (batch 2, lines 4-5): the database refused" in err
    assert (
        "Lines before 4 are imported (2 added, 0 updated, 0 skipped); nothing from line 4 on"
        in (err)
    )
    assert "rows: 2\ncreated: 2" in out
    with rt.factory() as session:
        imported = session.scalars(select(Customer.external_id).order_by(Customer.id)).all()
        assert imported == ["X1", "X2"]
        assert session.scalar(select(func.count()).where(Customer.tier != "")) == 2
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "import.customers"))
    assert entry is not None and entry.detail is not None
    assert entry.detail["created"] == 2 and "stopped at line 4" in entry.detail["stopped"]


def test_an_import_whose_audit_entry_is_lost_says_what_was_imported_without_a_traceback(
    rt: Runtime,
    project: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """The database lost after the last batch ended the CLI in a traceback: the rows were in,
    with no audit entry and no word of either."""
    lose_database_at_import_audit(rt, monkeypatch)
    path = tmp_path / "crm.csv"
    path.write_text("external_id,plan\nX1,Basic\nX2,Lots\nX3,Basic\n")
    code, out, err = _cli(rt, project, monkeypatch, capsys, "import", "customers", str(path))
    assert code == 4
    assert "Traceback" not in err
    why = (
        "the database could not be reached"
        if "postgresql" in rt.settings.database.url
        else ("the database refused it")
    )
    assert (
        f"error: {path}: imported, 3 added and 0 updated (0 skipped), but the audit entry could "
        f"not be written and value scores and tiers were not recomputed: {why}: " in err
    )
    assert "Import the file again once the database is back" in err
    assert "rows: 3\ncreated: 3" in out
    assert _count(rt, Customer) == 3
    assert _count(rt, AuditEntry) == 0


def test_an_import_whose_last_step_loses_the_database_once_is_audited_once_with_its_tiers(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A brief drop at the last step left the rows with no audit entry and no tiers; retried,
    the step lands once, even when the lost answer was to a commit that had gone through."""
    lose_database_at_import_audit(rt, monkeypatch, times=1)
    path = tmp_path / "crm.csv"
    path.write_text("external_id,plan,monthly_spend\nX1,Basic,10\nX2,Lots,90\nX3,Basic,20\n")
    summary = import_csv(rt.factory, "customers", path, settings=rt.settings, actor="sam")
    assert summary.audit_failed == "" and summary.created == 3
    with rt.factory() as session:
        entries = session.scalars(select(AuditEntry.detail)).all()
        assert [(e["created"], e["updated"]) for e in entries] == [(3, 0)]
        assert session.scalar(select(func.count()).where(Customer.tier != "")) == 3

    committed = [0]  # the commits that wrote an audit entry; the first one's answer is lost

    def audited(session: Session, _context: object) -> None:
        if any(isinstance(added, AuditEntry) for added in session.new):
            session.info["audited"] = True

    def answer_lost(session: Session) -> None:
        if session.info.pop("audited", False):
            committed[0] += 1
            if committed[0] == 1:
                raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    event.listen(rt.factory, "after_flush", audited)
    event.listen(rt.factory, "after_commit", answer_lost)
    again = import_csv(rt.factory, "customers", path, settings=rt.settings, actor="sam")
    assert again.audit_failed == "" and committed[0] == 1, "the retry found the entry written"
    with rt.factory() as session:
        entries = session.scalars(select(AuditEntry.detail).order_by(AuditEntry.id)).all()
    assert [(e["created"], e["updated"]) for e in entries] == [(3, 0), (0, 3)]


SUBSCRIPTIONS = (
    "account_id,customer_id,plan,monthly_spend,addons,contract_start,contract_end,lines,status\n"
)


def _summary(rt: Runtime, external_id: str) -> tuple[object, ...]:
    with rt.factory() as session:
        customer = session.scalars(
            select(Customer).where(Customer.external_id == external_id)
        ).one()
        return (
            customer.plan,
            customer.monthly_spend,
            customer.lines,
            customer.addons,
            customer.contract_start,
            customer.contract_end,
        )


def test_a_customer_whose_subscriptions_are_all_cancelled_has_no_plan_spend_or_top_tier(
    rt: Runtime,
    demo_customers: None,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_cli(rt, project, "import", "subscriptions", "demo/subscriptions.csv", capsys=capsys)
    with rt.factory() as session:
        declan = session.scalars(select(Customer).where(Customer.external_id == "C1002")).one()
        assert (declan.plan, declan.tier) == ("Business Pro", "Best")
        score = declan.value_score
    cancelled = tmp_path / "cancelled.csv"
    cancelled.write_text(
        SUBSCRIPTIONS
        + "NW-200102,C1002,Business Pro,250.00,World Roam Pass,2023-12-11,2026-12-10,4,cancelled\n"
        + "NW-200103,C1002,Business Pro,62.50,Device Insurance,2023-12-11,2026-12-10,1,cancelled\n"
    )
    out = run_cli(rt, project, "import", "subscriptions", str(cancelled), capsys=capsys)
    assert "updated: 2" in out
    # A template saying "your Business Pro plan" would be wrong: he has none now.
    assert _summary(rt, "C1002") == ("", None, None, [], "", "")
    with rt.factory() as session:
        declan = session.scalars(select(Customer).where(Customer.external_id == "C1002")).one()
        assert declan.value_parts is not None and declan.value_parts["monthly_spend"] == 0
        assert declan.value_score is not None and score is not None
        assert declan.value_score < score
        assert declan.tier == "Worst", "his tier no longer counts the spend he left"


def test_a_subscription_moved_to_another_customer_leaves_the_first_without_it(
    rt: Runtime, demo_customers: None, tmp_path: Path
) -> None:
    demo = rt.settings.path("demo")
    import_csv(rt.factory, "subscriptions", demo / "subscriptions.csv", settings=rt.settings)
    moved = tmp_path / "moved.csv"
    moved.write_text(
        SUBSCRIPTIONS
        + "NW-200103,C1001,Business Pro,62.50,Device Insurance,2023-12-11,2026-12-10,1,active\n"
    )
    summary = import_csv(rt.factory, "subscriptions", moved, settings=rt.settings)
    assert (summary.updated, summary.skipped) == (1, 0)
    declan = ("Business Pro", 250.0, 4, ["World Roam Pass"], "2023-12-11", "2026-12-10")
    assert _summary(rt, "C1002") == declan, "the account he no longer has is not counted"
    aoife = ("Business Pro", 87.5, 2, ["Device Insurance"], "2023-12-11", "2026-12-10")
    assert _summary(rt, "C1001") == aoife
    # Both of hers go to him: she has no subscription left, so no plan either.
    moved.write_text(
        SUBSCRIPTIONS
        + "NW-200101,C1002,Smart 20GB,25.00,,2024-03-14,2026-03-13,1,active\n"
        + "NW-200103,C1002,Business Pro,62.50,Device Insurance,2023-12-11,2026-12-10,1,active\n"
    )
    import_csv(rt.factory, "subscriptions", moved, settings=rt.settings)
    assert _summary(rt, "C1001") == ("", None, None, [], "", "")
    assert _summary(rt, "C1002")[1:3] == (337.5, 6)
