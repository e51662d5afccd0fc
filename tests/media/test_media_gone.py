"""A medium that vanishes mid-scan ends the scan ``interrupted`` with every result so far kept, and resumes.

How the medium vanishes: the walk is wrapped so that after the 15th file the image is truncated to 0 bytes —
what a pulled USB drive looks like to a reader of its block device (size 0 / ENODEV). The real pytsk3 reader
then fails a read, finds the medium gone and raises MediaGone; the real ScanJob and ResultStore do the rest.
A loop-device detach cannot be used: the kernel defers the detach while the reader holds the device open.
"""

from __future__ import annotations

import os
import random
import shutil
import threading

from appliance.hashlist.index import Matcher
from appliance.hashlist.loading import load_list_file
from appliance.results.store import ResultStore
from appliance.scan.job import ScanJob, ScanOptions
from appliance.scan.sources import finish_scan_source, open_scan_source
from tests.media import images

N_FILES = 60


def test_truncated_image_mid_scan_is_interrupted_and_resume_finishes(tmp_path, state_dir, gapscan):
    src = tmp_path / "files"
    src.mkdir()
    contents = {f"f{i:03}.bin": random.Random(i).randbytes(300_000) for i in range(N_FILES)}
    for name, data in contents.items():
        (src / name).write_bytes(data)
    image = tmp_path / "usb.img"
    with open(image, "wb") as fh:
        fh.truncate(40 * images.MIB)
    images.run("mkfs.vfat", "-F", "32", image)
    images.run("mcopy", "-i", image, *sorted(src.iterdir()), "::/", env={"MTOOLS_SKIP_CHECK": "1"})
    pristine = tmp_path / "pristine.img"
    shutil.copyfile(image, pristine)
    hashlist = tmp_path / "all.txt"
    hashlist.write_text("".join(f"{images.md5(d)}  {n}\n" for n, d in contents.items()))

    context = {"hashlists": [str(hashlist)], "lenient": False,
               "media": {"mount": False, "archives": True, "fingerprint": "auto"}}
    source = open_scan_source(str(image), context)
    inner_walk, inner_open = source.walk, source.open
    hashed = threading.Semaphore(0)  # released as each file's read finishes

    def open_and_count(entry):  # type: ignore[no-untyped-def]
        stream = inner_open(entry)
        close = stream.close

        def close_and_count() -> None:
            close()
            hashed.release()

        stream.close = close_and_count
        return stream

    def walk_then_yank():
        for i, entry in enumerate(inner_walk()):
            if i == 15:
                # The pull comes once a few files are hashed: the hashing threads run behind the walk, so
                # without this wait the pull could land before any read and leave nothing to keep.
                for _ in range(5):
                    assert hashed.acquire(timeout=30)
                os.truncate(image, 0)  # the drive is pulled
            yield entry

    source.walk = walk_then_yank  # type: ignore[method-assign]
    source.open = open_and_count  # type: ignore[method-assign]
    loaded, _ = load_list_file(hashlist)
    with ResultStore.in_state_dir(state_dir) as store:
        job = ScanJob(source, Matcher([loaded]), store, ScanOptions(workers=2))
        counts = job.start(context)
        assert job.scan_id is not None
        record = finish_scan_source(source, store, job.scan_id)
        scan = store.get_scan(job.scan_id)
        assert scan is not None and scan.status == "interrupted"
        files = list(store.iter_files(job.scan_id))
        hits = {h.path for h in store.iter_hits(job.scan_id)}
    assert 0 < counts.files < N_FILES and counts.errors == 0  # nothing recorded as a read error
    assert hits == {f.path for f in files if f.kind == "file"}  # every recorded file was fully hashed
    assert record is not None and record["unchanged"] is False and record["after_size"] == 0

    assert "has no medium any more" in scan.extra["media_gone"]

    other = tmp_path / "other.img"  # another drive in the same slot: resuming would mix two media
    shutil.copyfile(pristine, other)
    images.corrupt(other, 30 * images.MIB, 4096)
    shutil.copyfile(other, image)
    refused = gapscan("scan", "--resume", job.scan_id)
    assert refused.returncode == 2 and "is not the medium this scan started on" in refused.stderr

    shutil.copyfile(pristine, image)  # the drive is plugged back in
    result = gapscan("scan", "--resume", job.scan_id, "--json")
    assert result.returncode == 1, result.stderr
    with ResultStore.in_state_dir(state_dir) as store:
        assert store.get_scan(job.scan_id).status == "finished"
        assert {h.path for h in store.iter_hits(job.scan_id)} == {n.encode() for n in contents}
