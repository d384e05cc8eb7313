import subprocess
import sys

from tests.conftest import ROOT

CONTENT_FOLDERS = ("templates", "classifiers", "mailbox")


def test_content_folders_are_not_packages() -> None:
    for name in CONTENT_FOLDERS:
        assert (ROOT / name).is_dir(), name
        assert not (ROOT / name / "__init__.py").exists(), f"{name}/ must hold content, not code"


def test_stdlib_mailbox_is_not_shadowed_from_the_project_root() -> None:
    code = "import mailbox; print(mailbox.Maildir.__module__)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "mailbox"


def test_distribution_name_is_not_the_taken_pypi_name() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] != "responder"
