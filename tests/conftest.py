"""Shared fixtures: a throw-away project folder (config, content, Maildir) per test, one model.

The embedding model loads once per test session; every test gets its own database and folders.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from responder.bootstrap import pollers, prepare
from responder.classify.embedder import Embedder
from responder.config import Settings, load_settings
from responder.pipeline.worker import Worker
from responder.runtime import Runtime
from tests.servers import PostgresCluster, ServerUnavailable

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
REQUIRE_SERVERS = os.environ.get("RESPONDER_REQUIRE_SERVERS") == "1"
# The int8 encoder (the configured default) is exported once into the checkout's var/models and
# shared by every test and every worker subprocess, instead of once per throw-away project.
MODEL_CACHE = ROOT / "var" / "models"
os.environ.setdefault("RESPONDER_MODELS__CACHE_DIR", str(MODEL_CACHE))


TEST_SETTINGS = {
    "warm_models = true": "warm_models = false",
    "undo_seconds = 10": "undo_seconds = 0",
    "password_hash_time_cost = 3": "password_hash_time_cost = 1",
    "password_hash_memory_kib = 65536": "password_hash_memory_kib = 32",
}


def config_for_tests() -> str:
    config = (ROOT / "config.toml").read_text()
    for default, for_tests in TEST_SETTINGS.items():
        assert default in config, default
        config = config.replace(default, for_tests)
    return config


def need_server(reason: str) -> None:
    """Skip with a reason, or fail when CI requires every real server."""
    if REQUIRE_SERVERS:
        pytest.fail(f"required server unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The fp32 encoder: most tests' expectations were set on it, and it stays selectable."""
    return Embedder(backend="torch")


@pytest.fixture(scope="session")
def int8_embedder() -> Embedder:
    """The configured default encoder."""
    return Embedder(backend="onnx-int8", cache_dir=MODEL_CACHE)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the content folders and config, with an empty Maildir and database."""
    for name in ("templates", "classifiers", "demo"):
        shutil.copytree(ROOT / name, tmp_path / name)
    # A web app's start would load spaCy for each test's runtime; the one test of that warms.
    # Approved replies go out at once; the undo window's tests set it. Password hashes are
    # made at argon2's least cost: the suite signs in some thousand times.
    (tmp_path / "config.toml").write_text(config_for_tests())
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "mailbox" / sub).mkdir(parents=True)
    return tmp_path


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    try:
        cluster = PostgresCluster().start()
    except ServerUnavailable as exc:
        need_server(str(exc))
    yield cluster
    cluster.cleanup()


def migrate_once(url: str) -> None:
    """The schema and the shipped content, as a start leaves them: the start every test makes
    then finds nothing to seed (checking each file as `import-content` would costs a few tenths
    of a second, which a thousand tests would each pay)."""
    settings = load_settings(ROOT / "config.toml", environ={"RESPONDER_DATABASE__URL": url})
    prepare(settings).engine.dispose()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file the migrations have built and the content files seeded, copied for each
    test instead of doing both again (test_migrations checks that what the migrations build is
    what the models say)."""
    path = tmp_path_factory.mktemp("schema") / "responder.db"
    migrate_once(f"sqlite:///{path}")
    assert not path.with_name("responder.db-wal").exists()  # the copy must hold everything
    return path


@pytest.fixture(scope="session")
def migrated_postgresql(pg_cluster: PostgresCluster) -> str:
    """The PostgreSQL twin of `migrated_sqlite`: a template database each test's is copied from."""
    url = pg_cluster.create_database()
    migrate_once(url)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, project: Path) -> str:
    """Every test that touches the database runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        target = project / "var" / "responder.db"
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), target)
        return f"sqlite:///{target}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database(template=request.getfixturevalue("migrated_postgresql"))


@pytest.fixture
def settings(project: Path, database_url: str) -> Settings:
    return load_settings(project / "config.toml", environ={"RESPONDER_DATABASE__URL": database_url})


@pytest.fixture
def rt(settings: Settings, embedder: Embedder, settled_heap: None) -> Iterator[Runtime]:
    runtime = prepare(settings, embedder=embedder)
    yield runtime
    runtime.engine.dispose()


@pytest.fixture(scope="session")
def settled_heap(embedder: Embedder, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The models and modules nearly every test uses, loaded once per test process (by a
    runtime of its own, not a test's) and then left out of the garbage collector's full
    passes: a process running hundreds of tests would otherwise walk their near million
    objects again every few tests (a seventh of its time)."""
    import responder.web.app  # noqa: F401  # the pages' modules, loaded by most tests anyway

    folder = tmp_path_factory.mktemp("settled")
    (folder / "config.toml").write_text(config_for_tests())
    runtime = Runtime(load_settings(folder / "config.toml"), embedder=embedder)
    runtime.embedder.encode(["a settled heap"])
    runtime.entity_extractor.extract("Settled on 1 May.")
    runtime.engine.dispose()
    gc.collect()
    gc.freeze()


@pytest.fixture
def worker(rt: Runtime) -> Worker:
    return Worker(rt, pollers(rt))


@pytest.fixture
def demo_customers(rt: Runtime) -> None:
    from responder.customers.importer import import_customers

    summary = import_customers(rt.factory, rt.settings.path("demo") / "customers.csv")
    assert not summary.errors


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long fault and load runs first: with two test processes, one of them left to run the
    kill storm alone at the end would add its minutes to the suite's."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def pytest_sessionfinish() -> None:
    """The test process's shared Chromium (tests/browser_support.py), if a test launched it."""
    shared = sys.modules.get("tests.browser_support")
    if shared is not None:
        shared.close_shared()
