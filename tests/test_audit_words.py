"""Every action the code base writes to the audit log has words on the audit page: a code
without them would show as `template.save` among "Template saved" and "Message reopened".

The codes are read from the source, so a new `audit(` call cannot be forgotten here: literal
codes, codes built from a family and a value (`f"draft.{action}"`), and codes passed in a
variable (its literal values in the same file)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from litestar.testing import TestClient
from sqlalchemy import select

from responder.customers.importer import KINDS
from responder.db.models import AuditEntry
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from responder.web.app import create_app
from responder.web.audit_detail import ACTION_WORDS, action_words
from tests.seeded_pages import seed_every_list
from tests.test_web_security import login

SOURCE = Path(__file__).resolve().parents[1] / "responder"
CODE = re.compile(r"[a-z_]+\.[a-z_]+")
AUDIT_CALLS = {"audit", "_audit"}


def _called(node: ast.Call) -> str:
    func = node.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _draft_actions() -> set[str]:
    """`draft.{action}`: the decisions recorded on the current draft, and the `why` of a
    draft written again (`("redraft", {...})`)."""
    text = "\n".join(p.read_text() for p in SOURCE.rglob("*.py"))
    decided = re.findall(r'_record_on_current_draft\([^)]*?"([a-z_]+)"', text)
    why = re.findall(r'why\s*=\s*\(\s*"([a-z_]+)"', text)
    return set(decided) | set(why)


#: Codes built with an f-string: the family and the values it is built from.
BUILT = {"draft.": _draft_actions, "import.": lambda: set(KINDS)}


def written_codes() -> dict[str, str]:
    """Each action code written with `audit(`, and where."""
    codes: dict[str, str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        literals = {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and CODE.fullmatch(n.value)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and _called(node) in AUDIT_CALLS):
                continue
            if len(node.args) < 3:
                continue
            where = f"{path.relative_to(SOURCE.parent)}:{node.lineno}"
            action = node.args[2]
            if isinstance(action, ast.Constant):
                codes[action.value] = where
            elif isinstance(action, ast.JoinedStr):
                prefix = action.values[0]
                family = prefix.value if isinstance(prefix, ast.Constant) else ""
                assert family in BUILT, f"{where}: a code built as {ast.unparse(action)}"
                codes.update({f"{family}{value}": where for value in BUILT[family]()})
            else:  # passed in: the file's own literal codes (`"snippet.rollback"`)
                assert literals, f"{where}: no literal code for {ast.unparse(action)}"
                codes.update({c: where for c in literals})
    return codes


def test_every_audit_code_in_the_code_base_has_words() -> None:
    codes = written_codes()
    assert {"template.save", "message.reopen", "import.customers", "draft.reject"} <= set(codes)
    assert {"snippet.rollback", "acknowledgement.dismiss", "classifier.activate"} <= set(codes)
    missing = {code: where for code, where in codes.items() if code not in ACTION_WORDS}
    assert not missing, f"add words to ACTION_WORDS (responder/web/audit_detail.py): {missing}"
    unused = set(ACTION_WORDS) - set(codes)
    assert not unused, f"words for codes nothing writes: {unused}"


def test_an_unknown_code_is_shown_as_it_is() -> None:
    assert action_words("template.save") == "Template saved"
    assert action_words("robot.dance") == "robot.dance"


def test_the_pages_seeded_for_the_screen_tests_audit_only_what_the_code_base_writes(
    rt: Runtime, worker: Worker
) -> None:
    """The small-screen test's audit page shows entries as staff see them: in words, never
    a code nothing writes (it would be shown raw)."""
    seed_every_list(rt, worker)
    with rt.factory() as session:
        seeded = set(session.scalars(select(AuditEntry.action)))
    assert seeded <= set(written_codes()), seeded - set(written_codes())
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/audit", params={"action": "sender.block"}).text
    assert "Sender blocked" in page and "@a-subdomain.somewhere-far-away.test" in page


def test_a_time_in_an_entrys_detail_reads_as_the_when_column_does(
    rt: Runtime, worker: Worker
) -> None:
    """A snooze's `until` is stored as an ISO string; the page shows it as a time in the page's
    zone, named, not as 2026-12-08T18:06:44.758931+00:00."""
    seed_every_list(rt, worker)
    with rt.factory() as session:
        until = session.scalar(
            select(AuditEntry.detail).where(AuditEntry.action == "message.snooze")
        )["until"]
    with TestClient(create_app(rt)) as client:
        login(client, "alice")
        page = client.get("/audit", params={"action": "message.snooze"}).text
    assert until not in page
    assert f"<b>until</b>: {until[:10]} {until[11:16]} UTC" in page
