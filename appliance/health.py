"""Appliance health for the dashboard: accelerator in use, CPU load, disk space, board temperature."""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Health:
    accelerator: str          # "numpy" | "cuda"
    accelerator_detail: str   # device name and why this backend was chosen
    cpu_count: int
    load: tuple[float, float, float]
    disk_total: int
    disk_free: int
    temperature_c: float | None
    uptime_s: float | None


@functools.lru_cache(maxsize=1)
def _accelerator() -> tuple[str, str]:
    """Probed once per process: importing CuPy and asking the driver is slow and does not change."""
    try:
        from firmware.accel import probe

        b = probe()
    except Exception as exc:  # a broken driver must not take the dashboard down
        return "unknown", f"accelerator probe failed: {type(exc).__name__}: {exc}"
    detail = b.reason + (f" — {b.device}" if b.device and b.device != "cpu" else "")
    if b.memory_bytes:
        detail += f", {b.memory_bytes / 2**30:.1f} GiB"
    return b.name, detail


def _temperature(thermal: Path = Path("/sys/class/thermal")) -> float | None:
    """Highest thermal-zone reading in °C, or None where the board reports none (VMs, most PCs)."""
    best = None
    for zone in sorted(thermal.glob("thermal_zone*/temp")) if thermal.is_dir() else []:
        try:
            value = int(zone.read_text().strip()) / 1000.0
        except (OSError, ValueError):
            continue
        if -40 < value < 150:
            best = value if best is None else max(best, value)
    return best


def _uptime() -> float | None:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def health(state_dir: Path) -> Health:
    name, detail = _accelerator()
    disk = shutil.disk_usage(state_dir)
    try:
        load = os.getloadavg()
    except OSError:
        load = (0.0, 0.0, 0.0)
    return Health(name, detail, os.cpu_count() or 1, load, disk.total, disk.free, _temperature(), _uptime())




def warm_up() -> None:
    """Probe the accelerator in the background so the first dashboard does not wait for CuPy to import."""
    import threading

    threading.Thread(target=_accelerator, daemon=True, name="accel-probe").start()
