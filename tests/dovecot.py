"""A throw-away Dovecot IMAP server on 127.0.0.1 that tests and bench/ingest.py stop and start.

Its own complete config, run as `dovecot -F -c FILE` (as root; mail belongs to nobody), one
passwd-file user, Maildir storage under a short /tmp folder that nobody can enter.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient

USER = "support"
PASSWORD = "dovecot-test-secret"

CONFIG = """\
protocols = imap
listen = 127.0.0.1
instance_name = responder-test-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
first_valid_gid = 1
default_login_user = dovenull
default_internal_user = dovecot
mailbox_idle_check_interval = 1 secs
protocol imap {{
  mail_max_userip_connections = 50
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/passwd
}}
userdb {{
  driver = passwd-file
  args = {root}/passwd
  default_fields = home={root}/home/%u
}}
"""


class DovecotUnavailable(Exception):
    pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Dovecot:
    def __init__(self, extra_config: str = "") -> None:
        if shutil.which("dovecot") is None:
            raise DovecotUnavailable("dovecot is not installed (apt-get install dovecot-imapd)")
        if os.geteuid() != 0:
            raise DovecotUnavailable("running Dovecot as a test server needs root")
        self.root = Path(tempfile.mkdtemp(prefix="dc", dir="/tmp"))
        self.root.chmod(0o755)
        self.port = _free_port()
        self.config = self.root / "dovecot.conf"
        self.config.write_text(CONFIG.format(root=self.root, port=self.port) + extra_config)
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        self.home = self.root / "home" / USER
        self.home.mkdir(parents=True)
        nobody = pwd.getpwnam("nobody")
        for path in (self.root / "home", self.home):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        self.process: subprocess.Popen[bytes] | None = None
        check = subprocess.run(
            ["doveconf", "-c", str(self.config), "-n"], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise DovecotUnavailable(f"doveconf refused the config: {check.stderr.strip()}")

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["dovecot", "-F", "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: stop() ends every child at once
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise DovecotUnavailable(f"dovecot exited: {err.strip()} {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.02)  # the server is starting: a bounded readiness poll
        raise DovecotUnavailable(f"dovecot did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        """Like a service manager: SIGTERM to the master and its children, SIGKILL if slow."""
        if self.process is None:
            return
        group = os.getpgid(self.process.pid)
        os.killpg(group, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(group, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def client(self) -> IMAPClient:
        client = IMAPClient("127.0.0.1", port=self.port, ssl=False, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(
        self,
        raw: bytes,
        folder: str = "INBOX",
        flags: tuple[bytes, ...] = (),
        arrived: datetime | None = None,
    ) -> None:
        """APPEND, as a mail client copying mail in; `arrived` sets its INTERNALDATE (now)."""
        with self.client() as client:
            if folder != "INBOX" and not client.folder_exists(folder):
                client.create_folder(folder)
            client.append(folder, raw, flags=flags, msg_time=arrived)

    def message_file(self, uid: int, folder: str = "INBOX") -> Path:
        """The Maildir file holding UID `uid` (from Dovecot's dovecot-uidlist)."""
        maildir = self.home / "Maildir" / ("" if folder == "INBOX" else f".{folder}")
        for line in (maildir / "dovecot-uidlist").read_text().splitlines()[1:]:
            number, _, fields = line.partition(" ")
            if int(number) == uid:
                base = f" {fields}".split(" :", 1)[1]  # "W354 S344 :name" or ":name"
                for sub in ("cur", "new"):
                    for path in (maildir / sub).glob(f"{base}*"):
                        return path
        raise LookupError(f"no file for UID {uid} in {folder}")

    def deliver_offline(self, raw: bytes, name: str) -> None:
        """What an MTA does while IMAP is down: a file in the Maildir's new/, owned by nobody."""
        nobody = pwd.getpwnam("nobody")
        maildir = self.home / "Maildir"
        for sub in ("", "new", "cur", "tmp"):
            path = maildir / sub
            path.mkdir(exist_ok=True)
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        target = maildir / "new" / f"{name}.offline"
        target.write_bytes(raw)
        os.chown(target, nobody.pw_uid, nobody.pw_gid)


def start_dovecot(extra_config: str = "") -> Dovecot:
    server = Dovecot(extra_config)
    try:
        server.start()
    except BaseException:
        server.cleanup()
        raise
    return server


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    from tests.conftest import need_server

    try:
        server = start_dovecot()
    except DovecotUnavailable as exc:
        need_server(str(exc))
        raise
    yield server
    server.cleanup()
