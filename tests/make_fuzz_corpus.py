"""Build a corpus of hostile dataset files: every one must give a typed ``DataError``.

Generated at test time (``build_corpus(tmp_path)``) so the repository stays small;
``python tests/make_fuzz_corpus.py FOLDER`` writes it for manual fuzzing.

For *every* extension a reader registers (``ebm_engine.data.readers()``, so a new
reader is fuzzed without touching this file): a zero-byte file, random bytes (wrong
magic) and plain text. For the formats we know: a valid file cut in half, headers
declaring huge sizes, NaN/inf values and pickled payloads.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HUGE = 10**12
# Formats whose data is plain text (sentence files): "plain text" is no hostile case for them.
TEXT_FORMATS = (".txt",)


@dataclass(frozen=True)
class Case:
    """One hostile input: a file or folder, and the ``data.options`` to read it with."""

    path: Path
    what: str
    options: dict[str, Any] = field(default_factory=dict)


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npy_header(shape: tuple[int, ...], dtype: str = "<f4") -> bytes:
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode("latin1")
    pad = 64 - (10 + len(header) + 1) % 64
    header += b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png(width: int, height: int, rows: bytes | None = None) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = rows if rows is not None else b"\x00" * (1 + 3 * width) * min(height, 4)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b""))


def _jpeg_huge() -> bytes:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 65500, 65500, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + sof + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" + b"\x00" * 64 + b"\xff\xd9"


def _bmp_huge() -> bytes:
    w = h = 200_000
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40 + 16, 0, 0, 54) + info + b"\x00" * 16


def _gif_huge() -> bytes:
    screen = struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 65535, 65535, 0) + b"\x02\x02\x44\x01\x00"
    return b"GIF89a" + screen + image + b"\x3b"


def _zip_with(name: str, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name, payload)
    return buf.getvalue()


class _Marker:
    """Unpickling this creates a file: proof that a reader executed a payload."""

    def __init__(self, target: Path):
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


def pickle_payload(marker: Path) -> bytes:
    """Pickle bytes whose loading creates ``marker``."""
    import pickle

    return pickle.dumps(_Marker(marker))


def build_corpus(folder: Path, marker: Path | None = None) -> list[Case]:
    """Write the corpus under ``folder``; return its cases.

    Parameters
    ----------
    folder : Path
        Empty folder to write into.
    marker : Path, optional
        File that the pickled payloads would create if executed.
    """
    from ebm_engine.data import readers

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1234)
    marker = marker or folder / "PAYLOAD_RAN"
    cases: list[Case] = []

    def add(name: str, data: bytes, what: str, **options: Any) -> None:
        path = folder / name
        path.write_bytes(data)
        cases.append(Case(path, what, dict(options)))

    extensions = sorted({e for r in readers() for e in r.extensions if e})
    for ext in extensions:
        stem = ext.lstrip(".")
        add(f"zero-{stem}{ext}", b"", "zero-byte")
        add(f"garbage-{stem}{ext}", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes(),
            "wrong magic")
        if ext not in TEXT_FORMATS:  # for sentence files plain text is the data
            add(f"text-{stem}{ext}", b"hello, this is not data\n" * 50, "plain text")

    good = _npy_bytes(np.arange(2000, dtype=np.float32).reshape(1000, 2))
    add("truncated.npy", good[: len(good) // 2], "truncated")
    add("huge.npy", _npy_header((HUGE, 2)) + b"\x00" * 64, "huge declared size")
    add("nan.npy", _npy_bytes(np.full((64, 2), np.nan, dtype=np.float32)), "NaN values")
    add("inf.npy", _npy_bytes(np.array([[1.0, np.inf]] * 8, dtype=np.float64)), "inf values")
    obj = np.empty(2, dtype=object)
    obj[0] = _Marker(marker)
    buf = io.BytesIO()
    np.save(buf, obj, allow_pickle=True)
    add("pickle.npy", buf.getvalue(), "pickled objects")
    add("rank1.npy", _npy_bytes(np.zeros(10, dtype=np.float32)), "wrong rank")
    good_npz = _zip_with("x.npy", good)
    add("truncated.npz", good_npz[: len(good_npz) // 2], "truncated")
    add("huge.npz", _zip_with("x.npy", _npy_header((HUGE, HUGE)) + b"\x00" * 64),
        "huge declared size")
    add("nan.npz", _zip_with("x.npy", _npy_bytes(np.full((8, 2), np.nan, np.float32))),
        "NaN values")
    add("pickle.npz", _zip_with("x.npy", buf.getvalue()), "pickled objects")

    png = _png(16, 16)
    add("truncated.png", png[: len(png) // 2], "truncated")
    add("huge.png", _png(100_000, 100_000), "huge declared size")
    add("huge.jpg", _jpeg_huge(), "huge declared size")
    add("truncated.jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", "truncated")
    add("huge.bmp", _bmp_huge(), "huge declared size")

    add("huge.ply", b"ply\nformat ascii 1.0\nelement vertex 1000000000000\nproperty float x\n"
        b"property float y\nproperty float z\nend_header\n0 0 0\n", "huge declared size")
    add("nan.ply", b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
        b"property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
        b"nan 0 0\n0 nan 0\n0 0 inf\n3 0 1 2\n", "NaN values")
    add("truncated.ply", b"ply\nformat binary_little_endian 1.0\nelement vertex 100\n"
        b"property float x\nproperty float y\nproperty float z\nend_header\n" + b"\x00" * 20,
        "truncated")
    add("huge.off", b"OFF\n1000000000000 1000000000000 0\n0 0 0\n", "huge declared size")
    add("nan.obj", b"v nan 0 0\nv 0 nan 0\nv 0 0 inf\nf 1 2 3\n", "NaN values")
    add("huge.stl", b"\x00" * 80 + struct.pack("<I", 0xFFFFFFFF) + b"\x00" * 50,
        "huge declared size")
    add("nan.xyz", b"nan 0 0\n0 nan 0\n1 2 inf\n" * 10, "NaN values")
    add("ragged.pts", b"1 2 3\n4 5\n6\n", "wrong columns")
    add("huge.binvox", b"#binvox 1\ndim 100000 100000 100000\ntranslate 0 0 0\nscale 1\ndata\n"
        b"\x01\xff", "huge declared size")
    add("truncated.binvox", b"#binvox 1\ndim 32 32 32\ntranslate 0 0 0\nscale 1\ndata\n\x01\x10",
        "truncated")
    add("truncated.mat", b"MATLAB 5.0 MAT-file, Platform: GLNXA64" + b" " * 86 + b"\x00\x01IM"
        + b"\x0e\x00\x00\x00\xff\xff\xff\x7f", "huge declared size")
    add("huge.gif", _gif_huge(), "huge declared size")
    add("truncated.gif", b"GIF89a\x10\x00\x10\x00\x00\x00\x00", "truncated")
    add("truncated.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 8,
        "truncated")

    empty = folder / "empty-folder"
    empty.mkdir()
    cases.append(Case(empty, "empty folder"))
    bad_images = folder / "bad-images"
    bad_images.mkdir()
    (bad_images / "a.png").write_bytes(png[:30])
    cases.append(Case(bad_images, "folder of truncated images"))
    frames = folder / "bad-frames"
    frames.mkdir()
    (frames / "0001.png").write_bytes(b"")
    (frames / "0002.png").write_bytes(png[:40])
    cases.append(Case(frames, "truncated video frames", {"reader": "video-frames"}))
    return cases


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/make_fuzz_corpus.py FOLDER")
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for case in build_corpus(Path(sys.argv[1])):
        print(f"{case.what:28s} {case.path}")
