"""One scan: walk a Source, hash every file once with every digest, match, record in batches, emit events.

Concurrency: the walk runs in the calling thread and hands runs of consecutive entries to a pool of workers
(forked processes for local directories, threads otherwise: :mod:`appliance.scan.workers`). Results are
collected in walk order through a bounded window, so memory is bounded whatever the tree size (the walk
streams; nothing builds the whole file list) and the store receives files in a deterministic order.
A local directory is walked without a stat per file (the worker's fstat of the open file gives size and mtime),
so a run is sized by the mean size of the files hashed last, and a worker that has hashed RUN_BYTES of a run
hands the rest back to be spread over the workers (few large files keep every core busy).

Interruption: ``cancel()`` (SIGINT/SIGTERM are turned into it by the CLI) stops the walk and any file being
hashed; what was hashed is flushed and the scan is marked ``interrupted``. A ``kill -9`` leaves the scan
``running`` with whole batches recorded (one SQLite transaction each); ``resume`` finishes either, skipping
every path already recorded.
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, wait
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from appliance.hashing.digests import DEFAULT_ALGORITHMS
from appliance.hashlist.index import Matcher
from appliance.results.store import ResultStore
from appliance.scan.hasher import SPARSE_SKIP_MIN, Analyzer, FileHasher, HashPolicy
from appliance.scan.records import Hit, ScanCounts, ScanEvent
from appliance.scan.workers import CancelFlag, HashPool, ResultRow, default_workers, use_processes
from firmware.media.source import Entry, EntryKind, MediaGone, Source

__all__ = ["SPARSE_SKIP_MIN", "Analyzer", "ScanJob", "ScanOptions"]

#: Results are written in one transaction per batch: this many files, or whatever is done after this long.
BATCH_FILES = 500
BATCH_SECONDS = 0.5
#: A worker process gets runs of consecutive entries, up to this many or this many bytes, so a tree of small
#: files costs one hand-over per run rather than per file; a large file is a run of its own. Worker threads
#: (removable media, shares) get one entry at a time: a pulled drive then loses no walked-but-unhashed run.
RUN_FILES = 128
RUN_BYTES = 4 << 20


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """Everything that decides a scan's results; stored with the scan so ``--resume`` repeats it exactly."""

    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    workers: int = field(default_factory=default_workers)
    hash_sparse: bool = False
    max_file_size: int | None = None  # None: no limit
    hash_all: bool = False  # True: no size pre-filter, every file gets every digest
    pdq: bool = False  # True: perceptual hashes of every image/video even when no list holds PDQ entries

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

    @property
    def policy(self) -> HashPolicy:
        return HashPolicy(self.algorithms, self.hash_sparse, self.max_file_size, self.hash_all)


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
        self._processes = use_processes(source, options.workers, self.analyzers)
        self._cancel = CancelFlag(shared=self._processes)
        self.scan_id: str | None = None

    def cancel(self) -> None:
        """Ask the scan to stop soon; what is done is kept and the scan is marked interrupted.
        Safe to call from a signal handler."""
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
        self.store.update_extra(scan_id, pid=os.getpid())  # so a second --resume can tell it is still running
        self.on_event(ScanEvent("start", scan_id, state.counts, previous_seconds))
        seq = self.store.next_seq(scan_id)
        pending: deque[tuple[list[Entry], Future[list[ResultRow]]]] = deque()
        batch: list[tuple[Entry, ResultRow]] = []
        last_flush = time.monotonic()
        # Runs in flight: enough to ride out a descheduled parent (1,024 files with 2 workers, as 16 runs of 64).
        window = max(4, self.options.workers * 4)
        run: list[Entry] = []
        run_files = RUN_FILES if self._processes else 1
        run_bytes = 0
        # A file the walk did not stat (SIZE_UNKNOWN) counts as the mean size of the files hashed last: at first
        # RUN_BYTES (each its own run, so a few large files spread over every worker), soon the tree's own mean
        # (a tree of small files gets full runs after the first few results).
        guess = RUN_BYTES
        # With worker processes, entries a forked copy of the source cannot open go to a thread of this process.
        forkable = getattr(self.source, "forkable", None) if self._processes else None
        hasher = FileHasher(self.source, self.matcher, self.options.policy, analyzers=self.analyzers,
                            cancelled=self._cancel.is_set)
        defer = getattr(self.source, "defer_file_stat", None)
        if defer is not None:  # a local directory: the hashing worker's fstat of the open file tells size/mtime
            defer()

        def flush() -> None:
            nonlocal seq, batch, last_flush
            last_flush = time.monotonic()
            if not batch:
                return
            self._record(scan_id, seq, batch, state)
            seq += len(batch)
            batch = []
            self.on_event(ScanEvent("progress", scan_id, state.counts,
                                    previous_seconds + time.monotonic() - t0, current=state.current))

        def collect() -> None:
            nonlocal guess
            entries, fut = pending.popleft()
            # Never sit on finished results while a slow file is hashed: flush on time even while waiting.
            while not fut.done():
                left = BATCH_SECONDS - (time.monotonic() - last_flush)
                if left <= 0:
                    flush()
                    left = BATCH_SECONDS
                wait((fut,), timeout=left)
            try:
                results = fut.result()
            except MediaGone as exc:  # the medium vanished under this run: record none of it, end interrupted
                note = getattr(self.source, "note_gone", None)
                if note is not None:  # raised in a forked worker, whose copy of the source noted it
                    note(exc)
                self._cancel.set()
                return
            if len(results) < len(entries):  # the worker stopped at RUN_BYTES: the rest, one file a run, next
                for entry in reversed(entries[len(results):]):
                    pending.appendleft(([entry], pool.submit([entry])))
                entries = entries[: len(results)]
            batch.extend(done for done in zip(entries, results, strict=True) if done[1][0] != "aborted")
            sizes = [row[2] for row in results if row[2] is not None]
            if sizes:
                guess = (guess + sum(sizes) // len(sizes)) // 2
            if len(batch) >= BATCH_FILES or time.monotonic() - last_flush >= BATCH_SECONDS:
                flush()

        try:
            with HashPool(hasher, self.options.workers, processes=self._processes, run_bytes=RUN_BYTES) as pool:
                try:
                    for entry in self.source.walk():
                        if self._cancel.is_set():
                            break
                        if entry.kind is EntryKind.DIR and entry.error is None:
                            continue
                        if resuming and self.store.has_file(scan_id, entry.path):
                            continue
                        state.current = entry.path
                        if forkable is not None and not forkable(entry):  # e.g. an archive member
                            if run:
                                pending.append((run, pool.submit(run)))
                                run, run_bytes = [], 0
                            pending.append(([entry], pool.submit([entry], in_process=True)))
                            while len(pending) >= window or (pending and pending[0][1].done()):
                                collect()
                            continue
                        run.append(entry)
                        run_bytes += entry.size if entry.size >= 0 else guess
                        if len(run) >= run_files or run_bytes >= RUN_BYTES:
                            pending.append((run, pool.submit(run)))
                            run, run_bytes = [], 0
                            while len(pending) >= window or (pending and pending[0][1].done()):
                                collect()
                    if run:
                        pending.append((run, pool.submit(run)))
                    while pending:
                        collect()
                except (KeyboardInterrupt, MediaGone):  # Ctrl-C not turned into cancel(), or the device was
                    self._cancel.set()                  # removed mid-walk: keep what is done, end interrupted
                    while pending:  # keep what was already hashed
                        collect()
                flush()
        except BaseException:
            seconds = previous_seconds + time.monotonic() - t0
            self.store.set_status(scan_id, "failed", seconds=seconds, finished=True)
            raise
        status = "interrupted" if self._cancel.is_set() else "finished"
        seconds = previous_seconds + time.monotonic() - t0
        self.store.set_status(scan_id, status, seconds=seconds, finished=status == "finished")
        self.on_event(ScanEvent("end", scan_id, state.counts, seconds, status=status))
        return state.counts

    def _record(self, scan_id: str, first_seq: int, batch: list[tuple[Entry, ResultRow]], state: _Progress) -> None:
        """Counts, store rows and hit events of a batch, from the workers' flat result rows (no per-file objects:
        on a tree of small files this loop and the insert are most of the scan process's work)."""
        rows: list[tuple[Any, ...]] = []
        hits: list[tuple[Any, ...]] = []
        new_hits: list[Hit] = []
        lists = self.matcher.lists
        c = state.counts
        files_n, bytes_n, hits_n, errors_n, skipped_n, known_n, pre_n = (
            c.files, c.bytes, c.hits, c.errors, c.skipped, c.known, c.prefiltered)
        seq = first_seq
        for e, (status, file_type, size, mtime, flags, md5, sha1, sha256, extra, matches, error) in batch:
            if size is None:
                size = e.size if e.size >= 0 else 0  # never opened (error, skipped): what the walk saw
            if mtime is None:
                mtime = e.mtime
            if flags is None:
                flags = ",".join(sorted(e.flags)) if e.flags else ""
            kind = e.kind._value_
            path = bytearray(e.path)  # bound without sqlite3's adapter (ResultStore.record_rows)
            rows.append((scan_id, seq, path, kind, size, mtime, file_type,
                         None if md5 is None else bytearray(md5), None if sha1 is None else bytearray(sha1),
                         None if sha256 is None else bytearray(sha256),
                         json.dumps(extra) if extra else None, status, flags, error))
            seq += 1
            if kind != "dir":
                files_n += 1
                if status == "hashed" or status == "known":
                    bytes_n += size
            if status != "hashed":
                errors_n += status == "error"
                skipped_n += status == "skipped"
                known_n += status == "known"
                pre_n += status == "prefiltered"
            if not matches:
                continue
            alert = False
            for i, alg, digest, label, dist in matches:
                info = lists[i].info
                if info.kind != "alert":
                    continue
                alert = True
                hits.append((scan_id, path, alg, digest, info.name, info.version, label, dist))
                digests = {a: v for a, v in (("md5", md5), ("sha1", sha1), ("sha256", sha256)) if v is not None}
                new_hits.append(Hit(e.path, size, digests, alg, info.name, info.version, label, dist,
                                    frozenset(flags.split(",")) if flags else frozenset()))
            hits_n += alert
        self.store.record_rows(rows, hits)
        state.counts = replace(c, files=files_n, bytes=bytes_n, hits=hits_n, errors=errors_n,
                               skipped=skipped_n, known=known_n, prefiltered=pre_n)
        for hit in new_hits:
            self.on_event(ScanEvent("hit", scan_id, state.counts, 0.0, current=hit.path, hit=hit))


@dataclass(slots=True)
class _Progress:
    counts: ScanCounts
    current: bytes | None = None
