"""Create or upgrade the schema with Alembic, from inside the package (no alembic.ini needed)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine | None, phone_region: str | None = None) -> Config:
    """`phone_region`: `[customers] default_region`, for the data migrations that read phone
    numbers written without a country code (web_0023)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    config.attributes["phone_region"] = phone_region
    return config


@cache
def revision_scripts() -> ScriptDirectory:
    """The revision files, read once per process: Alembic's `command.upgrade` reads all of them
    again for each upgrade, a tenth of a second that every start (and every test's) paid."""
    return ScriptDirectory.from_config(alembic_config(None))


def upgrade(engine: Engine, revision: str = "heads", *, phone_region: str | None = None) -> None:
    """All heads: each feature area keeps its own migration branch off the initial schema.
    Alembic's `command.upgrade`, on the revisions read once (`revision_scripts`)."""
    if ":" in revision:  # a range is for --sql mode only, as command.upgrade says
        command.upgrade(alembic_config(engine, phone_region), revision)
        return
    script = revision_scripts()

    def steps(current: Iterable[str], _context: Any) -> Any:
        return script._upgrade_revs(revision, current)

    with EnvironmentContext(
        alembic_config(engine, phone_region), script, fn=steps, destination_rev=revision
    ):
        script.run_env()
