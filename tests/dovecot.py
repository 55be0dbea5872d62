"""A throwaway Dovecot IMAP server on loopback, for the IMAP tests and `.ci/with-dovecot`: its own config in a
temporary directory (no system config), one test user with a plain password, maildir under the same directory,
no TLS, as the current user (as root, its login processes run as Debian's `dovenull`).

    with running_dovecot() as server:  # or, from a shell: python3 tests/dovecot.py COMMAND...
        IMAPClient(server.host, server.port, ssl=False).login(server.user, server.password)

The command run by `python3 tests/dovecot.py COMMAND...` sees TRIAGE_TEST_IMAP=host:port:user:password:maildir;
tests/test_imap.py uses that server when it is set, else starts its own here when `dovecot` is installed.
Standard library only: `.ci/with-dovecot` runs it before any virtualenv exists.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ENV = "TRIAGE_TEST_IMAP"
USER = "front-desk@clinic.example"
PASSWORD = "test-imap-password"
START_SECONDS = 20.0

CONFIG = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{dir}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


@dataclass(frozen=True)
class DovecotServer:
    host: str
    port: int
    user: str
    password: str
    maildir: Path

    @property
    def env_value(self) -> str:
        return f"{self.host}:{self.port}:{self.user}:{self.password}:{self.maildir}"

    @classmethod
    def from_env(cls, value: str) -> DovecotServer:
        host, port, user, password, maildir = value.split(":", 4)
        return cls(host, int(port), user, password, Path(maildir))


def binary() -> str | None:
    return shutil.which("dovecot") or next((p for p in ("/usr/sbin/dovecot",) if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accounts() -> dict[str, object]:
    uid, gid = os.getuid(), os.getgid()
    me, my_group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
    if uid != 0:
        return {"uid": uid, "gid": gid, "internal_user": me, "internal_group": my_group, "login_user": me}
    # As root: Dovecot runs neither its own processes nor a mailbox as root; Debian's package made these users.
    mail = pwd.getpwnam("dovecot")
    return {"uid": mail.pw_uid, "gid": mail.pw_gid, "internal_user": "dovecot", "internal_group": "dovecot",
            "login_user": "dovenull"}


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited ({process.returncode}): {_tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(64).startswith(b"* OK"):
                    return
        except OSError:
            time.sleep(0.05)  # the server starting, not a test waiting on time
    raise RuntimeError(f"dovecot did not answer on 127.0.0.1:{port} in {START_SECONDS:.0f} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").splitlines()[-5:])
    except OSError:
        return "(no log)"


@contextmanager
def running_dovecot(executable: str | None = None) -> Iterator[DovecotServer]:
    """Dovecot on a free port of 127.0.0.1 until the block ends; everything it wrote is removed then."""
    executable = executable or binary()
    if executable is None:
        raise RuntimeError("dovecot is not installed (Debian: apt-get install dovecot-imapd)")
    directory = Path(tempfile.mkdtemp(prefix="triage-dovecot-"))
    directory.chmod(0o755)  # the login and auth processes (other users, as root) read the config and passwd
    port = free_port()
    for sub in ("run", "state", "mail"):
        (directory / sub).mkdir()
    (directory / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::\n")
    config = directory / "dovecot.conf"
    accounts = _accounts()
    config.write_text(CONFIG.format(dir=directory, port=port, **accounts))
    os.chown(directory / "mail", int(str(accounts["uid"])), int(str(accounts["gid"])))
    process = subprocess.Popen([executable, "-F", "-c", str(config)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_for(port, process, directory / "dovecot.log")
        yield DovecotServer("127.0.0.1", port, USER, PASSWORD, directory / "mail" / USER)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python3 tests/dovecot.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    for stop in (signal.SIGTERM, signal.SIGHUP):  # stopped from outside: still stop Dovecot and remove its files
        signal.signal(stop, lambda number, frame: sys.exit(128 + number))
    with running_dovecot() as server:
        print(f"with-dovecot: Dovecot on {server.host}:{server.port}", file=sys.stderr)
        command = subprocess.Popen(argv, env={**os.environ, ENV: server.env_value})
        try:
            return command.wait()
        finally:
            if command.poll() is None:
                command.terminate()
                command.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
