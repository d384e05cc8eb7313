"""Customer data on the web: a supervisor uploads an export, sees what it would do with nothing
changed, imports it without uploading it again; refusals name the problem; agents may not."""

from __future__ import annotations

import re

import httpx
import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import func, select

from responder.db.models import AuditEntry, Customer, PendingImport, Subscription
from responder.runtime import Runtime
from responder.web.app import create_app
from tests.helpers import api_token, lose_database_at_import_audit, refuse_plan, staff

PAGE = "/supervisor/customer-data"
MB = 1024 * 1024
UPGRADE = (
    "external_id,plan,monthly_spend\n"
    "C1004,Business Pro Max,400.00\n"
    "X9,lots of money,lots\n"
    "X10,Smart 20GB,20.00\n"
)


def _csrf(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _login(client: TestClient, username: str) -> str:
    """Signs in; the form token the next form sends."""
    token = _csrf(client.get("/login").text)
    response = client.post(
        "/login",
        data={"username": username, "password": "correct horse battery", "_csrf_token": token},
    )
    assert response.status_code in (200, 201, 302, 303), response.text
    return _csrf(client.get("/account").text)


def _upload(client: TestClient, token: str, kind: str, name: str, content: bytes) -> httpx.Response:
    return client.post(
        PAGE,
        data={"_csrf_token": token, "kind": kind},
        files={"file": (name, content, "text/csv")},
        follow_redirects=True,
    )


def _liam(rt: Runtime) -> tuple[str | None, float | None, str | None]:
    with rt.factory() as session:
        row = session.execute(
            select(Customer.plan, Customer.monthly_spend, Customer.tier).where(
                Customer.external_id == "C1004"
            )
        ).one()
        return row.plan, row.monthly_spend, row.tier


def _count(rt: Runtime, model: type) -> int:
    with rt.factory() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _imports(rt: Runtime) -> list[AuditEntry]:
    with rt.factory() as session:
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action.like("import.%"))))


def test_preview_changes_nothing_then_import_updates_the_customer_page_and_the_audit_log(
    rt: Runtime, demo_customers: None
) -> None:
    staff(rt, "sam", role="supervisor")
    before = _liam(rt)
    assert before[2] != "Best"
    audited = len(_imports(rt))
    with TestClient(create_app(rt)) as client:
        form = _login(client, "sam")
        assert f'href="{PAGE}"' in client.get("/queue").text, "in the supervisor menu"
        page = client.get(PAGE)
        assert page.status_code == 200
        assert "<code>account_id</code> (external_id) <strong>required</strong>" in page.text

        preview = _upload(client, form, "customers", "crm-export.csv", UPGRADE.encode())
        assert preview.status_code == 200, preview.text
        assert "Nothing has changed yet" in preview.text
        assert "1 added" in preview.text and "1 updated" in preview.text
        assert "1 skipped" in preview.text
        assert "crm-export.csv:3: monthly_spend: &#39;lots&#39; is not a float" in preview.text
        assert _liam(rt) == before and _count(rt, Customer) == 50
        assert len(_imports(rt)) == audited, "a preview is not an import"

        confirm = re.search(r'action="(/supervisor/customer-data/[^"]+/import)"', preview.text)
        assert confirm is not None
        done = client.post(confirm.group(1), data={"_csrf_token": form})
        assert done.status_code == 200, done.text
        assert "1 added" in done.text and "1 updated" in done.text and "1 skipped" in done.text
        assert "Value scores and tiers recomputed" in done.text
        assert _liam(rt) == ("Business Pro Max", 400.0, "Best")
        assert _count(rt, Customer) == 51
        assert _count(rt, PendingImport) == 0, "the kept file goes once imported"

        with rt.factory() as session:
            liam = session.scalar(select(Customer.id).where(Customer.external_id == "C1004"))
        shown = client.get(f"/customers/{liam}").text
        assert "Business Pro Max · €400.00/month" in shown and "Best tier" in shown

        again = client.post(confirm.group(1), data={"_csrf_token": form})
        assert again.status_code == 404 and "no longer waiting" in again.text
    [entry] = _imports(rt)[audited:]
    assert (entry.actor, entry.action, entry.object_id) == (
        "sam",
        "import.customers",
        "crm-export.csv",
    )
    assert entry.detail is not None
    assert (entry.detail["created"], entry.detail["updated"], entry.detail["skipped"]) == (1, 1, 1)
    assert entry.detail["via"] == "web"
    assert entry.detail["problems"] == ["crm-export.csv:3: monthly_spend: 'lots' is not a float"]


def test_a_wrong_header_an_empty_or_non_utf8_or_too_large_file_is_refused_with_its_reason(
    rt: Runtime, demo_customers: None
) -> None:
    staff(rt, "sam", role="supervisor")
    before = _liam(rt)
    refusals = [
        (
            "subscriptions",
            b"external_id,plan\nC1004,Basic\n",
            "required column &#39;account_id&#39;, &#39;customer_id&#39; missing "
            "(the header has &#39;external_id&#39;, &#39;plan&#39;)",
        ),
        ("customers", b"", "the file is empty"),
        ("customers", b"\xef\xbb\xbf\n", "the file is empty"),
        (
            "customers",
            "external_id,name\nC1004,Liam Ó Conchúir\n".encode("latin-1"),
            "not UTF-8 text (byte 0xd3 on line 2)",
        ),
    ]
    with TestClient(create_app(rt)) as client:
        form = _login(client, "sam")
        for kind, content, reason in refusals:
            refused = _upload(client, form, kind, "export.csv", content)
            assert refused.status_code == 400, (reason, refused.text)
            assert f"Not imported: export.csv: {reason}" in refused.text
        huge = _upload(client, form, "customers", "all.csv", b"x" * (MB * 20 + 100_000))
        assert huge.status_code == 413
        assert "the web takes up to 20 MB" in huge.text and "responder import" in huge.text
    assert _liam(rt) == before
    assert _count(rt, PendingImport) == 0
    assert not [e for e in _imports(rt) if e.actor == "sam"]


def test_agents_get_403_on_the_page_its_forms_and_the_api(rt: Runtime) -> None:
    staff(rt, "alice", role="agent")
    staff(rt, "sam", role="supervisor")
    with TestClient(create_app(rt)) as client:
        form = _login(client, "sam")
        _upload(client, form, "customers", "crm.csv", UPGRADE.encode())
        with rt.factory() as session:
            waiting = session.scalar(select(PendingImport.token))
        client.post("/logout", data={"_csrf_token": form})
        form = _login(client, "alice")
        assert 'href="/supervisor/customer-data"' not in client.get("/queue").text
        assert client.get(PAGE).status_code == 403
        assert _upload(client, form, "customers", "crm.csv", UPGRADE.encode()).status_code == 403
        for action in ("import", "drop"):
            posted = client.post(f"{PAGE}/{waiting}/{action}", data={"_csrf_token": form})
            assert posted.status_code == 403
        auth = api_token(client, "alice")
        assert client.get(f"/api{PAGE}", headers=auth).status_code == 403
        api = client.post(
            f"/api{PAGE}",
            headers=auth,
            data={"kind": "customers", "dry_run": "false"},
            files={"file": ("crm.csv", UPGRADE.encode(), "text/csv")},
        )
        assert api.status_code == 403
    assert _count(rt, Customer) == 0 and _count(rt, PendingImport) == 1


def test_the_api_previews_then_imports_subscriptions(rt: Runtime, demo_customers: None) -> None:
    staff(rt, "sam", role="supervisor")
    rows = "account_id,customer_id,plan,monthly_spend\nNW-9,C1004,Roam Extra,30\nNW-10,C9999,x,1\n"
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sam")
        columns = client.get(f"/api{PAGE}", headers=auth).json()
        assert {"column": "account_id", "field": "external_id", "required": True} in columns[
            "subscriptions"
        ]

        def send(dry_run: str) -> dict[str, object]:
            response = client.post(
                f"/api{PAGE}",
                headers=auth,
                data={"kind": "subscriptions", "dry_run": dry_run},
                files={"file": ("billing.csv", rows.encode(), "text/csv")},
            )
            assert response.status_code == 200, response.text
            return response.json()

        preview = send("true")
        assert (preview["created"], preview["skipped"], preview["dry_run"]) == (1, 1, True)
        assert preview["problems"] == ["billing.csv:3: unknown customer 'C9999'"]
        assert _count(rt, Subscription) == 0
        done = send("false")
        assert (done["created"], done["skipped"], done["dry_run"]) == (1, 1, False)
        assert _count(rt, Subscription) == 1
        bad = client.post(
            f"/api{PAGE}",
            headers=auth,
            data={"kind": "subscriptions"},
            files={"file": ("billing.csv", b"a,b\n1,2\n", "text/csv")},
        )
        assert bad.status_code == 400 and "required column" in bad.json()["detail"]
    assert [e.object_id for e in _imports(rt) if e.action == "import.subscriptions"] == [
        "billing.csv"
    ]


def test_an_upload_is_only_its_uploaders_and_dropping_it_imports_nothing(rt: Runtime) -> None:
    """An import refused after the preview (the header's column renamed in the config since)
    keeps the upload, so it is not uploaded again."""
    staff(rt, "sam", role="supervisor")
    staff(rt, "kim", role="supervisor")
    with TestClient(create_app(rt)) as client:
        form = _login(client, "sam")
        preview = _upload(client, form, "customers", "crm.csv", UPGRADE.encode())
        path = preview.url.path
        client.post("/logout", data={"_csrf_token": form})
        form = _login(client, "kim")
        assert client.get(path).status_code == 404
        assert client.post(f"{path}/import", data={"_csrf_token": form}).status_code == 404
        client.post("/logout", data={"_csrf_token": form})
        form = _login(client, "sam")
        settings = rt.settings
        renamed = {**settings.import_columns.customers, "external_id": "account_ref"}
        columns = msgspec.structs.replace(settings.import_columns, customers=renamed)
        rt.settings = msgspec.structs.replace(settings, import_columns=columns)
        refused = client.post(f"{path}/import", data={"_csrf_token": form})
        assert refused.status_code == 400
        assert "Not imported: crm.csv: required column &#39;account_ref&#39; missing" in (
            refused.text
        )
        assert f'<a href="{path}">back to its preview</a>' in refused.text
        rt.settings = settings
        assert "Import crm.csv" in client.get(path).text, "still waiting, as it was"
        dropped = client.post(f"{path}/drop", data={"_csrf_token": form}, follow_redirects=True)
        assert "Dropped crm.csv: nothing was imported." in dropped.text
    assert _count(rt, Customer) == 0 and _count(rt, PendingImport) == 0
    assert not _imports(rt)


def test_the_upload_limit_is_the_configured_one_on_the_page_and_the_api(rt: Runtime) -> None:
    """The 20 MB limit was fixed in code; a site with bigger exports had no way to raise it."""
    staff(rt, "sam", role="supervisor")
    customers = msgspec.structs.replace(rt.settings.customers, max_upload_mb=1)
    rt.settings = msgspec.structs.replace(rt.settings, customers=customers)
    just_over = b"external_id\n" + b"x" * (MB + 10_000)
    far_over = b"x" * (2 * MB)
    with TestClient(create_app(rt)) as client:
        form = _login(client, "sam")
        assert "up to 1 MB" in client.get(PAGE).text
        for content, status, said in ((just_over, 400, "is 1.0 MB:"), (far_over, 413, "")):
            refused = _upload(client, form, "customers", "big.csv", content)
            assert refused.status_code == status
            assert f"Not imported: {'big.csv: ' if said else ''}the file {said}" in refused.text
            assert "the web takes up to 1 MB" in refused.text
        auth = api_token(client, "sam")
        for content, status in ((just_over, 400), (far_over, 413)):
            api = client.post(
                f"/api{PAGE}",
                headers=auth,
                data={"kind": "customers"},
                files={"file": ("big.csv", content, "text/csv")},
            )
            assert api.status_code == status
            assert "the web takes up to 1 MB" in api.json()["detail"]
    assert _count(rt, Customer) == 0 and _count(rt, PendingImport) == 0


def test_an_excel_export_with_a_byte_order_mark_and_crlf_line_ends_imports(
    rt: Runtime, demo_customers: None
) -> None:
    staff(rt, "sam", role="supervisor")
    excel = "\ufeffexternal_id,plan,monthly_spend\r\nC1004,Business Pro Max,400.00\r\nX9,x,lots\r\n"
    with TestClient(create_app(rt)) as client:
        form = _login(client, "sam")
        preview = _upload(client, form, "customers", "excel.csv", excel.encode())
        assert preview.status_code == 200, preview.text
        assert "1 updated" in preview.text and "1 skipped" in preview.text
        assert "excel.csv:3: monthly_spend: &#39;lots&#39; is not a float" in preview.text
        confirm = re.search(r'action="(/supervisor/customer-data/[^"]+/import)"', preview.text)
        assert confirm is not None
        done = client.post(confirm.group(1), data={"_csrf_token": form})
        assert done.status_code == 200 and "1 updated" in done.text
    assert _liam(rt)[:2] == ("Business Pro Max", 400.0)


def test_a_batch_the_database_refuses_is_named_in_the_preview_the_result_and_the_api(
    rt: Runtime,
) -> None:
    """It answered 500 with the earlier batches imported and no word of them."""
    staff(rt, "sam", role="supervisor")
    refuse_plan(rt, "Refused")
    customers = msgspec.structs.replace(rt.settings.customers, import_batch_size=2)
    rt.settings = msgspec.structs.replace(rt.settings, customers=customers)
    rows = b"external_id,plan\nX1,Basic\nX2,Basic\nX3,Basic\nX4,Refused\nX5,Basic\n"
    with TestClient(create_app(rt)) as client:
        form = _login(client, "sam")
        preview = _upload(client, form, "customers", "crm.csv", rows)
        assert preview.status_code == 200, preview.text
        assert (
            "crm.csv: the import would stop at line 4 (batch 2, lines 4-5): the database "
            "refuses a row there" in preview.text
        )
        confirm = re.search(r'action="(/supervisor/customer-data/[^"]+/import)"', preview.text)
        assert confirm is not None
        done = client.post(confirm.group(1), data={"_csrf_token": form})
        assert done.status_code == 422, "the form's answer fails as the API's does"
        assert "Import of crm.csv stopped part-way" in done.text
        assert (
            "crm.csv: stopped at line 4 (batch 2, lines 4-5): the database refused a row there"
            in done.text
        )
        assert "Lines before 4 are imported (2 added, 0 updated, 0 skipped)" in done.text
        assert _count(rt, Customer) == 2
        auth = api_token(client, "sam")

        def api(dry_run: str) -> httpx.Response:
            return client.post(
                f"/api{PAGE}",
                headers=auth,
                data={"kind": "customers", "dry_run": dry_run},
                files={"file": ("crm.csv", rows, "text/csv")},
            )

        previewed = api("true")
        assert previewed.status_code == 200, "a preview that finds the refusal did its work"
        assert previewed.json()["stopped"].startswith("crm.csv: the import would stop at line 4")
        stopped = api("false")
        assert stopped.status_code == 422, "a client checking the status sees it stopped"
        answer = stopped.json()
        assert (answer["rows"], answer["updated"], answer["dry_run"]) == (2, 2, False)
        assert answer["stopped"].startswith("crm.csv: stopped at line 4 (batch 2, lines 4-5)")
        schema = client.get("/schema/openapi.json").json()
        said = schema["paths"][f"/api{PAGE}"]["post"]["responses"]
        assert "stopped part-way" in said["422"]["description"] and "audit_failed" in str(said)
    assert [e.detail["created"] for e in _imports(rt) if e.detail] == [2, 0]


def test_an_import_whose_audit_entry_is_lost_says_so_on_the_page_and_the_api(
    rt: Runtime, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database lost at the last step answered 503 "Nothing was changed" (PostgreSQL) or
    500 (SQLite), with the rows imported and no audit entry; now the log is its record."""
    staff(rt, "sam", role="supervisor")
    rows = b"external_id,plan\nX1,Basic\nX2,Basic\nX3,Basic\n"
    why = (
        "the database could not be reached"
        if "postgresql" in rt.settings.database.url
        else ("the database refused it")
    )
    with TestClient(create_app(rt)) as client:
        form = _login(client, "sam")
        preview = _upload(client, form, "customers", "crm.csv", rows)
        confirm = re.search(r'action="(/supervisor/customer-data/[^"]+/import)"', preview.text)
        assert confirm is not None
        lose_database_at_import_audit(rt, monkeypatch)
        done = client.post(confirm.group(1), data={"_csrf_token": form})
        assert done.status_code == 500, "the form's answer fails as the API's does"
        assert (
            "crm.csv: imported, 3 added and 0 updated (0 skipped), but the audit entry could not "
            f"be written and value scores and tiers were not recomputed: {why}: " in done.text
        )
        assert "Import the file again once the database is back" in done.text
        assert "Value scores and tiers recomputed" not in done.text
        api = client.post(
            f"/api{PAGE}",
            headers=api_token(client, "sam"),
            data={"kind": "customers", "dry_run": "false"},
            files={"file": ("crm.csv", rows, "text/csv")},
        )
        assert api.status_code == 500, api.text
        answer = api.json()
        assert (answer["created"], answer["updated"], answer["stopped"]) == (0, 3, "")
        assert answer["audit_failed"].startswith(
            "crm.csv: imported, 0 added and 3 updated (0 skipped), but the audit entry could not "
            f"be written and value scores and tiers were not recomputed: {why}: "
        )
    assert _count(rt, Customer) == 3 and _count(rt, PendingImport) == 0
    assert not _imports(rt)
    logged = [r.getMessage() for r in caplog.records if r.name == "responder.customers.uploads"]
    assert len(logged) == 2 and logged[0].startswith("customer data import by sam: crm.csv: ")
    retried = [r for r in caplog.records if r.name == "responder.customers.import_finish"]
    lost = "postgresql" in rt.settings.database.url  # SQLite's refusal is not tried again
    assert len(retried) == (6 if lost else 0), "each import tried its last step 4 times"


def test_an_import_from_a_file_with_a_long_name_recomputes_tiers_and_is_audited(
    rt: Runtime, demo_customers: None
) -> None:
    """A name kept up to 200 characters (`uploads.safe_name`) is longer than an audit entry's
    object id holds: the import's last step must still write it, on PostgreSQL too."""
    staff(rt, "sam", role="supervisor")
    name = "customer export from the billing system " * 4 + ".csv"
    assert 100 < len(name) <= 200
    with TestClient(create_app(rt)) as client:
        answer = client.post(
            f"/api{PAGE}",
            headers=api_token(client, "sam"),
            data={"kind": "customers", "dry_run": "false"},
            files={"file": (name, UPGRADE.encode(), "text/csv")},
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["audit_failed"] == ""
    assert _liam(rt) == ("Business Pro Max", 400.0, "Best"), "tiers recomputed"
    [entry] = [e for e in _imports(rt) if e.detail and e.detail.get("path") == name]
    assert name.startswith(entry.object_id)


def test_a_sender_who_wrote_first_is_linked_by_the_import_and_not_again_once_unlinked(
    rt: Runtime,
) -> None:
    from responder.customers.resolve import find_customer, resolve_identity
    from responder.db.session import transaction

    staff(rt, "sam", role="supervisor")
    with transaction(rt.factory) as session:
        provisional_id = resolve_identity(session, "email", "bob@x.test", "Bob Ray").id
    rows = b"external_id,name,email\nC2,Bob Ray,bob@x.test\n"
    told = "crm.csv:2: email &#39;bob@x.test&#39; wrote to us before the CRM had them"
    with TestClient(create_app(rt)) as client:
        auth = api_token(client, "sam")
        api = client.post(
            f"/api{PAGE}",
            headers=auth,
            data={"kind": "customers", "dry_run": "true"},
            files={"file": ("crm.csv", rows, "text/csv")},
        ).json()
        assert api["skipped"] == 0 and api["linked"] == [
            "crm.csv:2: email 'bob@x.test' wrote to us before the CRM had them: that provisional"
            " customer would be linked to C2, with its messages (unlink it on its customer page"
            " if that is wrong)"
        ]
        form = _login(client, "sam")
        preview = _upload(client, form, "customers", "crm.csv", rows)
        assert "Senders who wrote before the CRM had them" in preview.text
        assert told in preview.text and "would be linked to C2" in preview.text
        confirm = re.search(r'action="(/supervisor/customer-data/[^"]+/import)"', preview.text)
        assert confirm is not None
        done = client.post(confirm.group(1), data={"_csrf_token": form})
        assert done.status_code == 200, done.text
        assert "1 added" in done.text and "0 skipped" in done.text
        assert told in done.text and "is linked to C2" in done.text
    with rt.factory() as session:
        owner = find_customer(session, "email", "bob@x.test")
        assert owner is not None and owner.external_id == "C2" and owner.id != provisional_id
        # An agent unlinks them on his page: the next upload of the same file leaves them apart.
        unlinked = client.post(
            f"/customers/{provisional_id}/unlink",
            data={"_csrf_token": form},
            follow_redirects=False,
        )
        assert unlinked.status_code in (302, 303), unlinked.text
        kept = (
            "crm.csv:2: email 'bob@x.test' stays with the provisional customer who wrote to us"
            " first, not linked to C2: sam unlinked them on "
        )
        api = client.post(
            f"/api{PAGE}",
            headers=auth,
            data={"kind": "customers", "dry_run": "false"},
            files={"file": ("crm.csv", rows, "text/csv")},
        ).json()
        assert (api["updated"], api["skipped"], api["linked"]) == (1, 0, [])
        [line] = api["not_linked"]
        assert line.startswith(kept) and "C2 is imported without it" in line
        preview = _upload(client, form, "customers", "crm.csv", rows)
        assert "Senders who wrote before the CRM had them" in preview.text
        assert kept.replace("'", "&#39;") in preview.text and "would be linked" not in preview.text
    with rt.factory() as session:
        assert find_customer(session, "email", "bob@x.test").id == provisional_id
