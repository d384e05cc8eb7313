"""`responder export` writes live content in the seed formats; `import-content` loads it back,
and a start seeds only the new files it would take."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from responder.classify.definitions import read_examples_csv
from responder.cli import main
from responder.content import live_snippets, live_templates
from responder.db.models import ClassifierExample, Snippet, Template
from responder.db.session import transaction
from responder.knowledge.snippet_files import SnippetFileError, parse_snippet
from responder.runtime import Runtime
from responder.supervisor.content_edit import save_template
from responder.supervisor.content_files import seed_content, snippet_file_text
from responder.supervisor.retire import restore_snippet, retire_snippet
from responder.supervisor.snippet_edit import SnippetFields, live_snippets_all, save_snippet
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
    # Files the editor would refuse, or that cannot be read, are refused one by one (the file,
    # the line where known, the editor's words) and the good ones imported; exit status 1.
    refused = _write_bad_files(project)
    good = {
        project / "templates" / "intents" / "outage.en.empathetic.j2": (
            '{% extends "layout.en.j2" %}{% block body %}Sorry: we are on it.{% endblock %}\n'
        ),
        snippet_file.with_name("praise-noted.md"): (
            "---\nid: praise-noted\ntitle: Thanks\nintents: praise\n---\nThank you!\n"
        ),
    }
    for path, text in good.items():
        path.write_text(text, encoding="utf-8")
    # A start puts none of them live and does not stop on them: it seeds the new files that
    # pass (two good ones here) and logs each refused one with the same words (a file for an id
    # the database has is not the start's to take: the twin of roaming-eu-pass is left alone).
    status, out, err = _responder(rt, project, capsys, "db", "upgrade")
    assert status == 0 and "database is up to date" in out and "Traceback" not in err, err
    logged = [
        f"WARNING responder.bootstrap: content file {line.removeprefix('error: ')}".replace(
            ": not imported: ", ": not seeded: "
        )
        for line in refused
        if "roaming-eu-pass" not in line
    ]
    for said in logged:
        assert said in err, (said, err)
    assert err.count(": not seeded: ") == len(logged) and "restart or run" in err, err
    with rt.factory() as session:
        templates = set(live_templates(session, switched_off=True))
        snippets = {s.key for s in live_snippets_all(session)}
        topic = select(ClassifierExample).where(ClassifierExample.classifier == "bad-topic")
        assert session.scalars(topic).first() is None
    assert "intents/outage.en.empathetic.j2" in templates and "praise-noted" in snippets
    assert not {"intents/bad-intent.en.j2", _UNRENDERED, _UNRENDERED_TONE} & templates
    assert not {key for key in snippets if key.startswith("bad-")}
    roaming.write_text(edited.replace("{% endblock %}", "{% endblok %}"), encoding="utf-8")
    status, out, err = _responder(rt, project, capsys, "import-content", "--author", "git")
    assert status == 1 and "Traceback" not in err, err
    assert out.split() == ["templates:", "0", "snippets:", "1", "examples:", "1"]
    broken = edited.split("{% endblock %}")[0].count("\n") + 1  # the line of the bad tag
    for said in [
        *refused,
        f"error: {roaming}:{broken}: not imported: intents/roaming.en.j2: syntax error on line "
        f"{broken}",
    ]:
        assert said in err, (said, err)
    assert "unknown tag 'endblok'" in err and len(err.splitlines()) == len(refused) + 1, err
    for name in (_UNRENDERED, _UNRENDERED_TONE):
        (project / "templates" / name).unlink()
    for path in project.glob("*/**/bad-*"):
        path.unlink()
    roaming.write_text(edited, encoding="utf-8")
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

    # Export writes each file whole, over what it said: a malformed one is moved aside (what was
    # typed into it is kept), named with what was wrong. One that cannot be written is named
    # and left, the rest written; exit status 1.
    intent_csv = project / "classifiers" / "intent.csv"
    examples = [(e.text, e.label) for e in read_examples_csv(intent_csv)]
    lines = len(intent_csv.read_text(encoding="utf-8").splitlines())
    malformed = edited.replace("great", "gr\xe9at").encode("latin-1")
    roaming.write_bytes(malformed)
    snippet_file.write_text(snippet_file_text(live).removeprefix("---\n"), encoding="utf-8")
    with intent_csv.open("a", encoding="utf-8") as handle:
        handle.write('"A quote never closed,outage\n')
    in_the_way = project / "templates" / "snippets" / "roaming-eu-pass.md"
    in_the_way.unlink()
    in_the_way.mkdir()
    status, out, err = _responder(rt, project, capsys, "export")
    assert status == 1 and err == f"error: {in_the_way}: not written: Is a directory\n", err
    line = edited[: edited.index("great")].count("\n") + 1
    for said in [
        f"wrote {roaming} (it replaces a malformed file: line {line}: not UTF-8 text (byte 0xe9);",
        f"wrote {snippet_file} (it replaces a malformed file: line 1: snippet must start with a",
        f"wrote {intent_csv} (it replaces a malformed file: line {lines + 1}: bad CSV in the",
    ]:
        assert said in out, (said, out)
    assert out.split()[-6:] == ["templates:", "1", "snippets:", "1", "examples:", "1"]
    assert roaming.read_text(encoding="utf-8") == edited
    kept = roaming.with_name(f"{roaming.name}.malformed")
    assert f"it is kept as {kept}" in out and kept.read_bytes() == malformed
    assert snippet_file.read_text(encoding="utf-8") == snippet_file_text(live)
    assert [(e.text, e.label) for e in read_examples_csv(intent_csv)] == examples


def test_a_switched_off_snippet_is_exported_seeded_and_imported_switched_off(
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

    snippets = project / "templates" / "snippets"
    with transaction(rt.factory) as session:  # a fresh install from the exported files
        session.execute(delete(Snippet))
        seeded = seed_content(session, rt.settings, project / "templates", project / "classifiers")
        assert seeded.snippets == len(list(snippets.glob("*.md"))) and not seeded.refused
    with rt.factory() as session:
        live = {s.key for s in live_snippets(session)}
    assert "roaming-spending-cap" not in live and "roaming-world-pass" in live

    # A file written before its snippet was retired (no `offered:` line) brings only its words,
    # as a retired version, and says so; a file switching off the snippet an action rule offers
    # is refused by name, and the rest of the import goes ahead.
    with transaction(rt.factory) as session:
        eu = session.scalar(select(Snippet).where(Snippet.key == "roaming-eu-pass"))
        retire_snippet(session, rt.settings, eu.id, "sue", "pass withdrawn")
    eu_file, world_file = snippets / "roaming-eu-pass.md", snippets / "roaming-world-pass.md"
    eu_file.write_text(eu_file.read_text().rstrip() + " Ask us before you travel.\n")
    world_file.write_text(world_file.read_text().replace("\n---\n", "\noffered: no\n---\n", 1))
    status, out, err = _responder(rt, project, capsys, "import-content")
    assert status == 1, (out, err)
    assert (
        f"error: {world_file}: not imported: the action rule roaming_pass offers this snippet"
    ) in err
    kept = f"{eu_file}: snippet roaming-eu-pass kept retired: restore it in its editor"
    assert kept in out and "snippets: 1" in out
    world_file.write_text(world_file.read_text().replace("offered: no\n", ""))
    status, out, _ = _responder(rt, project, capsys, "import-content")
    assert status == 0 and kept in out and "snippets: 0" in out
    with rt.factory() as session:
        live = {s.key: s for s in live_snippets_all(session)}
    assert not live["roaming-eu-pass"].active and live["roaming-eu-pass"].version == 3
    assert live["roaming-eu-pass"].body.endswith("Ask us before you travel.")
    assert (live["roaming-world-pass"].active, live["roaming-world-pass"].version) == (True, 1)
    with transaction(rt.factory) as session:
        restore_snippet(session, rt.settings, live["roaming-eu-pass"].id, "sue")
    with rt.factory() as session:
        assert "roaming-eu-pass" in {s.key for s in live_snippets(session)}

    path.write_text(path.read_text().replace("offered: no", "offered: sometimes"))
    with pytest.raises(
        SnippetFileError, match=r"roaming-spending-cap.md:\d+: `offered` is yes or no"
    ):
        parse_snippet(path.read_text(), path)


#: A new template file that does not render (its intent, language and tone are fine).
_UNRENDERED = "intents/praise.de.j2"
#: A new tone variant that does not render: named by its own file, not the plain template's.
_UNRENDERED_TONE = "intents/roaming.en.empathetic.j2"


def _write_bad_files(project: Path) -> list[str]:
    """Snippet, template and classifier files `import-content` refuses; what it says of each."""
    snippets, intents = project / "templates" / "snippets", project / "templates" / "intents"
    classifiers = project / "classifiers"
    eu_pass, twin = snippets / "roaming-eu-pass.md", snippets / "bad-id.md"

    def snippet(key: str, more: str = "", body: str = "", labels: str = "roaming") -> str:
        return f"---\nid: {key}\ntitle: Bad\nintents: {labels}\n{more}---\nYour {body} answer.\n"

    files = {  # each with its line, where the problem has one, and what is said of it
        snippets / "bad-colon.md": (
            snippet("bad-colon", "language en\n"),
            ":5",
            "expected `key: value`, got 'language en'",
        ),
        snippets / "bad-typo.md": (
            snippet("bad-typo", "intent: roaming\n"),
            ":5",
            "unknown header key 'intent' (the keys are id, title,",
        ),
        snippets / "bad-bytes.md": (snippet("bad-bytes", body="caf\xe9"), ":6", "not UTF-8 text"),
        snippets / "bad-intent.md": (
            snippet("bad-intent", labels="roaming, oops"),
            "",
            "unknown intent oops (the intents are ",
        ),
        snippets / "bad-plan.md": (
            snippet("bad-plan", "plans: Gold Bar\n"),
            "",
            "unknown plan Gold Bar (the plans are ",
        ),
        snippets / "bad-body.md": (
            snippet("bad-body", body="{% if %}"),
            ":6",
            "template 'snippet bad-body': syntax error on line 6",
        ),
        twin: (
            snippet("roaming-eu-pass"),
            "",
            f"the id roaming-eu-pass is also {eu_pass}'s: one file per snippet",
        ),
        intents / "bad-intent.en.j2": (
            '{% extends "layout.en.j2" %}',
            "",
            "unknown intent 'bad-intent'",
        ),
        project / "templates" / _UNRENDERED: (
            '{% extends "layout.de.j2" %}\n{% block body %}\nDanke.\n{% endblok %}\n',
            ":4",
            f"{_UNRENDERED}: syntax error on line 4",
        ),
        project / "templates" / _UNRENDERED_TONE: (
            '{% extends "layout.en.j2" %}\n{% block body %}\nSorry.\n{% endblok %}\n',
            ":4",
            f"{_UNRENDERED_TONE}: syntax error on line 4",
        ),
        classifiers / "bad-topic.csv": (
            "text,label\nmy bill is wrong,billing\nno signal at home\n",
            ":3",
            "expected 2 columns, got 1",
        ),
    }
    (classifiers / "bad-topic.toml").write_text("[labels.billing]\n[labels.network]\n")
    for path, (text, _, _) in files.items():
        path.write_bytes(text.encode("latin-1"))
    said = [f"error: {path}{line}: not imported: {why}" for path, (_, line, why) in files.items()]
    return [*said, f"error: {eu_pass}: not imported: the id roaming-eu-pass is also {twin}'s"]


def _responder(
    rt: Runtime, project: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """`responder ARGS` on the test's project: its exit status, output and errors."""
    os.environ["RESPONDER_DATABASE__URL"] = rt.settings.database.url
    try:
        status = main(["--config", str(project / "config.toml"), *args])
    finally:
        del os.environ["RESPONDER_DATABASE__URL"]
    captured = capsys.readouterr()
    return status, captured.out, captured.err
