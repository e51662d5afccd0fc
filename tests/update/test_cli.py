"""``gapscan bundle``: the vendor's keygen/build and the appliance's trust/verify/apply/status/boot/mark-good,
run as real subprocesses; exit 0 = verified/applied, 2 = refused with the reason in the message.
(Each CLI start costs about a second on CI, so the flows are few and long; the logic is covered in-process.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.conftest import GapscanRunner
from tests.update.conftest import Vendor


def release(tmp_path: Path, version: int) -> Path:
    d = tmp_path / f"release-{version}"
    (d / "bin").mkdir(parents=True)
    (d / "VERSION").write_text(f"{version}\n")
    (d / "bin" / "app").write_text(f"#!/bin/sh\necho {version}\n")
    (d / "bin" / "app").chmod(0o755)
    return d


def test_vendor_to_appliance_flow(gapscan: GapscanRunner, tmp_path: Path, state_dir: Path) -> None:
    keys = tmp_path / "keys"
    assert gapscan("bundle", "keygen", "--out", keys).returncode == 0
    assert {p.name for p in keys.iterdir()} == {"root.json", "root.key", "lists.key", "software.key"}
    assert all(os.stat(keys / f"{r}.key").st_mode & 0o777 == 0o600 for r in ("root", "lists", "software"))
    sw = tmp_path / "sw2.gsb"
    done = gapscan("bundle", "build", "--kind", "software", "--version", "2", "--key", keys / "software.key",
                   release(tmp_path, 2), "--out", sw)
    assert done.returncode == 0, done.stderr
    done = gapscan("bundle", "verify", sw, "--trust", keys / "root.json")
    assert done.returncode == 0, done.stderr
    sw_key = json.loads((keys / "root.json").read_text())["signed"]["roles"]["software"]["keyids"][0]
    assert "software v2" in done.stdout and f"by {sw_key[:16]}" in done.stdout and "signed at 20" in done.stdout
    assert gapscan("bundle", "trust", keys / "root.json").returncode == 0
    done = gapscan("bundle", "apply", sw)
    assert done.returncode == 0 and "installed: software v2 installed in slot a" in done.stdout, done.stderr
    app = state_dir / "software" / "a" / "bin" / "app"
    assert app.read_text() == "#!/bin/sh\necho 2\n" and os.stat(app).st_mode & 0o777 == 0o755
    tampered = tmp_path / "tampered.gsb"
    data = bytearray(sw.read_bytes())
    data[-3] ^= 0xFF
    tampered.write_bytes(bytes(data))
    done = gapscan("bundle", "apply", tampered)
    assert done.returncode == 2
    assert "refused (hash-mismatch): member bin/app: SHA-256 differs from the signed manifest" in done.stderr
    # rotate the root key: the new root.json carries the old and the new root signatures
    old_root_key = tmp_path / "old-root.key"
    old_root_key.write_bytes((keys / "root.key").read_bytes())
    assert gapscan("bundle", "keygen", "--out", keys, "--role", "root").returncode == 0
    rb = tmp_path / "root2.gsb"
    done = gapscan("bundle", "build", "--kind", "root", "--version", "2", "--key", old_root_key,
                   keys / "root.json", "--out", rb)
    assert done.returncode == 0, done.stderr
    done = gapscan("bundle", "apply", rb)
    assert done.returncode == 0 and "trust root v2 installed" in done.stdout, done.stderr
    done = gapscan("bundle", "status", "--json")
    status = json.loads(done.stdout)
    assert (status["software"]["current"], status["software"]["pending"]) == ("a", True)
    assert status["trust_root"]["version"] == 2


def test_boot_and_mark_good_commands(gapscan: GapscanRunner, appliance: Path, vendor: Vendor) -> None:
    from appliance.update import apply_bundle, boot

    apply_bundle(vendor.software(1), state_dir=appliance, actor="t")
    apply_bundle(vendor.software(2), state_dir=appliance, actor="t")
    for _ in range(3):
        boot(appliance)
    done = gapscan("bundle", "boot")
    assert done.returncode == 0 and "slot b never confirmed itself; fell back to slot a" in done.stderr
    assert "fell back from slot b" in gapscan("bundle", "status").stdout
    apply_bundle(vendor.software(3), state_dir=appliance, actor="t")
    done = gapscan("bundle", "mark-good")
    assert done.returncode == 0 and "slot b marked good" in done.stdout
