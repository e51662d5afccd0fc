"""``gapscan hash FILE...``: print each file's digests and perceptual hash (PDQ for images, vPDQ for videos).

Exit 0 when every file was hashed, 2 when a file could not be read or an image/video could not be decoded
(the other files are still printed; the failure is named on stderr and in the JSON ``error`` field).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from appliance.cli import EXIT_ERROR, EXIT_OK
from appliance.hashing.digests import CHUNK, DIGEST_KINDS
from appliance.hashing.filetype import SNIFF_BYTES, is_video, sniff
from appliance.pathfmt import display_path, escape_path

# Image/video decoders are imported when a file needs them, not whenever any gapscan command starts.

ALGORITHMS = (*DIGEST_KINDS, "pdq")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("hash", help="print digests and PDQ hashes of files",
                       description="Hash each FILE: MD5/SHA-1/SHA-256 and PDQ (images; vPDQ frames for videos). "
                                   "Exit 0: all hashed; 2: a file could not be read or decoded.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--algorithms", default=",".join(ALGORITHMS),
                   help=f"comma-separated subset of {','.join(ALGORITHMS)} (default: all)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--dihedral", action="store_true", help="also print the 8 dihedral PDQ variants")
    p.add_argument("--fast", action="store_true",
                   help="fast PDQ path (reduced JPEG decode): within a few bits of the exact hash")
    p.set_defaults(func=run_hash)


def _parse(text: str) -> tuple[str, ...]:
    names = [n.strip().lower() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ALGORITHMS]
    if unknown or not names:
        from appliance.errors import GapscanError

        raise GapscanError(f"--algorithms: unknown or empty {unknown[0] if unknown else text!r} "
                           f"(known: {', '.join(ALGORITHMS)})")
    return tuple(n for n in ALGORITHMS if n in names)


def hash_file(path: str, algorithms: tuple[str, ...], *, dihedral: bool = False,
              fast: bool = False) -> dict[str, Any]:
    """Everything ``gapscan hash`` prints for one file; ``error`` set when something failed."""
    from appliance.hashing.images import supported_types
    from appliance.scan.analyzers import MAX_IMAGE_BYTES, MAX_VIDEO_BYTES

    raw = os.fsencode(path)
    result: dict[str, Any] = {"path": escape_path(raw)}
    digests = [a for a in algorithms if a in DIGEST_KINDS]
    hashers = {a: DIGEST_KINDS[a].new() for a in digests}
    whole: bytearray | None = None
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
            kind = sniff(head)
            want_pdq = "pdq" in algorithms and (kind in supported_types() or is_video(kind))
            limit = MAX_VIDEO_BYTES if is_video(kind) else MAX_IMAGE_BYTES
            whole = bytearray(head) if want_pdq else None
            for h in hashers.values():
                h.update(head)
            while chunk := fh.read(CHUNK):
                for h in hashers.values():
                    h.update(chunk)
                if whole is not None:
                    whole += chunk
                    if len(whole) > limit:
                        whole = None
                        result["pdq_error"] = f"larger than {limit} bytes: not decoded"
    except OSError as exc:
        result["error"] = f"cannot read: {exc.strerror or exc}"
        return result
    result["type"] = kind
    for a, h in hashers.items():
        result[a] = h.hexdigest()
    if "pdq" in algorithms:
        result["pdq"] = None
        if whole is not None:
            _perceptual(result, bytes(whole), kind, dihedral=dihedral, fast=fast)
    return result


def _perceptual(result: dict[str, Any], data: bytes, kind: str | None, *, dihedral: bool, fast: bool) -> None:
    from appliance.hashing.pdq import ImageError, dihedral_hashes, pdq_from_bytes

    try:
        if is_video(kind):
            from appliance.hashing.video import hash_video

            frames = hash_video(data)
            result["vpdq"] = [f.line() for f in frames]
            return
        if dihedral:
            variants = dihedral_hashes(data, exact=not fast)
            result["pdq"], result["pdq_quality"] = variants[0].hex, variants[0].quality
            result["pdq_dihedral"] = [v.hex for v in variants]
        else:
            h = pdq_from_bytes(data, exact=not fast)
            result["pdq"], result["pdq_quality"] = h.hex, h.quality
    except ImageError as exc:
        result["error"] = f"{kind}: {exc}"


def run_hash(args: argparse.Namespace) -> int:
    algorithms = _parse(args.algorithms)
    status = EXIT_OK
    for path in args.files:
        r = hash_file(path, algorithms, dihedral=args.dihedral, fast=args.fast)
        if "error" in r:
            status = EXIT_ERROR
            print(f"gapscan: {display_path(os.fsencode(path))}: {r['error']}", file=sys.stderr)
        if args.json:
            print(json.dumps(r))
            continue
        fields = [f"{a}={r[a]}" for a in algorithms if a in DIGEST_KINDS and r.get(a)]
        if r.get("pdq"):
            fields.append(f"pdq={r['pdq']} quality={r['pdq_quality']}")
        if r.get("vpdq"):
            fields.append(f"vpdq={len(r['vpdq'])} frames")
        if "error" in r:
            fields.append(f"ERROR: {r['error']}")
        print(f"{display_path(os.fsencode(path))}  " + "  ".join(fields))
        for line in r.get("vpdq", []):
            print(f"  {line}")
        for name, hx in zip(("original", "rot90", "rot180", "rot270", "flipx", "flipy", "flip+1", "flip-1"),
                            r.get("pdq_dihedral", []), strict=False):
            print(f"  {name:<8} {hx}")
    sys.stdout.flush()
    return status
