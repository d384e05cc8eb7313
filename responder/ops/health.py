"""Readiness: can this process do its work now? Cheap enough to be probed every few seconds.

Models are never loaded by a probe: a model that is not loaded yet is reported as loadable when
its files or package are present, because loading it takes seconds and hundreds of megabytes.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import text

from responder.runtime import Runtime


def database_check(rt: Runtime) -> dict[str, Any]:
    try:
        with rt.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means not ready; say which
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "dialect": rt.engine.dialect.name}


def embedding_check(rt: Runtime) -> dict[str, Any]:
    embedder = rt.embedder
    if embedder.loaded:
        return {"ok": True, "state": "loaded", "backend": embedder.backend}
    present = Path(embedder.model_path).is_dir()
    return {
        "ok": present,
        "state": "loadable" if present else "missing",
        "backend": embedder.backend,
    }


def spacy_check(rt: Runtime) -> dict[str, Any]:
    name = rt.settings.models.spacy_model
    extractor = vars(rt).get("entity_extractor")  # created on first use, like the model
    if extractor is not None and extractor.loaded:
        return {"ok": True, "state": "loaded"}
    present = importlib.util.find_spec(name) is not None
    return {"ok": present, "state": "loadable" if present else "missing"}


def readiness(rt: Runtime) -> tuple[bool, dict[str, Any]]:
    checks = {
        "database": database_check(rt),
        "embedding_model": embedding_check(rt),
        "spacy_model": spacy_check(rt),
    }
    return all(c["ok"] for c in checks.values()), checks
