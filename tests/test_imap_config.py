"""Several IMAP mailboxes from config.toml: each a channel of kind "imap", a poller per folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from responder.bootstrap import imap_pollers
from responder.config import ConfigError, load_settings
from responder.db.models import Channel
from responder.runtime import Runtime

MAILBOXES = """
[[imap.mailboxes]]
name = "support"
host = "imap.example.test"
user = "support@example.test"
password_env = "SUPPORT_IMAP_PASSWORD"
folders = ["INBOX", "Escalations"]
address = "support@example.test"

[[imap.mailboxes]]
name = "billing"
host = "mail.example.test"
port = 143
security = "starttls"
user = "billing"
address = "billing@example.test"
"""


def with_mailboxes(project: Path) -> Path:
    path = project / "config.toml"
    text = path.read_text().replace("\nmailboxes = []\n", "\n")
    path.write_text(text + MAILBOXES)
    return path


def test_each_mailbox_is_a_channel_with_a_poller_per_folder(project: Path, rt: Runtime) -> None:
    settings = load_settings(with_mailboxes(project), environ={})
    support, billing = settings.imap.mailboxes
    assert (support.port, support.security, support.folders) == (
        993,
        "tls",
        ["INBOX", "Escalations"],
    )
    assert (billing.port, billing.security, billing.folders) == (143, "starttls", ["INBOX"])
    rt.settings.imap = settings.imap
    found = imap_pollers(rt)
    assert [(p.mailbox.name, p.folder) for p in found] == [
        ("support", "INBOX"),
        ("support", "Escalations"),
        ("billing", "INBOX"),
    ]
    with rt.factory() as session:
        channels = {
            c.name: c for c in session.scalars(select(Channel).where(Channel.kind == "imap"))
        }
    assert channels["billing"].address == "billing@example.test"
    assert {"support@example.test", "billing@example.test"} <= rt.own_addresses


def test_idle_longer_than_29_minutes_is_refused(project: Path) -> None:
    with pytest.raises(ConfigError, match=r"imap\.idle_seconds"):
        load_settings(project / "config.toml", environ={"RESPONDER_IMAP__IDLE_SECONDS": "1800"})


def test_two_mailboxes_with_one_name_are_refused(project: Path) -> None:
    path = with_mailboxes(project)
    path.write_text(path.read_text().replace('name = "billing"', 'name = "support"'))
    with pytest.raises(ConfigError, match=r"imap\.mailboxes"):
        load_settings(path, environ={})
