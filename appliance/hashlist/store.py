"""The encrypted hash-list store in ``state_dir/hashlists`` (keys in ``state_dir/keys``).

Per list: ``<name>.meta.json`` (plaintext metadata, no entries: readable while locked) and
``<name>.v<version>.hl`` (the entries, sealed by :mod:`appliance.hashlist.sealed` under a fresh data key wrapped
by the store's KEK from :mod:`firmware.keystore`).

Plaintext never touches disk: an import streams records into in-memory arrays (:mod:`builder`), which are
encrypted chunk by chunk straight into the new file; nothing is written to temp files, logs or the audit log
but counts. A load decrypts into memory only.

Atomic replace: the new version's sealed file is written under a new name (temp, fsync, rename, fsync dir),
then the metadata is switched to it the same way, then the old file is removed. A crash at any point leaves
the old version in force (an orphan file is swept by the next import). Removal deletes the metadata first.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from appliance.errors import GapscanError
from appliance.hashlist import serial
from appliance.hashlist.builder import ListArrays, ListBuilder, merge
from appliance.hashlist.importers import ImportStats, RecordBatch, detect_format, iter_file_items, module_for
from appliance.hashlist.importers.pdq import MAX_DISTANCE as MAX_PDQ_DISTANCE
from appliance.hashlist.index import LoadedList
from appliance.hashlist.model import HashListFormatError, HashRecord, ListInfo
from appliance.hashlist.sealed import SealedError, read_sealed, write_sealed
from firmware.atomic import fsync_dir, write_atomic
from firmware.keystore import Keystore, KeystoreError, NotInitialised, RuntimeToken, TpmError, WrongPassphrase

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
UNLOCK_HINT = ("unlock it with `gapscan unlock` (passphrase or TPM), --passphrase-file FILE, or the "
               "GAPSCAN_PASSPHRASE environment variable")


class StoreLocked(GapscanError):
    """The store's key is not available; the message says how to unlock."""


@dataclass(frozen=True)
class ListMeta:
    """Everything ``hashlist info`` and the UI may show; no entries."""

    name: str
    kind: str
    version: int
    source_format: str
    source: str | None
    imported_at: float
    counts: dict[str, int]
    categories: dict[str, int]
    sized: bool
    stored_bytes: int
    skipped: int = 0  # malformed records skipped by --lenient at import
    excluded: int = 0  # records left out on purpose (VICS category 0, unsupported signal types)
    sizes_distinct: int = 0
    pdq_distance: int | None = None  # the list's PDQ match distance (None: the default, 31)

    @property
    def info(self) -> ListInfo:
        return ListInfo(self.name, self.version, self.kind, self.source_format, self.source,  # type: ignore[arg-type]
                        self.pdq_distance)


@dataclass
class _MetaFile:
    meta: ListMeta
    list_id: str
    data_file: str
    extra: dict[str, Any] = field(default_factory=dict)


def _check_name(name: str) -> None:
    if not NAME_RE.match(name):
        raise GapscanError(f"bad list name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")


class HashListStore:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.dir = self.state_dir / "hashlists"
        self.keystore = Keystore(self.state_dir / "keys")
        self._kek: bytes | None = None
        self.unlocked_by: str | None = None

    # -- unlocking ------------------------------------------------------------------------------
    @classmethod
    def open(cls, state_dir: Path, *, passphrase: str | None = None) -> HashListStore:
        """Unlocked by, in order: ``passphrase``, ``$GAPSCAN_PASSPHRASE``, this boot's unlock token, the TPM.
        A store with no key yet is initialised with the passphrase. Raises :class:`StoreLocked` otherwise."""
        store = cls(state_dir)
        store.unlock(passphrase)
        return store

    @property
    def locked(self) -> bool:
        return self._kek is None

    def unlock(self, passphrase: str | None = None) -> str:
        """Unlock; returns how (``passphrase``, ``token``, ``tpm``, ``initialised``)."""
        passphrase = passphrase if passphrase is not None else os.environ.get("GAPSCAN_PASSPHRASE") or None
        ks = self.keystore
        try:
            if not ks.initialised:
                if passphrase is None:
                    raise StoreLocked("the hash-list store has no key yet: the first `gapscan unlock` or import "
                                      "with a passphrase (--passphrase-file FILE or GAPSCAN_PASSPHRASE) creates it")
                self.state_dir.mkdir(parents=True, exist_ok=True)
                self._kek, self.unlocked_by = ks.create(passphrase), "initialised"
                return self.unlocked_by
            if passphrase is not None:
                self._kek, self.unlocked_by = ks.unlock_passphrase(passphrase), "passphrase"
                return self.unlocked_by
            kek = self.token().read()
            if kek is not None:
                self._kek, self.unlocked_by = kek, "token"
                return self.unlocked_by
            if ks.tpm_sealed:
                self._kek, self.unlocked_by = ks.unlock_tpm(), "tpm"
                return self.unlocked_by
        except WrongPassphrase as exc:
            raise StoreLocked(f"{exc}; the store stays locked") from None
        except TpmError as exc:
            raise StoreLocked(f"hash-list store locked: {exc}; {UNLOCK_HINT}") from None
        except (NotInitialised, KeystoreError) as exc:
            raise StoreLocked(f"hash-list store locked: {exc}") from None
        raise StoreLocked(f"the hash-list store is locked: {UNLOCK_HINT}")

    def token(self) -> RuntimeToken:
        try:
            return RuntimeToken(self.keystore.store_id, self.state_dir)
        except KeystoreError as exc:
            raise GapscanError(str(exc)) from None

    def remember_for_boot(self) -> Path:
        """Leave the KEK in this boot's runtime directory (``gapscan unlock``)."""
        try:
            return self.token().write(self._require_kek())
        except KeystoreError as exc:
            raise GapscanError(str(exc)) from None

    def forget_for_boot(self) -> bool:
        """``gapscan lock``: remove this boot's unlock token."""
        self._kek = None
        if not self.keystore.initialised:
            return False
        return self.token().clear()

    def seal_to_tpm(self) -> None:
        try:
            self.keystore.seal_to_tpm(self._require_kek())
        except TpmError as exc:
            raise GapscanError(str(exc)) from None

    def _require_kek(self) -> bytes:
        if self._kek is None:
            raise StoreLocked(f"the hash-list store is locked: {UNLOCK_HINT}")
        return self._kek

    # -- metadata (works locked) ----------------------------------------------------------------
    def _meta_path(self, name: str) -> Path:
        return self.dir / f"{name}.meta.json"

    def _read_meta(self, path: Path) -> _MetaFile:
        body = json.loads(path.read_text(encoding="utf-8"))
        meta = ListMeta(**body["meta"])
        return _MetaFile(meta, body["list_id"], body["data_file"], body.get("extra", {}))

    def _meta_files(self) -> list[_MetaFile]:
        if not self.dir.is_dir():
            return []
        out = []
        for p in sorted(self.dir.glob("*.meta.json")):
            try:
                out.append(self._read_meta(p))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # reported by load_active
        return out

    def metadata(self) -> list[ListMeta]:
        return [m.meta for m in self._meta_files()]

    def get_metadata(self, name: str) -> ListMeta | None:
        p = self._meta_path(name)
        return self._read_meta(p).meta if p.is_file() else None

    def installed_version(self, name: str) -> int | None:
        meta = self.get_metadata(name)
        return meta.version if meta else None

    # -- import ---------------------------------------------------------------------------------
    def import_records(self, info: ListInfo, records: Iterable[HashRecord | RecordBatch], *,
                       category: str | None = None, stats: ImportStats | None = None) -> ListMeta:
        """Build, encrypt and install ``info.name`` at ``info.version`` (must exceed the installed one).
        ``records`` may hold whole :class:`RecordBatch`\\es (the importers' fast path)."""
        _check_name(info.name)
        kek = self._require_kek()
        installed = self.installed_version(info.name)
        if installed is not None and info.version <= installed:
            raise GapscanError(f"list {info.name!r}: version {info.version} is not newer than the installed "
                               f"version {installed} (refused: no rollback)")
        builder = ListBuilder(category=category)
        builder.add_all(records)
        arrays = builder.build()
        return self._install(info, arrays, kek, stats or ImportStats())

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One writer at a time (CLI, web, update engine): an exclusive lock on ``hashlists/.lock``."""
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _install(self, info: ListInfo, arrays: ListArrays, kek: bytes, stats: ImportStats) -> ListMeta:
        with self._writing():
            return self._install_locked(info, arrays, kek, stats)

    def _install_locked(self, info: ListInfo, arrays: ListArrays, kek: bytes, stats: ImportStats) -> ListMeta:
        installed = self.installed_version(info.name)
        if installed is not None and info.version <= installed:
            raise GapscanError(f"list {info.name!r}: version {info.version} is not newer than the installed "
                               f"version {installed} (refused: no rollback)")
        old_path = self._meta_path(info.name)
        old = self._read_meta(old_path) if old_path.is_file() else None
        list_id = old.list_id if old else uuid.uuid4().hex
        data_name = f"{info.name}.v{info.version}.hl"
        data_path = self.dir / data_name
        tmp = self.dir / f".{data_name}.tmp"
        total, pieces = serial.encode(arrays)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb", buffering=1 << 20) as fh:
                write_sealed(fh, kek, list_id, info.version, pieces, total)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, data_path)
        fsync_dir(self.dir)
        meta = ListMeta(name=info.name, kind=info.kind, version=info.version, source_format=info.source_format,
                        source=info.source, imported_at=time.time(), counts=arrays.counts,
                        categories=arrays.categories, sized=arrays.sizes is not None,
                        stored_bytes=data_path.stat().st_size, skipped=stats.skipped, excluded=stats.excluded,
                        sizes_distinct=len(arrays.sizes) if arrays.sizes is not None else 0,
                        pdq_distance=info.pdq_distance)
        body = {"meta": asdict(meta), "list_id": list_id, "data_file": data_name}
        write_atomic(old_path, json.dumps(body, indent=1).encode())
        self._sweep(info.name, keep=data_name)
        return meta

    def _sweep(self, name: str, keep: str | None) -> None:
        for p in self.dir.glob(f"{name}.v*.hl"):
            if p.name != keep and re.fullmatch(rf"{re.escape(name)}\.v\d+\.hl", p.name):
                p.unlink(missing_ok=True)
        for p in self.dir.glob(f".{name}.v*.hl.tmp"):
            p.unlink(missing_ok=True)
        fsync_dir(self.dir)

    def import_file(self, path: Path, *, fmt: str = "auto", name: str, kind: str = "alert",
                    category: str | None = None, version: int | None = None, lenient: bool = False,
                    pdq_distance: int | None = None) -> ListMeta:
        """Stream ``path`` through its importer into the store. Errors name the file, line and field."""
        _check_name(name)
        if kind not in ("alert", "ignore"):
            raise GapscanError(f"--kind must be alert or ignore, not {kind!r}")
        if pdq_distance is not None and not 0 <= pdq_distance <= MAX_PDQ_DISTANCE:
            raise GapscanError(f"--pdq-distance must be 0..{MAX_PDQ_DISTANCE} (PDQ's usual match distance is 31), "
                               f"not {pdq_distance}")
        self._require_kek()
        path = Path(path)
        if not path.is_file():
            raise GapscanError(f"hash list {str(path)!r} does not exist or is not a file")
        fmt_name = detect_format(path) if fmt == "auto" else module_for(fmt).FORMAT
        installed = self.installed_version(name)
        if version is None:
            version = (installed or 0) + 1
        stats = ImportStats()
        info = ListInfo(name, version, kind, fmt_name, path.name, pdq_distance)  # type: ignore[arg-type]
        try:
            records = iter_file_items(path, fmt_name, lenient=lenient, stats=stats)
            return self.import_records(info, records, category=category, stats=stats)
        except HashListFormatError as exc:
            raise GapscanError(f"bad hash list: {exc} (nothing imported; --lenient skips malformed records)") from None
        except OSError as exc:
            raise GapscanError(f"cannot read hash list {str(path)!r}: {exc.strerror or exc}") from None

    def apply_delta(self, name: str, *, base_version: int, version: int, added: Iterable[HashRecord],
                    removed: Iterable[HashRecord]) -> ListMeta:
        """Install ``version`` = installed ``base_version`` + ``added`` − ``removed``. Refuses a wrong base."""
        kek = self._require_kek()
        mf = self._meta_path(name)
        if not mf.is_file():
            raise GapscanError(f"list {name!r} is not installed: a delta needs base version {base_version}")
        current = self._read_meta(mf)
        if current.meta.version != base_version:
            raise GapscanError(f"list {name!r}: delta is against version {base_version} but version "
                               f"{current.meta.version} is installed (refused)")
        if version <= base_version:
            raise GapscanError(f"list {name!r}: delta version {version} is not newer than {base_version}")
        base = self._decrypt(current, kek)
        removed_by_alg: dict[str, list[bytes]] = {}
        for r in removed:
            removed_by_alg.setdefault(r.algorithm, []).append(bytes(r.digest))
        builder = ListBuilder()
        builder.add_all(added)
        merged = merge(base, builder.build(), removed_by_alg)
        info = ListInfo(name, version, current.meta.kind, current.meta.source_format,  # type: ignore[arg-type]
                        current.meta.source, current.meta.pdq_distance)
        return self._install(info, merged, kek, ImportStats())

    def remove(self, name: str) -> None:
        _check_name(name)
        p = self._meta_path(name)
        if not p.is_file():
            raise GapscanError(f"no hash list named {name!r} in the store")
        with self._writing():
            p.unlink()
            fsync_dir(self.dir)
            self._sweep(name, keep=None)

    # -- load -----------------------------------------------------------------------------------
    def _decrypt(self, mf: _MetaFile, kek: bytes) -> ListArrays:
        name = mf.meta.name
        path = self.dir / mf.data_file
        try:
            with open(path, "rb", buffering=0) as fh:
                buf = read_sealed(fh, kek, mf.list_id, mf.meta.version)
        except FileNotFoundError:
            raise GapscanError(f"hash list {name!r} v{mf.meta.version}: its data file {mf.data_file} is "
                               "missing") from None
        except SealedError as exc:
            raise GapscanError(f"hash list {name!r} v{mf.meta.version} refused: {exc}") from None
        try:
            return serial.decode(buf)
        except (ValueError, KeyError, TypeError) as exc:
            raise GapscanError(f"hash list {name!r} v{mf.meta.version}: unreadable content ({exc})") from None

    def load(self, name: str) -> LoadedList:
        kek = self._require_kek()
        p = self._meta_path(name)
        if not p.is_file():
            raise GapscanError(f"no hash list named {name!r} in the store")
        mf = self._read_meta(p)
        return LoadedList.from_arrays(mf.meta.info, self._decrypt(mf, kek))

    def load_active(self) -> tuple[list[LoadedList], list[str]]:
        """Every installed list; one error message per list that failed (the others still load)."""
        kek = self._require_kek()
        lists: list[LoadedList] = []
        errors: list[str] = []
        if not self.dir.is_dir():
            return lists, errors
        for p in sorted(self.dir.glob("*.meta.json")):
            try:
                mf = self._read_meta(p)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                errors.append(f"hash list metadata {p.name} unreadable: {exc}")
                continue
            try:
                lists.append(LoadedList.from_arrays(mf.meta.info, self._decrypt(mf, kek)))
            except GapscanError as exc:
                errors.append(str(exc))
        return lists, errors

