"""A web process loads the models a redraft needs as it starts, not on a person's first click.

Correcting an intent or sentiment writes the draft again, which embeds the message, ranks the
snippets by their vectors and may read entities, and the answer finder's search by meaning
embeds what the agent typed: in a process that has not loaded the encoder and spaCy yet, that
first click waits seconds. The loading runs in a background thread, so the
process serves pages at once; a request that needs a model meanwhile waits on the same lock.
"""

from __future__ import annotations

import logging
import threading

from responder.runtime import Runtime

log = logging.getLogger(__name__)


def warm_models(rt: Runtime) -> None:
    """Failures are logged, not raised: the first redraft loads again and shows its error."""
    try:
        with rt.read_factory() as session:
            rt.snippet_index(session)  # loads the encoder and embeds the live snippets
        rt.entity_extractor.extract("")  # loads spaCy
    except Exception:
        log.exception("loading the models for redrafts failed; the first redraft tries again")
        return
    log.info("models loaded for redrafts")


def start_warming(rt: Runtime) -> threading.Thread | None:
    if not rt.settings.web.warm_models:
        return None
    thread = threading.Thread(target=warm_models, args=(rt,), name="warm-models", daemon=True)
    thread.start()
    return thread
