"""Where gapscan keeps its state. Passed in explicitly everywhere; resolved once at the edge (CLI, web)."""

from __future__ import annotations

import os
from pathlib import Path

APPLIANCE_STATE_DIR = Path("/var/lib/gapscan")


def resolve_state_dir(cli_value: str | os.PathLike[str] | None = None) -> Path:
    """``--state-dir``, else ``$GAPSCAN_STATE_DIR``, else the appliance's directory if it exists, else the
    user's XDG data directory. The directory is created (mode 0700) if missing."""
    if cli_value:
        path = Path(cli_value)
    elif os.environ.get("GAPSCAN_STATE_DIR"):
        path = Path(os.environ["GAPSCAN_STATE_DIR"])
    elif APPLIANCE_STATE_DIR.is_dir() and os.access(APPLIANCE_STATE_DIR, os.W_OK):
        path = APPLIANCE_STATE_DIR
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "gapscan"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path
