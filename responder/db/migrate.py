"""Create or upgrade the schema with Alembic, from inside the package (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(engine: Engine, phone_region: str | None = None) -> Config:
    """`phone_region`: `[customers] default_region`, for the data migrations that read phone
    numbers written without a country code (web_0023)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    config.attributes["phone_region"] = phone_region
    return config


def upgrade(engine: Engine, revision: str = "heads", *, phone_region: str | None = None) -> None:
    """All heads: each feature area keeps its own migration branch off the initial schema."""
    command.upgrade(alembic_config(engine, phone_region), revision)
