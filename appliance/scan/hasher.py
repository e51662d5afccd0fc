"""Hashing runs of walk entries: one read per file feeding every digest, the magic-byte sniff and any analyzer,
then one vectorised hash-list lookup per run.

A :class:`FileHasher` holds no scan state (no store, no events), so the same object runs in worker threads or,
copied by ``fork``, in worker processes (:mod:`appliance.scan.workers`). It never raises for a file: every
failure becomes a result with status ``error``.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from appliance.hashing.digests import CHUNK, DIGEST_KINDS, Digests
from appliance.hashing.filetype import SNIFF_BYTES, sniff
from appliance.hashlist.index import Match, Matcher
from firmware.media.source import Entry, EntryKind, MediaGone, Source

#: Files whose apparent size is at least this and that are mostly holes are skipped unless hash_sparse.
#: A 1 TB sparse file on hostile media would otherwise keep the scan busy for hours hashing zeros.
SPARSE_SKIP_MIN = 64 << 20
#: While hashing a file, the cancel flag is looked at once it has read this much (then every read).
CANCEL_CHECK_BYTES = 16 << 20
_NEW = {name: kind.new for name, kind in DIGEST_KINDS.items()}
_ONE_SHOT: dict[str, Callable[[Any], bytes]] = {
    "md5": lambda data: hashlib.md5(data, usedforsecurity=False).digest(),
    "sha1": lambda data: hashlib.sha1(data, usedforsecurity=False).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
}


def _one_shot(algorithm: str, data: Any) -> bytes:
    fast = _ONE_SHOT.get(algorithm)
    if fast is not None:
        return fast(data)
    h = _NEW[algorithm]()
    h.update(data)
    return h.digest()


class Analyzer(Protocol):
    """An extra per-file analysis fed from the same single read (e.g. PDQ for images).

    ``wants`` is asked with the sniffed type and size before the read; if it says yes, the whole file is read
    into memory (the analyzer must set a size bound) and ``analyze`` gets the bytes. It returns facts to store
    (``extra``) and any matches with their distance.
    """

    name: str

    def wants(self, file_type: str | None, size: int) -> bool: ...

    def analyze(self, data: bytes, file_type: str | None) -> tuple[dict[str, Any], list[tuple[Match, int]]]: ...


@dataclass(slots=True)
class FileResult:
    """What became of one entry. ``status``: hashed | known | skipped | error | prefiltered | aborted
    (aborted: cancelled mid-file, not recorded, hashed again on resume)."""

    status: str
    file_type: str | None = None
    digests: Digests | None = None
    extra: dict[str, Any] | None = None
    matches: list[tuple[Match, int | None]] = field(default_factory=list)
    error: str | None = None
    #: What the opened file's fstat said, for an entry the walk did not stat (``SIZE_UNKNOWN``); else None.
    stat: StatFacts | None = None


#: ``(size, mtime, flags)`` of an opened file, from its fstat.
StatFacts = tuple[int, float, frozenset[str]]


@dataclass(frozen=True, slots=True)
class HashPolicy:
    algorithms: tuple[str, ...]
    hash_sparse: bool = False
    max_file_size: int | None = None
    hash_all: bool = False


class FileHasher:
    """Turns entries into :class:`FileResult` s. Thread-safe: each thread gets its own read buffer."""

    def __init__(self, source: Source, matcher: Matcher, policy: HashPolicy, *,
                 analyzers: Sequence[Analyzer] = (), cancelled: Callable[[], bool] | None = None) -> None:
        self.source = source
        self.matcher = matcher
        self.policy = policy
        self.analyzers = list(analyzers)
        self.cancelled = cancelled or (lambda: False)
        self._local = threading.local()
        self._one_shots = tuple(_ONE_SHOT.get(a) or functools.partial(_one_shot, a) for a in policy.algorithms)

    def hash_run(self, entries: Sequence[Entry], *, byte_budget: int | None = None) -> list[FileResult]:
        """Hash a run of consecutive entries, then match them all in one lookup per list and algorithm.

        ``byte_budget``: stop once the files hashed hold more than this many bytes, returning results for the
        entries done only (the caller hands out the rest again): a run whose sizes were not known when it was
        made (``SIZE_UNKNOWN``) cannot keep one worker busy with many large files while the others idle."""
        if byte_budget is None:
            results = [self.hash_entry(e) for e in entries]
        else:
            results = []
            total = 0
            for e in entries:
                r = self.hash_entry(e)
                results.append(r)
                total += r.digests.size if r.digests is not None else 0
                if total > byte_budget:
                    break
        _match_batch(self.matcher, [r for r in results if r.digests is not None and r.extra is None])
        for r in results:
            if r.matches and any(m.list.kind == "ignore" for m, _ in r.matches):
                r.status = "known"
        return results

    def hash_entry(self, entry: Entry) -> FileResult:
        if entry.error is not None:
            return FileResult("error", error=entry.error)
        if entry.kind is not EntryKind.FILE:
            return FileResult("skipped", error=f"{entry.kind.value}: not opened")
        if self.cancelled():
            return FileResult("aborted")
        stream = None
        facts = None
        size, flags = entry.size, entry.flags
        try:
            if size < 0:  # the walk did not stat it: the open file's fstat tells size, mtime, holes
                stream = self.source.open(entry)
                facts = _stat_facts(stream, flags)
                size, _, flags = facts
            result = self._policy(entry, size, flags, stream)
            if result is None:
                if stream is None:
                    stream = self.source.open(entry)
                result = self._hash(stream, size)
        except MediaGone:  # not this file's fault: the whole medium is gone, the job ends the scan
            raise
        except OSError as exc:
            result = FileResult("error", error=oserror_text(exc))
            st = getattr(exc, "stat", None)  # an unstat'ed file that would not open: what an lstat said
            if facts is None and st is not None:
                facts = (st.st_size, st.st_mtime, flags)
        except Exception as exc:  # a reader bug on one hostile file must not end the scan
            result = FileResult("error", error=f"{type(exc).__name__}: {exc}")
        finally:
            if stream is not None:
                stream.close()
        result.stat = facts
        return result

    def _policy(self, entry: Entry, size: int, flags: frozenset[str], stream: Any = None) -> FileResult | None:
        """Why this file is not hashed (sparse, too large, no listed digest has its size), or None. ``stream``:
        the file, where it is already open (for its fstat)."""
        p = self.policy
        if "sparse" in flags and size >= SPARSE_SKIP_MIN and not p.hash_sparse:
            return FileResult("skipped", error="sparse file: skipped by policy (--hash-sparse hashes it)")
        if p.max_file_size is not None and size > p.max_file_size:
            return FileResult("skipped", error=f"larger than --max-file-size ({p.max_file_size} bytes)")
        # No listed digest has this size: only an analyzer (PDQ for images) may still need the file, and
        # a look at its first bytes decides, instead of hashing every file whenever PDQ lists exist.
        if (not p.hash_all and not self.matcher.needs_hashing(size)
                and not self._analyzer_wants(entry, size, stream)):
            return FileResult("prefiltered")
        return None

    def _analyzer_wants(self, entry: Entry, size: int, stream: Any = None) -> bool:
        """Does an analyzer want this file, by its sniffed type? Without analyzers the file is not even opened.
        A file already open (and seekable) is peeked at and rewound, not opened a second time."""
        if not self.analyzers:
            return False
        if stream is not None and stream.seekable():
            head = stream.read(SNIFF_BYTES)
            stream.seek(0)
        else:
            with self.source.open(entry) as fresh:
                head = fresh.read(SNIFF_BYTES)
        file_type = sniff(head)
        return any(a.wants(file_type, size) for a in self.analyzers)

    def _hash(self, stream: Any, size: int) -> FileResult:
        """Digests (and any analyzer) of ``stream`` read to its end once; ``size``: what the walk or fstat said."""
        view = getattr(self._local, "view", None)
        if view is None:
            view = self._local.view = memoryview(bytearray(CHUNK))
        algorithms = self.policy.algorithms
        n = stream.readinto(view)
        file_type = sniff(view[: min(n, SNIFF_BYTES)].tobytes())
        analyzer = None
        if self.analyzers:
            analyzer = next((a for a in self.analyzers if a.wants(file_type, size)), None)
        if analyzer is None and 0 < n < CHUNK:
            # n == size: the whole file (as its stat said) came in one read; no second read to see EOF. A file
            # that grew after the stat gives n > size, a short read n < size: both go on reading to EOF.
            more = 0 if n == size else stream.readinto(view[n:])
            if not more:
                # The whole file fit in one read (most files on real media): one call per digest, no loop.
                chunk = view[:n]
                values = dict(zip(algorithms, [f(chunk) for f in self._one_shots], strict=True))
                return FileResult("hashed", file_type, Digests(values, n))
            n += more  # a short read, or the file grew: go on with the general loop
        hashers = [_NEW[a]() for a in algorithms]
        whole = bytearray() if analyzer is not None else None
        total = 0
        while n:
            chunk = view[:n]
            for h in hashers:
                h.update(chunk)
            if whole is not None:
                whole += chunk
            total += n
            if total >= CANCEL_CHECK_BYTES and self.cancelled():
                return FileResult("aborted")
            n = stream.readinto(view)
        digests = Digests({a: h.digest() for a, h in zip(algorithms, hashers, strict=True)}, total)
        result = FileResult("hashed", file_type=file_type, digests=digests)
        if analyzer is not None and whole is not None:
            result.matches = [(m, None) for m in self.matcher.match(digests.values)]
            result.extra = {}
            if not any(m.list.kind == "ignore" for m, _ in result.matches):
                try:
                    extra, found = analyzer.analyze(bytes(whole), file_type)
                except Exception as exc:  # a hostile image must not end the scan
                    extra, found = {f"{analyzer.name}_error": f"{type(exc).__name__}: {exc}"}, []
                result.extra = extra
                result.matches.extend((m, d) for m, d in found)
        return result


def _match_batch(matcher: Matcher, results: list[FileResult]) -> None:
    """Look up every digest of ``results`` with one sorted-array search per list and algorithm."""
    if not results:
        return
    for lst in matcher.lists:
        for alg, index in lst.indexes.items():
            rows = [r for r in results if alg in r.digests.values]  # type: ignore[union-attr]
            if not rows:
                continue
            values = [r.digests.values[alg] for r in rows]  # type: ignore[union-attr]
            found = index.lookup(np.array(values, dtype=f"S{index.width}"))
            for i in np.flatnonzero(found >= 0).tolist():
                if not lst.is_suppressed(alg, values[i]):  # an admin marked it a false positive (allow-list)
                    rows[i].matches.append((Match(lst.info, alg, values[i], lst.labels[int(found[i])]), None))


_SPARSE = frozenset({"sparse"})


def _stat_facts(stream: Any, flags: frozenset[str]) -> StatFacts:
    st = getattr(stream, "stat", None)
    if st is None:
        raise OSError(errno.EINVAL, "the source gave neither the size nor a stat of this file")
    size = st.st_size
    if size > 0 and st.st_blocks * 512 < size // 2:  # mostly holes: recorded 'sparse', skipped unless asked
        flags = flags | _SPARSE
    return size, st.st_mtime, flags


def oserror_text(exc: OSError) -> str:
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return f"{name}: {exc.strerror or exc}"
