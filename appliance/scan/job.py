"""One scan: walk a Source, hash every file once with every digest, match, record in batches, emit events.

Concurrency: the walk runs in the calling thread; files are hashed by a thread pool (hashlib releases the
GIL, so this uses every core); results are collected in walk order through a bounded window, so memory is
bounded whatever the tree size and the store receives files in a deterministic order (resume relies on it).

Interruption: ``cancel()`` (or SIGINT/SIGTERM turned into it by the caller) stops the walk; what was hashed is
flushed and the scan is marked ``interrupted``. A ``kill -9`` leaves the scan ``running`` with whole batches
recorded; ``resume`` finishes either.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Protocol

from appliance.hashing.digests import CHUNK, DEFAULT_ALGORITHMS, DIGEST_KINDS, Digests
from appliance.hashing.filetype import SNIFF_BYTES, sniff
from appliance.hashlist.index import Match, Matcher
from appliance.results.store import FileRow, HitRow, ResultStore
from appliance.scan.records import Hit, ScanCounts, ScanEvent
from firmware.media.source import Entry, EntryKind, MediaGone, Source

#: Files whose apparent size is at least this and that are mostly holes are skipped unless hash_sparse.
SPARSE_SKIP_MIN = 64 << 20
BATCH_FILES = 500
BATCH_SECONDS = 0.5


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Everything that decides a scan's results; stored with the scan so ``--resume`` repeats it exactly."""

    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    workers: int = field(default_factory=lambda: max(2, (os.cpu_count() or 2) * 2))
    hash_sparse: bool = False
    max_file_size: int | None = None  # None: no limit
    hash_all: bool = False  # True: no size pre-filter, every file gets every digest

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["algorithms"] = list(self.algorithms)
        return d

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ScanOptions:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "algorithms" in known:
            known["algorithms"] = tuple(known["algorithms"])
        return cls(**known)


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
class _Result:
    entry: Entry
    status: str
    file_type: str | None = None
    digests: Digests | None = None
    extra: dict[str, Any] | None = None
    matches: list[tuple[Match, int | None]] = field(default_factory=list)
    error: str | None = None


EventSink = Callable[[ScanEvent], None]


class ScanJob:
    """Runs (or resumes) one scan into a :class:`ResultStore`."""

    def __init__(self, source: Source, matcher: Matcher, store: ResultStore, options: ScanOptions,
                 *, analyzers: Sequence[Analyzer] = (), on_event: EventSink | None = None) -> None:
        self.source = source
        self.matcher = matcher
        self.store = store
        self.options = options
        self.analyzers = list(analyzers)
        self.on_event = on_event or (lambda _e: None)
        self._cancel = threading.Event()
        self._local = threading.local()
        self.scan_id: str | None = None

    def cancel(self) -> None:
        """Ask the scan to stop soon; what is done is kept and the scan is marked interrupted."""
        self._cancel.set()

    # -- public entry points ---------------------------------------------------------------------
    def start(self, context: dict[str, Any] | None = None) -> ScanCounts:
        """Create and run a new scan. ``context`` is stored with the options: whatever the caller needs to
        rebuild the same matcher on ``--resume`` (e.g. the hash-list files named)."""
        lists = [asdict(lst.info) for lst in self.matcher.lists]
        self.scan_id = self.store.create_scan(self.source.name, self.source.describe(),
                                              {**self.options.to_json(), **(context or {})}, lists)
        return self._run(previous_seconds=0.0, resuming=False)

    def resume(self, scan_id: str) -> ScanCounts:
        row = self.store.get_scan(scan_id)
        if row is None:
            raise KeyError(scan_id)
        self.scan_id = scan_id
        self.store.set_status(scan_id, "running")
        return self._run(previous_seconds=row.seconds, resuming=True)

    # -- the pipeline ----------------------------------------------------------------------------
    def _run(self, *, previous_seconds: float, resuming: bool) -> ScanCounts:
        assert self.scan_id is not None
        scan_id = self.scan_id
        t0 = time.monotonic()
        counts = self.store.counts(scan_id) if resuming else {}
        state = _Progress(ScanCounts(**{k: counts.get(k, 0) for k in ScanCounts.__dataclass_fields__}))
        self.on_event(ScanEvent("start", scan_id, state.counts, previous_seconds))
        seq = self.store.next_seq(scan_id)
        pending: deque[Future[_Result]] = deque()
        batch: list[_Result] = []
        last_flush = time.monotonic()
        window = max(4, self.options.workers * 4)
        status = "finished"
        media_gone = threading.Event()

        def flush() -> None:
            nonlocal seq, batch, last_flush
            if not batch:
                return
            self._record(scan_id, seq, batch, state)
            seq += len(batch)
            batch = []
            last_flush = time.monotonic()
            self.on_event(ScanEvent("progress", scan_id, state.counts,
                                    previous_seconds + time.monotonic() - t0, current=state.current))

        def collect(fut: Future[_Result]) -> None:
            try:
                result = fut.result()
            except MediaGone:  # the medium vanished under this read: record nothing for it, stop the walk
                media_gone.set()
                return
            batch.append(result)
            if len(batch) >= BATCH_FILES or time.monotonic() - last_flush >= BATCH_SECONDS:
                flush()

        try:
            with ThreadPoolExecutor(self.options.workers, thread_name_prefix="gapscan-hash") as pool:
                try:
                    for entry in self.source.walk():
                        if self._cancel.is_set() or media_gone.is_set():
                            status = "interrupted"
                            break
                        if entry.kind is EntryKind.DIR and entry.error is None:
                            continue
                        if resuming and self.store.has_file(scan_id, entry.path):
                            continue
                        state.current = entry.path
                        pending.append(pool.submit(self._process, entry))
                        while len(pending) >= window or (pending and pending[0].done()):
                            collect(pending.popleft())
                    while pending:
                        collect(pending.popleft())
                except (KeyboardInterrupt, MediaGone):  # MediaGone: device removed mid-scan, results kept
                    status = "interrupted"
                    self._cancel.set()
                    while pending:  # keep what was already being hashed
                        collect(pending.popleft())
                flush()
            if media_gone.is_set():
                status = "interrupted"
        except BaseException:
            seconds = previous_seconds + time.monotonic() - t0
            self.store.set_status(scan_id, "failed", seconds=seconds, finished=True)
            raise
        seconds = previous_seconds + time.monotonic() - t0
        self.store.set_status(scan_id, status, seconds=seconds, finished=status == "finished")
        self.on_event(ScanEvent("end", scan_id, state.counts, seconds, status=status))
        return state.counts

    def _process(self, entry: Entry) -> _Result:
        """Runs in a worker thread. Never raises: every failure becomes a recorded error."""
        if entry.error is not None:
            return _Result(entry, "error", error=entry.error)
        if entry.kind is not EntryKind.FILE:
            return _Result(entry, "skipped", error=f"{entry.kind.value}: not opened")
        opts = self.options
        if "sparse" in entry.flags and entry.size >= SPARSE_SKIP_MIN and not opts.hash_sparse:
            return _Result(entry, "skipped", error="sparse file: skipped by policy (--hash-sparse hashes it)")
        if opts.max_file_size is not None and entry.size > opts.max_file_size:
            return _Result(entry, "skipped", error=f"larger than --max-file-size ({opts.max_file_size} bytes)")
        if not opts.hash_all and not self.matcher.needs_hashing(entry.size) and not self.analyzers:
            return _Result(entry, "prefiltered")
        try:
            with self.source.open(entry) as stream:
                return self._hash(entry, stream)
        except OSError as exc:
            return _Result(entry, "error", error=_oserror_text(exc))

    def _hash(self, entry: Entry, stream: Any) -> _Result:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = bytearray(CHUNK)
        algorithms = self.options.algorithms
        hashers = [DIGEST_KINDS[a].new() for a in algorithms]
        view = memoryview(buf)
        n = stream.readinto(view)
        head = bytes(view[: min(n, SNIFF_BYTES)])
        file_type = sniff(head)
        analyzer = next((a for a in self.analyzers if a.wants(file_type, entry.size)), None)
        whole = bytearray() if analyzer is not None else None
        total = 0
        while n:
            chunk = view[:n]
            for h in hashers:
                h.update(chunk)
            if whole is not None:
                whole += chunk
            total += n
            n = stream.readinto(view)
        digests = Digests({a: h.digest() for a, h in zip(algorithms, hashers, strict=True)}, total)
        result = _Result(entry, "hashed", file_type=file_type, digests=digests)
        result.matches = [(m, None) for m in self.matcher.match(digests.values)]
        if analyzer is not None and whole is not None and not any(
                m.list.kind == "ignore" for m, _ in result.matches):
            try:
                extra, found = analyzer.analyze(bytes(whole), file_type)
            except Exception as exc:  # a hostile image must not end the scan
                extra, found = {f"{analyzer.name}_error": f"{type(exc).__name__}: {exc}"}, []
            result.extra = extra
            result.matches.extend((m, d) for m, d in found)
        if any(m.list.kind == "ignore" for m, _ in result.matches):
            result.status = "known"
        return result

    def _record(self, scan_id: str, first_seq: int, batch: list[_Result], state: _Progress) -> None:
        files: list[FileRow] = []
        hits: list[HitRow] = []
        new_hits: list[Hit] = []
        c = state.counts
        files_n, bytes_n, hits_n, errors_n, skipped_n, known_n, pre_n = (
            c.files, c.bytes, c.hits, c.errors, c.skipped, c.known, c.prefiltered)
        for r in batch:
            e = r.entry
            d = r.digests.values if r.digests else {}
            files.append(FileRow(e.path, e.kind.value, e.size, e.mtime, r.file_type, d.get("md5"), d.get("sha1"),
                                 d.get("sha256"), r.extra, r.status, ",".join(sorted(e.flags)), r.error))
            if e.kind is not EntryKind.DIR:
                files_n += 1
            if r.status in ("hashed", "known"):
                bytes_n += r.digests.size if r.digests else 0
            errors_n += r.status == "error"
            skipped_n += r.status == "skipped"
            known_n += r.status == "known"
            pre_n += r.status == "prefiltered"
            alert = [(m, dist) for m, dist in r.matches if m.list.kind == "alert"]
            for m, dist in alert:
                hits.append(HitRow(e.path, m.algorithm, m.digest, m.list.name, m.list.version, m.label, dist))
                new_hits.append(Hit(e.path, e.size, dict(d), m.algorithm, m.list.name, m.list.version, m.label,
                                    dist, e.flags))
            hits_n += bool(alert)
        self.store.record_batch(scan_id, first_seq, files, hits)
        state.counts = replace(c, files=files_n, bytes=bytes_n, hits=hits_n, errors=errors_n,
                               skipped=skipped_n, known=known_n, prefiltered=pre_n)
        for hit in new_hits:
            self.on_event(ScanEvent("hit", scan_id, state.counts, 0.0, current=hit.path, hit=hit))


@dataclass(slots=True)
class _Progress:
    counts: ScanCounts
    current: bytes | None = None


def _oserror_text(exc: OSError) -> str:
    import errno

    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return f"{name}: {exc.strerror or exc}"
