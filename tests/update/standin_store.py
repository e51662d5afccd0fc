"""A stand-in for ``appliance.hashlist.store.HashListStore``, used ONLY while that module is missing.

Why: the encrypted store is built on another branch (issue 3). The update engine talks to it through
three calls (installed_version / import_records / apply_delta); this file-backed stand-in implements
exactly those with the same atomic-replace guarantee (temp, fsync, rename, fsync dir, through the update
engine's durable steps so the power-cut tests can kill it mid-import), so the attack suite can check that
a refused bundle leaves the lists byte for byte unchanged. Once the real store is merged, the tests use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from appliance.errors import GapscanError
from appliance.hashlist.model import HashRecord, ListInfo
from appliance.update.durable import atomic_write_json


@dataclass(frozen=True)
class StandinMeta:
    name: str
    kind: str
    version: int
    counts: dict[str, int]


def _key(r: HashRecord) -> list[object]:
    return [r.algorithm, r.digest.hex(), r.label, r.size, r.distance]


class StandinStore:
    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir) / "hashlists"

    @classmethod
    def open(cls, state_dir: Path, *, passphrase: str | None = None) -> StandinStore:
        return cls(state_dir)

    def _path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def _load(self, name: str) -> dict[str, object] | None:
        try:
            return json.loads(self._path(name).read_bytes())
        except FileNotFoundError:
            return None

    def installed_version(self, name: str) -> int | None:
        doc = self._load(name)
        return None if doc is None else int(doc["version"])  # type: ignore[call-overload]

    def records(self, name: str) -> list[list[object]]:
        doc = self._load(name)
        return [] if doc is None else doc["records"]  # type: ignore[return-value]

    def metadata(self) -> list[StandinMeta]:
        out = []
        for p in sorted(self.dir.glob("*.json")):
            doc = json.loads(p.read_bytes())
            counts: dict[str, int] = {}
            for rec in doc["records"]:
                counts[rec[0]] = counts.get(rec[0], 0) + 1
            out.append(StandinMeta(doc["name"], doc["kind"], doc["version"], counts))
        return out

    def _write(self, doc: dict[str, object]) -> StandinMeta:
        self.dir.mkdir(mode=0o700, exist_ok=True)
        atomic_write_json(self._path(str(doc["name"])), doc)
        return next(m for m in self.metadata() if m.name == doc["name"])

    def remove(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def import_records(self, info: ListInfo, records: Iterable[HashRecord]) -> StandinMeta:
        installed = self.installed_version(info.name)
        if installed is not None and info.version <= installed:  # as the real store: no rollback
            raise GapscanError(f"list {info.name!r}: version {info.version} is not newer than {installed}")
        recs = sorted(_key(r) for r in records)  # consume fully before anything is written
        return self._write({"name": info.name, "kind": info.kind, "version": info.version, "records": recs})

    def apply_delta(self, name: str, *, base_version: int, version: int, added: Iterable[HashRecord],
                    removed: Iterable[HashRecord]) -> StandinMeta:
        doc = self._load(name)
        if doc is None or doc["version"] != base_version:
            raise GapscanError(f"hash list {name}: delta needs v{base_version}")
        gone = {json.dumps(_key(r)) for r in removed}
        keep = [r for r in doc["records"] if json.dumps(r) not in gone]  # type: ignore[attr-defined]
        new = sorted({json.dumps(x) for x in keep} | {json.dumps(_key(r)) for r in added})
        return self._write({**doc, "version": version, "records": [json.loads(x) for x in new]})


def install_if_needed() -> bool:
    """Point the update engine at the stand-in when the real store module is missing; True if it did."""
    try:
        import appliance.hashlist.store  # noqa: F401
    except ImportError:
        from appliance.update import hashlists

        hashlists._store_class = lambda: StandinStore  # type: ignore[assignment]
        return True
    return False
