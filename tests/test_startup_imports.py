"""Every `responder` command and web process starts by importing the CLI and the web app; the
machine-learning libraries cost seconds to import, so only the code that uses a model may pull
them in. A top-level import of one of them would quietly slow every start (and the suite's
subprocess tests) without failing anything else."""

import os
import subprocess
import sys

HEAVY = ("sklearn", "scipy", "torch", "sentence_transformers", "spacy", "onnxruntime")


def test_starting_the_cli_and_web_app_imports_no_model_library() -> None:
    probe = (
        "import sys, responder.cli, responder.web.app\n"
        f"heavy = {HEAVY!r}\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.stdout.strip() == "", f"imported at start: {result.stdout.strip()}"
