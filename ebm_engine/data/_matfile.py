"""A bounds-checked reader for the numeric arrays of MATLAB 5/7 ``.mat`` files.

scipy's ``loadmat`` reads a damaged file's element sizes without checking
them against the file and can crash the whole process (a segmentation
fault, found by ``tests/test_fuzz.py``), which no ``except`` can catch. This
reader parses the documented Level 5 layout with ``struct`` and numpy, checks
every size against the bytes it has, and bounds decompression, so a hostile
file is one :class:`~ebm_engine.errors.DataError`.

Layout (MATLAB "MAT-File Format", Level 5): a 128-byte header (text,
subsystem offset, version ``0x0100``, endian mark ``IM`` or ``MI``), then
data elements, each an 8-byte tag (type, byte count) or a 4-byte "small"
tag (byte count in the upper 16 bits) followed by its data, padded to 8
bytes. A variable is a ``miMATRIX`` element (array flags, dimensions, name,
real part, optional imaginary part), possibly inside a zlib-compressed
``miCOMPRESSED`` element. Data is stored column-major, often in a smaller
type than its class (a ``double`` of zeros and ones as ``uint8``).
Version 4 files (2-D only) and 7.3 files (HDF5) are refused.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ebm_engine.data._collect import MAX_VALUES, read_limited
from ebm_engine.errors import DataError

_MI_MATRIX, _MI_COMPRESSED = 14, 15
_NUMERIC_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8",
                  12: "i8", 13: "u8"}  # fmt: skip
_CLASSES = {1: "cell", 2: "struct", 3: "object", 4: "char", 5: "sparse", 6: "double",
            7: "single", 8: "int8", 9: "uint8", 10: "int16", 11: "uint16", 12: "int32",
            13: "uint32", 14: "int64", 15: "uint64"}  # fmt: skip
_NUMERIC_CLASSES = set(range(6, 16))
_NUMERIC_NAMES = {_CLASSES[c] for c in _NUMERIC_CLASSES}
_LOGICAL, _COMPLEX = 0x0200, 0x0800

# Variables looked at in one file; real files hold a handful.
MAX_VARIABLES = 10_000
# Decompressed bytes of one variable: its values in the widest type, plus headers.
_MAX_DECOMPRESSED = 8 * MAX_VALUES + 65536
# Enough of a compressed variable to read its flags, dimensions and name.
_HEADER_BYTES = 4096


class _Corrupt(Exception):
    """A size or type that does not fit; turned into a DataError naming the file."""


@dataclass(frozen=True)
class MatVariable:
    """One variable of a ``.mat`` file, not yet read.

    Attributes
    ----------
    name : str
    shape : tuple of int
        MATLAB dimensions (at least 2).
    mclass : str
        ``double``, ``uint8``, ``logical`` …, or ``cell``, ``struct``, ``char`` ….
    """

    name: str
    shape: tuple[int, ...]
    mclass: str
    _order: str
    _element: bytes | None  # the miMATRIX body (uncompressed variables)
    _compressed: bytes | None  # the zlib stream (miCOMPRESSED variables)

    @property
    def numeric(self) -> bool:
        """A real numeric or logical array (what voxel grids are)."""
        return self.mclass == "logical" or self.mclass in _NUMERIC_NAMES


def _tag(buf: bytes, pos: int, end: int, order: str) -> tuple[int, int, int, int]:
    """``(type, byte count, data start, next element)`` of the tag at ``pos``."""
    if pos + 8 > end:
        raise _Corrupt("element tag cut short")
    first, second = struct.unpack_from(order + "II", buf, pos)
    if first >> 16:  # small element: byte count in the upper half, data in the next 4 bytes
        n = first >> 16
        if n > 4:
            raise _Corrupt("small element of more than 4 bytes")
        return first & 0xFFFF, n, pos + 4, pos + 8
    start = pos + 8
    if start + second > end:
        raise _Corrupt(f"element declares {second} bytes, {end - start} follow")
    return first, second, start, min(start + second + (-second % 8), end)


def _parse_matrix(buf: bytes, start: int, end: int, order: str, with_data: bool) -> tuple:
    """Flags, dims and name of the miMATRIX body ``buf[start:end]`` (and its real part)."""
    mtype, n, pos, nxt = _tag(buf, start, end, order)
    if mtype != 6 or n < 8:
        raise _Corrupt("array flags missing")
    flags = struct.unpack_from(order + "I", buf, pos)[0]
    cls = flags & 0xFF
    mtype, n, pos, nxt = _tag(buf, nxt, end, order)
    if mtype != 5 or n % 4 or n == 0:
        raise _Corrupt("dimensions missing")
    dims = tuple(int(d) for d in np.frombuffer(buf, order + "i4", n // 4, pos))
    if any(d < 0 for d in dims):
        raise _Corrupt("negative dimension")
    mtype, n, pos, nxt = _tag(buf, nxt, end, order)
    if mtype not in (1, 2):
        raise _Corrupt("array name missing")
    name = buf[pos : pos + n].decode("latin-1")
    mclass = _CLASSES.get(cls, "unknown")
    if cls == 9 and flags & _LOGICAL:
        mclass = "logical"
    elif flags & _COMPLEX:
        mclass += " complex"
    if not with_data:
        return name, dims, mclass, None
    if cls not in _NUMERIC_CLASSES or flags & _COMPLEX:
        raise _Corrupt(f"variable {name!r} is a {mclass}, not a real numeric array")
    mtype, n, pos, nxt = _tag(buf, nxt, end, order)
    code = _NUMERIC_TYPES.get(mtype)
    if code is None:
        raise _Corrupt(f"variable {name!r} stores its values as type {mtype}")
    itemsize = np.dtype(code).itemsize
    count = int(np.prod(dims, dtype=np.int64))
    if n != count * itemsize:
        raise _Corrupt(f"variable {name!r} holds {n} bytes for {count} values")
    values = np.frombuffer(buf, order + code, count, pos)
    return name, dims, mclass, values.reshape(dims, order="F")


def _inflate(stream: bytes, limit: int) -> bytes:
    try:
        inflater = zlib.decompressobj()
        out = inflater.decompress(stream, limit)
    except zlib.error as exc:
        raise _Corrupt(f"compressed variable is damaged ({exc})") from None
    return out


def read_mat(path: str | Path) -> list[MatVariable]:
    """The variables of a MATLAB 5/7 ``.mat`` file (names, shapes, classes).

    Raises
    ------
    DataError
        Not a Level 5 MAT file (v4 and v7.3 are named), or damaged.
    """
    path = Path(path)
    data = read_limited(path)
    if data.startswith(b"\x89HDF") or data[512:516] == b"\x89HDF" or data.startswith(
        b"MATLAB 7.3"
    ):
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; save with -v7")
    if len(data) < 128 or data[126:128] not in (b"IM", b"MI"):
        raise DataError(
            f"{path}: not a readable MATLAB file (need a MATLAB 5/7 file; "
            "version 4 files cannot hold 3D grids)"
        )
    order = "<" if data[126:128] == b"IM" else ">"
    version = struct.unpack_from(order + "H", data, 124)[0]
    if version == 0x0200:
        raise DataError(f"{path}: MATLAB v7.3 (HDF5) files are not supported; save with -v7")
    if version != 0x0100:
        raise DataError(f"{path}: not a readable MATLAB file (version {version:#06x})")
    found: list[MatVariable] = []
    pos = 128
    try:
        while pos + 8 <= len(data):
            if len(found) >= MAX_VARIABLES:
                raise _Corrupt(f"more than {MAX_VARIABLES} variables")
            mtype, n, start, nxt = _tag(data, pos, len(data), order)
            if mtype == _MI_COMPRESSED:
                stream = data[start : start + n]
                # Flags, dimensions and name come first: read them from a prefix.
                head = _inflate(stream, _HEADER_BYTES)
                inner, m = struct.unpack_from(order + "II", head) if len(head) >= 8 else (0, 0)
                if inner == _MI_MATRIX and m:
                    name, dims, mclass, _ = _parse_matrix(head, 8, len(head), order, False)
                    found.append(MatVariable(name, dims, mclass, order, None, stream))
                nxt = start + n  # compressed elements are not padded
            elif mtype == _MI_MATRIX and n:
                name, dims, mclass, _ = _parse_matrix(data, start, start + n, order, False)
                found.append(MatVariable(name, dims, mclass, order, data[start : start + n], None))
            pos = nxt
    except _Corrupt as exc:
        raise DataError(f"{path}: not a readable MATLAB file ({exc})") from None
    return found


def load_variable(path: str | Path, var: MatVariable) -> np.ndarray:
    """The values of a numeric variable found by :func:`read_mat`, in its MATLAB shape.

    Raises
    ------
    DataError
        Not numeric, over :data:`~ebm_engine.data._collect.MAX_VALUES`, or damaged.
    """
    count = int(np.prod(var.shape, dtype=np.int64))
    if count > MAX_VALUES:
        raise DataError(
            f"{path}: variable {var.name!r} of shape {var.shape} is over the "
            f"{MAX_VALUES // 10**6}M-value limit"
        )
    try:
        if var._compressed is not None:
            body = _inflate(var._compressed, min(8 * count + 65536, _MAX_DECOMPRESSED))
            inner, n, start, _ = _tag(body, 0, len(body), var._order)
            if inner != _MI_MATRIX:
                raise _Corrupt("compressed element is not a variable")
            end = start + n
        else:
            body, start, end = var._element or b"", 0, len(var._element or b"")
        _, _, _, values = _parse_matrix(body, start, end, var._order, with_data=True)
    except _Corrupt as exc:
        raise DataError(f"{path}: cannot load variable {var.name!r} ({exc})") from None
    return values
