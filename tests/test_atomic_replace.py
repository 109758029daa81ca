"""Replacing a file atomically keeps what the user had: its mode, its symbolic link,
and names up to the file system's own limit."""

from __future__ import annotations

import os
import stat

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


def test_a_link_is_written_through_and_stays_a_link(tmp_path):
    """--out link.png replaced the link by a file and left its target old."""
    target = tmp_path / "real.png"
    target.write_bytes(b"old")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    atomic.write_bytes(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.png", "real.png"]


def test_a_name_near_the_length_limit_is_written(tmp_path):
    """The temporary name added 26 bytes to the target's: 245 characters failed."""
    path = tmp_path / ("a" * 245 + ".png")
    atomic.write_bytes(path, b"png")
    assert path.read_bytes() == b"png"
    wide = tmp_path / ("語" * 80 + ".txt")  # 240 bytes in UTF-8
    atomic.write_text(wide, "text")
    assert wide.read_text() == "text"
