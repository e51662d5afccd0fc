"""Where hashing runs: worker processes when the source allows it, else worker threads.

hashlib releases the GIL only inside large updates, so a tree of small files hashed by threads spends most of
its time queueing for the GIL (per-file Python work: open, sniff, digests). Forked worker processes each have
their own interpreter and keep every core busy. A source opts in with ``fork_safe = True`` (it holds no
connection or handle that a forked copy would share); any analyzer (PDQ may drive a GPU, which does not
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
from firmware.media.source import Entry

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

    def __init__(self, hasher: FileHasher, workers: int, *, processes: bool) -> None:
        self.processes = processes
        self._hasher = hasher
        self._executor: Executor
        if processes:
            self._executor = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"),
                                                 initializer=_child_init, initargs=(hasher, os.getpid()))
        else:
            self._executor = ThreadPoolExecutor(workers, thread_name_prefix="gapscan-hash")

    def submit(self, entries: list[Entry]) -> Future[list[FileResult]]:
        if self.processes:
            return self._executor.submit(_child_hash_run, entries)
        return self._executor.submit(self._hasher.hash_run, entries)

    def __enter__(self) -> HashPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


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


def _child_hash_run(entries: list[Entry]) -> list[FileResult]:
    assert _CHILD_HASHER is not None
    return _CHILD_HASHER.hash_run(entries)
