"""A real Samba server (Debian ``smbd``) on loopback, as a non-daemon child with its own smb.conf and passdb."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Samba:
    host: str
    port: int
    user: str
    password: str
    share: str
    root: Path  # the share's folder on this machine
    log: Path

    def url(self, sub: str = "", user: str | None = None) -> str:
        return f"smb://{user or self.user}@{self.host}:{self.port}/{self.share}" + (f"/{sub}" if sub else "")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def why_no_samba() -> str | None:
    if not shutil.which("smbd") or not shutil.which("smbpasswd"):
        return "Samba (smbd, smbpasswd) not installed: scripts/bootstrap --test installs deps/apt/test/media.txt"
    if os.geteuid() != 0:
        return "smbd switches to the share user's uid, which needs root (the CI and appliance test runs are root)"
    return None


def start_samba(populate) -> tuple[Samba, subprocess.Popen[bytes], Path]:
    """Start smbd serving a fresh share; ``populate(root)`` fills it first. The share user is ``nobody``
    (smbpasswd needs an existing Unix account; the test adds none), so mode 0700 root folders are unreadable."""
    base = Path(tempfile.mkdtemp(prefix="gapscan-samba-"))  # in /tmp, not under pytest's 0700 folder
    base.chmod(0o755)
    root = base / "share"
    root.mkdir()
    populate(root)
    for d, dirs, files in os.walk(root):
        for name in dirs:
            p = Path(d, name)
            if p.stat().st_mode & 0o777 != 0o700:
                p.chmod(0o755)
        for name in files:
            Path(d, name).chmod(0o644)
    root.chmod(0o755)
    srv = base / "srv"
    for sub in ("private", "lock", "state", "cache", "pid", "ncalrpc"):
        (srv / sub).mkdir(parents=True)
    port = free_port()
    conf = base / "smb.conf"
    conf.write_text(f"""[global]
  server role = standalone server
  smb ports = {port}
  interfaces = lo
  bind interfaces only = yes
  disable netbios = yes
  server min protocol = SMB2_10
  private dir = {srv}/private
  lock directory = {srv}/lock
  state directory = {srv}/state
  cache directory = {srv}/cache
  pid directory = {srv}/pid
  ncalrpc dir = {srv}/ncalrpc
  log file = {srv}/log.%m
  passdb backend = tdbsam:{srv}/private/passdb.tdb
  load printers = no
  printing = bsd
  printcap name = /dev/null
  disable spoolss = yes
  map to guest = never
[evidence]
  path = {root}
  read only = yes
  guest ok = no
""")
    password = "Corr3ct-horse"
    subprocess.run(["smbpasswd", "-c", str(conf), "-s", "-a", "nobody"], input=f"{password}\n{password}\n".encode(),
                   check=True, capture_output=True)
    log = base / "smbd.log"
    with open(log, "wb") as logfh:
        proc = subprocess.Popen(["smbd", "--foreground", "--no-process-group", "--debug-stdout", "-s", str(conf)],
                                stdin=subprocess.DEVNULL, stdout=logfh, stderr=subprocess.STDOUT,
                                start_new_session=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")[-2000:]
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"smbd exited: {text}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        stop_samba(proc, base)
        raise RuntimeError("smbd did not start listening within 20 s")
    return Samba("127.0.0.1", port, "nobody", password, "evidence", root, log), proc, base


def stop_samba(proc: subprocess.Popen[bytes], base: Path) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # its own session: smbd's forked children go with it
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    shutil.rmtree(base, ignore_errors=True)
