"""The appliance's self-test: prove, with inputs whose answers are known, that every hash path gives the right
answer on the backend in use, and that the hash-list store is intact. Run by ``gapscan selftest`` and by the
daemon before every scan it starts (the report is stored in the scan's ``extra``); a failure blocks scanning,
because a scanner that silently computes wrong digests reports "clean" for everything.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appliance.hashing.canaries import CANARIES, PDQ_CANARIES
from appliance.hashing.digests import DEFAULT_ALGORITHMS, hash_bytes, hash_stream
from appliance.hashing.pdq import hash_to_hex, pdq_from_bytes
from appliance.hashlist.store import HashListStore, StoreLocked

#: Published test vectors (RFC 1321, RFC 3174, FIPS 180-2): data, md5, sha1, sha256.
DIGEST_VECTORS: tuple[tuple[str, bytes, str, str, str], ...] = (
    ("empty", b"", "d41d8cd98f00b204e9800998ecf8427e", "da39a3ee5e6b4b0d3255bfef95601890afd80709",
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("abc", b"abc", "900150983cd24fb0d6963f7d28e17f72", "a9993e364706816aba3e25717850c26c9cd0d89d",
     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("million-a", b"a" * 1_000_000, "7707d6ae4e027c70eea2a935c2296f21", "34aa973cd4c4daa4f61eeb2bdbad27316534016f",
     "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
)


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class SelfTestReport:
    passed: bool
    checks: list[Check]
    backend: str = "unknown"
    seconds: float = 0.0
    at: float = field(default_factory=time.time)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        if self.passed:
            return f"self-test passed ({len(self.checks)} checks on {self.backend})"
        return "self-test FAILED: " + "; ".join(f"{c.name}: {c.detail}" for c in self.failures)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "backend": self.backend, "seconds": round(self.seconds, 3), "at": self.at,
                "checks": [asdict(c) for c in self.checks]}


def run_selftest(state_dir: Path, *, check_store: bool = True, passphrase: str | None = None) -> SelfTestReport:
    """Every check, in order; ``passphrase`` unlocks the hash-list store as ``HashListStore.open`` would."""
    t0 = time.monotonic()
    backend = _backend_name()
    steps: list[tuple[str, Callable[[], Check]]] = [
        ("digests", _check_digests),
        ("digests-streamed", _check_streamed),
        ("exact-index", _check_exact_index),
        ("pdq-canaries", _check_pdq_canaries),
    ]
    if check_store:
        steps.append(("hashlist-store", lambda: _check_store(Path(state_dir), passphrase)))
    checks = []
    for name, step in steps:
        try:
            checks.append(step())
        except Exception as exc:  # a crashing check is a failing check, with the reason
            checks.append(Check(name, False, f"check crashed: {type(exc).__name__}: {exc}"))
    return SelfTestReport(all(c.passed for c in checks), checks, backend, time.monotonic() - t0)


def _backend_name() -> str:
    try:
        from firmware.accel import probe

        b = probe()
        return f"{b.name} ({b.device})" if b.device else b.name
    except Exception as exc:
        return f"unknown ({type(exc).__name__})"


def _compare(label: str, got: dict[str, str | None], want: dict[str, str]) -> list[str]:
    return [f"{label} {alg} is {got.get(alg)} instead of {want[alg]}" for alg in want if got.get(alg) != want[alg]]


def _check_digests() -> Check:
    problems: list[str] = []
    for name, data, md5, sha1, sha256 in DIGEST_VECTORS:
        d = hash_bytes(data, DEFAULT_ALGORITHMS)
        problems += _compare(name, {a: d.hex(a) for a in DEFAULT_ALGORITHMS},
                             {"md5": md5, "sha1": sha1, "sha256": sha256})
    if problems:
        return Check("digests", False, "; ".join(problems))
    return Check("digests", True, f"MD5, SHA-1, SHA-256 of {len(DIGEST_VECTORS)} reference vectors")


class _NoReadinto:
    """A stream without readinto(): the other read path of hash_stream (archive members, SMB)."""

    def __init__(self, data: bytes) -> None:
        self._f = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)


def _check_streamed() -> Check:
    problems: list[str] = []
    name, data, md5, sha1, sha256 = DIGEST_VECTORS[2]
    want = {"md5": md5, "sha1": sha1, "sha256": sha256}
    for label, stream in (("readinto", io.BytesIO(data)), ("read", _NoReadinto(data))):  # type: ignore[arg-type]
        d = hash_stream(stream, DEFAULT_ALGORITHMS, bytearray(4093))  # odd chunk size: many partial blocks
        problems += _compare(f"{name} via {label}", {a: d.hex(a) for a in DEFAULT_ALGORITHMS}, want)
        if d.size != len(data):
            problems.append(f"{name} via {label}: read {d.size} bytes of {len(data)}")
    if problems:
        return Check("digests-streamed", False, "; ".join(problems))
    return Check("digests-streamed", True, "chunked reads (readinto and read) give the reference digests")


def _check_exact_index() -> Check:
    from appliance.hashlist.index import LoadedList, Matcher
    from appliance.hashlist.model import HashRecord, ListInfo

    records = []
    for name, _data, md5, sha1, sha256 in DIGEST_VECTORS:
        for alg, hexd in (("md5", md5), ("sha1", sha1), ("sha256", sha256)):
            records.append(HashRecord(alg, bytes.fromhex(hexd), label=name))
    matcher = Matcher([LoadedList.from_records(ListInfo("selftest"), records)])
    problems = []
    for name, data, *_ in DIGEST_VECTORS:
        found = matcher.match(hash_bytes(data, DEFAULT_ALGORITHMS).values)
        if sorted((m.algorithm, m.label) for m in found) != sorted((a, name) for a in DEFAULT_ALGORITHMS):
            problems.append(f"{name}: matched {len(found)} of 3 digests")
    if matcher.match(hash_bytes(b"not a canary").values):
        problems.append("a non-canary matched")
    if problems:
        return Check("exact-index", False, "; ".join(problems))
    return Check("exact-index", True, "canary digests found in an index, a non-canary not")


def _check_pdq_canaries() -> Check:
    problems: list[str] = []
    for c in CANARIES:
        d = hash_bytes(c.data, DEFAULT_ALGORITHMS)
        problems += _compare(c.name, {a: d.hex(a) for a in DEFAULT_ALGORITHMS},
                             {"md5": c.md5, "sha1": c.sha1, "sha256": c.sha256})
        if c.pdq is None:
            continue
        h = pdq_from_bytes(c.data)  # on the active backend (CuPy where present)
        if hash_to_hex(h.hash) != c.pdq.lower():
            problems.append(f"{c.name} PDQ is {hash_to_hex(h.hash)} instead of {c.pdq}")
        if c.pdq_quality is not None and h.quality != c.pdq_quality:
            problems.append(f"{c.name} PDQ quality is {h.quality} instead of {c.pdq_quality}")
    if problems:
        return Check("pdq-canaries", False, "; ".join(problems))
    return Check("pdq-canaries", True, f"{len(CANARIES)} canary images: digests and {len(PDQ_CANARIES)} PDQ "
                                       "hashes match their known values")


def _check_store(state_dir: Path, passphrase: str | None = None) -> Check:
    if not HashListStore(state_dir).metadata():
        return Check("hashlist-store", True, "no hash lists installed")
    try:
        store = HashListStore.open(state_dir, passphrase=passphrase)
    except StoreLocked as exc:
        return Check("hashlist-store", False, str(exc))
    lists, errors = store.load_active()
    if errors:
        return Check("hashlist-store", False, "; ".join(errors))
    entries = sum(lst.entry_count for lst in lists)
    return Check("hashlist-store", True, f"{len(lists)} list(s) decrypted and verified, {entries} exact entries")
