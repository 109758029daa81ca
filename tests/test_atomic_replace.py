"""Replacing a file atomically keeps what the user had: its mode, its symbolic link,
and names up to the file system's own limit."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ebm_engine import atomic

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX modes and links")


def test_a_private_file_stays_private_when_replaced(tmp_path):
    """The rename left 0644 where the user's file was 0600 (world-readable)."""
    path = tmp_path / "scores.csv"
    path.write_text("old")
    path.chmod(0o600)
    atomic.write_text(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_link_is_replaced_not_followed_but_an_out_link_is_written_through(tmp_path):
    """A link planted in a shared run folder must not redirect the run's writes; a link
    the user names as --out is written through, as open() would (it was replaced)."""
    from ebm_engine.cli import main

    target = tmp_path / "real.txt"
    target.write_bytes(b"old")
    planted = tmp_path / "metrics.csv"
    planted.symlink_to(target)
    atomic.write_bytes(planted, b"rows")
    assert not planted.is_symlink() and target.read_bytes() == b"old"
    picture = tmp_path / "real.png"
    picture.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(picture)
    assert main(["sample", "--run", "zoo:8gaussians-ml", "--n", "4", "--steps", "1",
                 "--out", str(link)]) == 0
    assert link.is_symlink() and picture.read_bytes().startswith(b"\x89PNG")


def test_a_read_only_file_is_replaced_and_stays_read_only(tmp_path):
    """Its mode kept, the temporary copy became 0444 before it was opened again to be
    synced: every write over a read-only file failed (as any user but root)."""
    drop = ""
    if os.geteuid() == 0:  # root opens anything: write as an unprivileged user, in a
        # folder it can reach (pytest's are the owner's only)
        tmp_path = Path(tempfile.mkdtemp())
        tmp_path.chmod(0o777)
        drop = "os.setgid(65534); os.setuid(65534); "  # after the imports it cannot read
    path = tmp_path / "ro.txt"
    path.write_text("old")
    path.chmod(0o444)
    code = ("import os, sys; from ebm_engine import atomic; " + drop
            + "atomic.write_text(sys.argv[1], 'new')")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o444
    if drop:
        shutil.rmtree(tmp_path)


def test_a_name_near_the_length_limit_is_written(tmp_path):
    """The temporary name added 26 bytes to the target's: 245 characters failed."""
    path = tmp_path / ("a" * 245 + ".png")
    atomic.write_bytes(path, b"png")
    assert path.read_bytes() == b"png"
    wide = tmp_path / ("語" * 80 + ".txt")  # 240 bytes in UTF-8
    atomic.write_text(wide, "text")
    assert wide.read_text() == "text"
