"""Where hashing runs: worker processes when the source allows it, else worker threads.

hashlib releases the GIL only inside large updates, so a tree of small files hashed by threads spends most of
its time queueing for the GIL (per-file Python work: open, sniff, digests). Forked worker processes each have
their own interpreter and keep every core busy. A source opts in with ``fork_safe = True`` (it holds no
connection or handle that a forked copy would share); a source whose entries are not all openable in a forked
copy (archive members hold the open archive) says which are with ``forkable(entry)``, and the others are hashed
by a thread of the scan process; any analyzer (PDQ may drive a GPU, which does not
survive ``fork``) keeps the scan on threads.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

from appliance.scan.hasher import FileHasher, FileResult
from firmware.media.source import Entry, EntryKind

_CHILD_HASHER: FileHasher | None = None


def default_workers() -> int:
    """One per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class CancelFlag:
    """A flag the scan sets (from a signal handler too) and every worker, thread or forked process, reads for
    the price of a memory load: one byte of shared memory, inherited by ``fork``, no lock."""

    def __init__(self, shared: bool) -> None:
        self._flag: Any = multiprocessing.RawValue(ctypes.c_bool, False) if shared else _Flag()

    def set(self) -> None:
        self._flag.value = True

    def is_set(self) -> bool:
        return bool(self._flag.value)


class _Flag:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = False


def use_processes(source: object, workers: int, analyzers: Sequence[object]) -> bool:
    return (workers > 1 and not analyzers and bool(getattr(source, "fork_safe", False))
            and "fork" in multiprocessing.get_all_start_methods())


class HashPool:
    """Runs :meth:`FileHasher.hash_run` on runs of entries, in threads or forked processes."""

    def __init__(self, hasher: FileHasher, workers: int, *, processes: bool, run_bytes: int | None = None) -> None:
        """``run_bytes``: a worker process stops a run once it has hashed more than this many bytes and returns
        the results of the entries done; the caller resubmits the rest (:meth:`FileHasher.hash_run`)."""
        self.processes = processes
        self._run_bytes = run_bytes
        self._hasher = hasher
        self._executor: Executor
        self._threads: ThreadPoolExecutor | None = None  # with processes: for entries no fork may open
        self._workers = workers
        if processes:
            self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                                 initializer=_child_init, initargs=(hasher, os.getpid()))
        else:
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="gapscan-hash")

    def submit(self, entries: list[Entry], *, in_process: bool = False) -> Future[list[ResultRow]]:
        """Hash ``entries`` into result rows (:func:`pack_results`), one per entry or, in a worker process,
        fewer (see ``run_bytes``); ``in_process``: in a thread of this process even when the pool forks
        workers."""
        if not self.processes:
            return self._executor.submit(_hash_run_rows, self._hasher, entries)
        if in_process:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self._workers, thread_name_prefix="gapscan-hash")
            return self._threads.submit(_hash_run_rows, self._hasher, entries)
        return self._executor.submit(_child_hash_run, pack_entries(entries), self._run_bytes)

    def __enter__(self) -> HashPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)


def _child_init(hasher: FileHasher, scan_pid: int) -> None:
    """In each worker process: the scan process alone handles Ctrl-C/SIGTERM (it checkpoints and sets the cancel
    flag); a worker must die with its scan, even one killed with SIGKILL mid-file."""
    global _CHILD_HASHER
    _CHILD_HASHER = hasher
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != scan_pid:  # the scan died before prctl took effect
            os._exit(1)
    except (OSError, AttributeError):
        pass


def _child_hash_run(packed: tuple[Any, list[tuple[Any, ...]]], byte_budget: int | None) -> list[ResultRow]:
    assert _CHILD_HASHER is not None
    return _hash_run_rows(_CHILD_HASHER, unpack_entries(packed), byte_budget)


def _hash_run_rows(hasher: FileHasher, entries: list[Entry], byte_budget: int | None = None) -> list[ResultRow]:
    return pack_results(hasher.hash_run(entries, byte_budget=byte_budget), hasher.matcher.lists)


# -- what crosses the process boundary --------------------------------------------------------------
# Pickling dataclasses and enums costs tens of microseconds per file, more than hashing a small file; plain
# tuples of bytes, ints and strings cost well under one.

_KINDS = {k.value: k for k in EntryKind}
_NO_FLAGS: frozenset[str] = frozenset()


def pack_entries(entries: Sequence[Entry]) -> tuple[Any, list[tuple[Any, ...]]]:
    ref_type = next((type(e.ref) for e in entries if isinstance(e.ref, tuple) and hasattr(e.ref, "_fields")),
                    None)
    rows = []
    for e in entries:
        ref = e.ref
        if ref_type is not None and type(ref) is ref_type:
            ref = ("t", tuple(ref))
        elif ref is not None:
            ref = ("o", ref)
        rows.append((e.path, e.kind._value_, e.size, e.mtime, tuple(e.flags) if e.flags else None, e.error, ref))
    return ref_type, rows


def unpack_entries(packed: tuple[Any, list[tuple[Any, ...]]]) -> list[Entry]:
    ref_type, rows = packed
    out = []
    for path, kind, size, mtime, flags, error, ref in rows:
        if ref is not None:
            ref = ref_type(*ref[1]) if ref[0] == "t" else ref[1]
        out.append(Entry(path, _KINDS[kind], size, mtime, frozenset(flags) if flags else _NO_FLAGS, error, ref))
    return out


#: One file's result as the scan job records it: ``(status, file_type, size, mtime, flags, md5, sha1, sha256,
#: extra, matches, error)``. ``size``: the bytes the digests cover, else what the open file's fstat said, else
#: None (the entry's); ``mtime``/``flags`` (comma-joined): from the fstat when the walk did not stat the file,
#: else None (the entry's); ``matches``: ``(list index, algorithm, digest, label, distance)`` or None.
ResultRow = tuple[Any, ...]


def pack_results(results: Sequence[FileResult], lists: Sequence[Any]) -> list[ResultRow]:
    index = {id(lst.info): i for i, lst in enumerate(lists)}
    rows = []
    for r in results:
        facts = r.stat
        if facts is not None:
            size, mtime, fset = facts
            flags = ",".join(sorted(fset)) if fset else ""
        else:
            size = mtime = flags = None
        d = r.digests
        if d is not None:
            v = d.values
            size = d.size
            md5, sha1, sha256 = v.get("md5"), v.get("sha1"), v.get("sha256")
        else:
            md5 = sha1 = sha256 = None
        matches = [(index[id(m.list)], m.algorithm, m.digest, m.label, dist) for m, dist in r.matches] \
            if r.matches else None
        rows.append((r.status, r.file_type, size, mtime, flags, md5, sha1, sha256, r.extra, matches, r.error))
    return rows
