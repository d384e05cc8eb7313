"""Training a named classifier from what supervisors wrote, for the CLI, runtime and web.

The database is the source of truth for examples (seeded from `classifiers/`, grown by
accepted corrections); the definition file gives the labels and the `unknown` threshold, and is
checked first so that a broken file is reported with its line instead of training on stale data.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from responder.classify.definitions import ClassifierDefinition, load_definition, read_examples_csv
from responder.classify.embedder import Embedder
from responder.classify.store import TrainingRow, active_examples, train_and_store
from responder.classify.training import Progress, cross_validated_accuracy
from responder.db.models import ClassifierModel

#: The longest name a definition file can have, in UTF-8 bytes: file systems allow 255 for
#: `<name>.toml`, and the database keeps a classifier's name in 50 characters.
LONGEST_NAME_BYTES = 200


def _file_name(name: str) -> bool:
    """A name some definition file could have (`intent`, `order.status`, `réclamation`): not
    too long for a file name, no NUL, no folder, no lone surrogate."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return (
        0 < size <= LONGEST_NAME_BYTES
        and "\x00" not in name
        and "/" not in name
        and "\\" not in name
        and not name.startswith(".")
    )


@dataclass(frozen=True)
class TrainingResult:
    model: ClassifierModel
    cross_validated_accuracy: float | None


def definition_or_none(folder: Path, name: str) -> ClassifierDefinition | None:
    """None for a name no definition file can have (from a URL: too long for a file name,
    a NUL, a path), as for one that has none."""
    if not _file_name(name) or not (folder / f"{name}.toml").exists():
        return None
    return load_definition(folder, name)


def train_named(
    session: Session,
    embedder: Embedder,
    folder: Path,
    name: str,
    *,
    examples_csv: Path | None = None,
    created_by: str = "cli",
    cross_validate: bool = False,
    holdout: bool = True,
    progress: Progress | None = None,
    make_active: bool = True,
) -> TrainingResult:
    """From a CSV when given, else from the database's active examples for `name`."""
    say = progress or (lambda _line: None)
    definition = definition_or_none(folder, name)
    threshold = definition.threshold if definition else 0.0
    if examples_csv is not None:
        labels = set(definition.labels) if definition else None
        rows = [TrainingRow(e.text, e.label) for e in read_examples_csv(examples_csv, labels)]
        source = f"csv:{examples_csv.name}"
    else:
        rows = active_examples(session, name)
        source = "database"
        if not rows and definition is not None:
            rows = [TrainingRow(e.text, e.label) for e in definition.examples]
            source = f"definition:{name}"
    if not rows:
        raise ValueError(
            f"no examples for classifier {name!r}: add {folder / name}.toml and .csv, "
            "or pass --examples FILE.csv"
        )
    say(f"{name}: {len(rows)} examples, {len({r.label for r in rows})} labels ({source})")
    extra = {}
    cv = None
    if cross_validate:
        vectors = embedder.encode([r.text for r in rows])
        cv = cross_validated_accuracy(
            [r.text for r in rows], vectors, [r.label for r in rows], progress=say
        )
        extra["cross_validated_accuracy"] = round(cv, 4)
    model = train_and_store(
        session,
        embedder,
        name,
        rows,
        threshold=threshold,
        source=source,
        created_by=created_by,
        holdout=holdout,
        progress=say,
        extra_metrics=extra,
        make_active=make_active,
    )
    return TrainingResult(model=model, cross_validated_accuracy=cv)
