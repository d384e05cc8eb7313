"""`responder export` writes live content in the seed formats; `import-content` loads it back."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from responder.content import live_snippets, seed_snippets
from responder.db.models import ClassifierExample, Snippet, Template
from responder.db.session import transaction
from responder.knowledge.snippet_files import SnippetFileError, parse_snippet
from responder.runtime import Runtime
from responder.supervisor.content_edit import save_template
from responder.supervisor.snippet_edit import SnippetFields, save_snippet
from tests.helpers import run_cli


def test_export_and_import_round_trip(
    rt: Runtime, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Freshly seeded: the files already hold the live versions, so nothing is rewritten.
    out = run_cli(rt, project, "export", capsys=capsys)
    assert "wrote" not in out, out

    roaming = project / "templates" / "intents" / "roaming.en.j2"
    with transaction(rt.factory) as session:
        template = session.scalar(
            select(Template).where(Template.name == "intents/roaming", Template.language == "en")
        )
        edited = template.body.replace("Safe travels", "Have a great trip")
        save_template(session, rt.settings, template.id, edited, "sue")
    out = run_cli(rt, project, "export", capsys=capsys)
    assert f"wrote {roaming}" in out and "templates: 1" in out
    assert roaming.read_text(encoding="utf-8") == edited

    snippet_file = project / "templates" / "snippets" / "billing-roaming-charges.md"
    snippet_file.write_text(
        snippet_file.read_text(encoding="utf-8").replace("---\n", "---\n", 1).rstrip()
        + " Reply to us if you were abroad for work.\n",
        encoding="utf-8",
    )
    with (project / "classifiers" / "intent.csv").open("a", encoding="utf-8") as handle:
        handle.write('"My phone has no bars at all since this morning, even calls fail",outage\n')
    out = run_cli(rt, project, "import-content", "--author", "git", capsys=capsys)
    assert out.split() == ["templates:", "0", "snippets:", "1", "examples:", "1"]
    out = run_cli(rt, project, "import-content", capsys=capsys)
    assert out.split() == ["templates:", "0", "snippets:", "0", "examples:", "0"]
    with rt.factory() as session:
        live = session.scalars(
            select(Snippet)
            .where(Snippet.key == "billing-roaming-charges")
            .order_by(Snippet.version.desc())
        ).first()
        assert live.version == 2 and live.author == "git"
        assert live.body.endswith("Reply to us if you were abroad for work.")
        added = session.scalar(
            select(ClassifierExample).where(ClassifierExample.source == "import")
        )
        assert (added.label, added.status) == ("outage", "active")


def test_a_switched_off_snippet_is_exported_as_such_and_seeds_switched_off(
    rt: Runtime, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with transaction(rt.factory) as session:
        cap = session.scalar(select(Snippet).where(Snippet.key == "roaming-spending-cap"))
        fields = dataclasses.replace(SnippetFields.of(cap), active=False)
        save_snippet(session, rt.settings, cap.id, cap.body, "sue", fields=fields)
    out = run_cli(rt, project, "export", capsys=capsys)
    path = project / "templates" / "snippets" / "roaming-spending-cap.md"
    assert f"wrote {path}" in out and "snippets: 1" in out
    assert "\noffered: no\n---\n" in path.read_text(encoding="utf-8")
    out = run_cli(rt, project, "import-content", capsys=capsys)
    assert out.split() == ["templates:", "0", "snippets:", "0", "examples:", "0"]

    with transaction(rt.factory) as session:  # a fresh install from the exported files
        session.execute(delete(Snippet))
        seed_snippets(session, project / "templates" / "snippets")
    with rt.factory() as session:
        live = {s.key for s in live_snippets(session)}
    assert "roaming-spending-cap" not in live and "roaming-world-pass" in live

    path.write_text(path.read_text().replace("offered: no", "offered: sometimes"))
    with pytest.raises(
        SnippetFileError, match=r"roaming-spending-cap.md:\d+: `offered` is yes or no"
    ):
        parse_snippet(path.read_text(), path)
