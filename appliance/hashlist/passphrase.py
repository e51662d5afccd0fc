"""Reading a store passphrase from a file (``--passphrase-file``): stdlib only, so the CLI can take the flag
without loading the store (and its crypto and NumPy imports) for commands that never open it."""

from __future__ import annotations

from pathlib import Path

from appliance.errors import GapscanError


def read_passphrase_file(path: Path) -> str | None:
    """The passphrase in ``path`` (its first line), or None when that line is empty. Errors name the file."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise GapscanError(f"cannot read passphrase file {str(path)!r}: {exc.strerror or exc}") from None
    return lines[0] if lines and lines[0] else None
