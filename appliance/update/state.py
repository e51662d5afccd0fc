"""The update engine's persistent state under ``state_dir/update/``.

- ``root.json``: the trusted root (installed at provisioning, replaced only by a verified rotation);
- ``versions.json``: anti-rollback floors per stream (``hashlist:NAME``; software's lives in
  ``software/slots.json`` so the pointer and its version switch in one rename) and the signed time floor;
- ``config.json``: ``{"production": true}`` on a production appliance (development keys are refused).

The time floor is the newest ``signed_at`` of any accepted bundle: the appliance's notion of "now" is
never earlier than it, whatever the (possibly absent) real-time clock says.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance.update.durable import atomic_write, atomic_write_json, read_json
from appliance.update.errors import BundleRefused
from appliance.update.trust import TrustRoot, load_root_file, parse_root, verify_root_self

Clock = Callable[[], float]


def update_dir(state_dir: Path) -> Path:
    d = Path(state_dir) / "update"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


def is_production(state_dir: Path) -> bool:
    return bool(read_json(update_dir(state_dir) / "config.json", {}).get("production"))


def set_production(state_dir: Path, production: bool) -> None:
    atomic_write_json(update_dir(state_dir) / "config.json", {"production": production})


def installed_root_path(state_dir: Path) -> Path:
    return update_dir(state_dir) / "root.json"


#: Roots pinned in the installed software (the image build drops the vendor's root.json into one of these);
#: used until a rotation or provisioning writes ``state_dir/update/root.json``.
PINNED_ROOTS: tuple[Path, ...] = (Path("/usr/share/gapscan/root.json"), Path(__file__).parent / "pinned" / "root.json")


def load_installed_root(state_dir: Path) -> TrustRoot:
    path = installed_root_path(state_dir)
    if path.is_file():
        return load_root_file(path)
    for pinned in PINNED_ROOTS:
        if pinned.is_file():
            return load_root_file(pinned)
    raise BundleRefused("no-trust-root", f"no trust root installed at {path} and none pinned in the software "
                                         f"({', '.join(map(str, PINNED_ROOTS))}); provision one with "
                                         "`gapscan bundle trust ROOT.json`")


def provision_root(state_dir: Path, data: bytes, *, production: bool) -> TrustRoot:
    """First install of the pinned root (image build / provisioning). Later roots arrive only as bundles."""
    path = installed_root_path(state_dir)
    if path.exists():
        raise BundleRefused("rollback", f"a trust root is already installed at {path}; a new one must arrive "
                                        "as a root bundle signed by the current root")
    root = parse_root(data, source="ROOT.json")
    verify_root_self(root, source="ROOT.json", production=production)
    atomic_write(path, root.to_bytes(), mode=0o644)
    set_production(state_dir, production)
    return root


@dataclass
class Versions:
    """``versions.json``: per-stream floors (version + signer key ids) and the signed time floor."""

    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    time_floor: int = 0

    @classmethod
    def load(cls, state_dir: Path) -> Versions:
        raw = read_json(update_dir(state_dir) / "versions.json", {})
        return cls(dict(raw.get("streams", {})), int(raw.get("time_floor", 0)))

    def save(self, state_dir: Path) -> None:
        atomic_write_json(update_dir(state_dir) / "versions.json",
                          {"streams": self.streams, "time_floor": self.time_floor})

    def floor(self, stream: str) -> int | None:
        entry = self.streams.get(stream)
        return None if entry is None else int(entry["version"])


def effective_now(state_dir: Path, clock: Clock | None = None) -> float:
    """max(clock, signed time floor): the time update policy uses when the RTC is missing or wrong."""
    return max((clock or time.time)(), float(Versions.load(state_dir).time_floor))
