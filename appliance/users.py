"""Web UI accounts, sessions and login throttling, in ``users.sqlite``.

Passwords are hashed with Argon2id (argon2-cffi). Sessions are server-side rows keyed by the SHA-256 of a
random cookie value, so logout, an idle timeout, a password change or a deleted account end them at once.
Failed logins are counted per account and per client address; either one over the limit locks that key out
for a while (the lockout is reported, never silently ignored).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.errors import GapscanError

ROLES = ("admin", "operator")
MIN_PASSWORD = 12
IDLE_TIMEOUT = 15 * 60.0
MAX_FAILURES = 5           # per key within FAILURE_WINDOW
FAILURE_WINDOW = 15 * 60.0
LOCKOUT = 5 * 60.0
_USERNAME = re.compile(r"^[a-z][a-z0-9._-]{1,31}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY, role TEXT NOT NULL, pw_hash TEXT NOT NULL, created_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, created_at REAL NOT NULL, last_seen REAL NOT NULL);
CREATE TABLE IF NOT EXISTS login_failures (
    key TEXT PRIMARY KEY, count INTEGER NOT NULL, first_at REAL NOT NULL, locked_until REAL NOT NULL);
"""


class PasswordPolicyError(GapscanError):
    pass


class LoginThrottled(GapscanError):
    """Too many failed logins for this account or address; ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed logins; try again in {int(retry_after) + 1} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    username: str
    role: str
    created_at: float


def check_password_policy(password: str, username: str) -> None:
    """At least 12 characters, 3 kinds of character, not containing the user name."""
    problems = []
    if len(password) < MIN_PASSWORD:
        problems.append(f"be at least {MIN_PASSWORD} characters long")
    kinds = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^A-Za-z0-9]"))
    if kinds < 3:
        problems.append("mix at least three of: lower case, upper case, digits, symbols")
    if username and username.lower() in password.lower():
        problems.append("not contain the user name")
    if problems:
        raise PasswordPolicyError("password must " + "; ".join(problems))


class UserStore:
    def __init__(self, state_dir: Path, *, argon2: dict[str, int] | None = None) -> None:
        """``argon2``: PasswordHasher parameters; the library's defaults (RFC 9106) unless a test lowers them."""
        path = Path(state_dir) / "users.sqlite"
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()
        self._hasher = PasswordHasher(**(argon2 or {}))  # Argon2id
        self._dummy_hash: str | None = None

    def close(self) -> None:
        self._db.close()

    # -- accounts --------------------------------------------------------------------------------
    def has_users(self) -> bool:
        return self._db.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    def users(self) -> list[User]:
        return [User(*r) for r in self._db.execute("SELECT username, role, created_at FROM users ORDER BY username")]

    def get(self, username: str) -> User | None:
        row = self._db.execute("SELECT username, role, created_at FROM users WHERE username = ?",
                               (username,)).fetchone()
        return User(*row) if row else None

    def create(self, username: str, password: str, role: str) -> User:
        if not _USERNAME.match(username):
            raise GapscanError("user name: 2-32 characters, lower-case letters, digits, dot, dash, underscore, "
                               "starting with a letter")
        if role not in ROLES:
            raise GapscanError(f"role must be one of {', '.join(ROLES)}")
        check_password_policy(password, username)
        with self._lock:
            try:
                self._db.execute("INSERT INTO users VALUES (?,?,?,?)",
                                 (username, role, self._hasher.hash(password), time.time()))
            except sqlite3.IntegrityError:
                raise GapscanError(f"user {username!r} already exists") from None
        return User(username, role, time.time())

    def create_first_admin(self, username: str, password: str) -> User:
        """Only while no account exists (first boot); atomic against two browsers racing."""
        with self._lock:
            if self.has_users():
                raise GapscanError("the appliance is already set up")
        return self.create(username, password, "admin")

    def delete(self, username: str) -> None:
        with self._lock:
            admins = [u for u in self.users() if u.role == "admin"]
            if len(admins) == 1 and admins[0].username == username:
                raise GapscanError("cannot delete the last admin account")
            self._db.execute("DELETE FROM users WHERE username = ?", (username,))
            self._db.execute("DELETE FROM sessions WHERE username = ?", (username,))

    def set_password(self, username: str, password: str) -> None:
        check_password_policy(password, username)
        with self._lock:
            self._db.execute("UPDATE users SET pw_hash = ? WHERE username = ?",
                             (self._hasher.hash(password), username))
            self._db.execute("DELETE FROM sessions WHERE username = ?", (username,))

    def authenticate(self, username: str, password: str, address: str) -> User | None:
        """The user, or None on a wrong name/password. Raises LoginThrottled while locked out."""
        keys = (f"user:{username.lower()}", f"addr:{address}")
        now = time.time()
        for key in keys:
            row = self._db.execute("SELECT locked_until FROM login_failures WHERE key = ?", (key,)).fetchone()
            if row and row[0] > now:
                raise LoginThrottled(row[0] - now)
        row = self._db.execute("SELECT pw_hash FROM users WHERE username = ?", (username,)).fetchone()
        ok = False
        try:
            ok = self._hasher.verify(row[0] if row else self._dummy(), password) and row is not None
        except (VerificationError, InvalidHashError):
            ok = False
        if not ok:
            for key in keys:
                self._fail(key, now)
            return None
        self._db.execute("DELETE FROM login_failures WHERE key = ?", (keys[0],))
        if self._hasher.check_needs_rehash(row[0]):
            self._db.execute("UPDATE users SET pw_hash = ? WHERE username = ?", (self._hasher.hash(password), username))
        return self.get(username)

    def _dummy(self) -> str:
        """A hash to verify against for unknown users, so their logins take as long as real ones."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_hex(16))
        return self._dummy_hash

    def _fail(self, key: str, now: float) -> None:
        with self._lock:
            row = self._db.execute("SELECT count, first_at FROM login_failures WHERE key = ?", (key,)).fetchone()
            count, first = (row[0] + 1, row[1]) if row and now - row[1] < FAILURE_WINDOW else (1, now)
            locked = now + LOCKOUT if count >= MAX_FAILURES else 0.0
            self._db.execute("INSERT OR REPLACE INTO login_failures VALUES (?,?,?,?)", (key, count, first, locked))

    # -- sessions --------------------------------------------------------------------------------
    def new_session(self, username: str) -> str:
        token = secrets.token_urlsafe(32)
        now = time.time()
        self._db.execute("INSERT INTO sessions VALUES (?,?,?,?)", (_digest(token), username, now, now))
        self._db.execute("DELETE FROM sessions WHERE last_seen < ?", (now - IDLE_TIMEOUT,))
        return token

    def session_user(self, token: str, *, idle_timeout: float = IDLE_TIMEOUT, touch: bool = True) -> User | None:
        """The session's user if the session exists and was used within ``idle_timeout``; refreshes it."""
        now = time.time()
        row = self._db.execute("SELECT username, last_seen FROM sessions WHERE token_hash = ?",
                               (_digest(token),)).fetchone()
        if row is None:
            return None
        if now - row[1] > idle_timeout:
            self.end_session(token)
            return None
        if touch:
            self._db.execute("UPDATE sessions SET last_seen = ? WHERE token_hash = ?", (now, _digest(token)))
        return self.get(row[0])

    def end_session(self, token: str) -> None:
        self._db.execute("DELETE FROM sessions WHERE token_hash = ?", (_digest(token),))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
