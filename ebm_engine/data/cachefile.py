"""The decoded-dataset cache file: a fixed prefix, the stored items, a JSON header.

Layout (integers little-endian)::

    0      magic  b"\\x93EBMDATA"                         8 bytes
    8      format version                                 u32
    12     reserved (0)                                   u32
    16     data_offset (4096: items start page-aligned)   u64
    24     data_bytes                                     u64
    32     header_bytes                                   u64
    40     digest: BLAKE2b-128 of the header and a sample 16 bytes
    56     zeros up to data_offset
    data_offset                 the stored items, C order, (N, *item_shape)
    data_offset + data_bytes    the header: UTF-8 JSON (key, dtype, shape,
                                scale, offset, kind, value range, name, meta)

Like an ``.npy`` file, the items are one raw array that :class:`numpy.memmap`
maps without reading; unlike one, the description comes after the data,
because a streaming decode learns it as it goes, and the prefix is written
last, so a file cut short anywhere fails the checks below.

An opened file is checked before it is trusted: the magic and version,
the exact file size (a truncated or extended file fails), the header's key
(the file is for this source and these settings) and dtype × shape against
the data size, and the digest over the header plus :data:`SAMPLE_BLOCKS`
blocks of :data:`BLOCK` bytes spread over the data (first and last
included). That reads ~64 KiB whatever the size, so a 10 GB cache opens in
milliseconds; a bit flipped between the sampled blocks goes unnoticed
(the OS's own checks are the guard there).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import struct
from pathlib import Path
from typing import IO, Any

import numpy as np

from ebm_engine.atomic import temp_file
from ebm_engine.data.dataset import Dataset

MAGIC = b"\x93EBMDATA"
FORMAT_VERSION = 1
DATA_OFFSET = 4096
BLOCK = 4096
SAMPLE_BLOCKS = 16
_PREFIX = struct.Struct("<8sIIQQQ16s")

# Stored dtypes the file may hold (what Dataset accepts, by numpy name).
_DTYPES = ("uint8", "int16", "float16", "float32")

# Room left on the disk beyond the cache file itself.
DISK_MARGIN_BYTES = 256 * 1024**2


class CorruptCache(Exception):
    """A cache file failed its checks; the message says which."""


class CacheWriteError(Exception):
    """The cache file could not be written (read-only or full disk …)."""


def _sample_digest(fh: IO[bytes], header: bytes, data_bytes: int) -> bytes:
    """BLAKE2b-128 of ``header`` and up to :data:`SAMPLE_BLOCKS` data blocks."""
    digest = hashlib.blake2b(header, digest_size=16)
    digest.update(struct.pack("<Q", data_bytes))
    if data_bytes <= BLOCK * SAMPLE_BLOCKS:
        starts = [0] if data_bytes else []
        length = data_bytes
    else:
        last = data_bytes - BLOCK
        starts = [round(i * last / (SAMPLE_BLOCKS - 1)) for i in range(SAMPLE_BLOCKS)]
        length = BLOCK
    for start in starts:
        fh.seek(DATA_OFFSET + start)
        block = fh.read(length)
        if len(block) != length:
            raise CorruptCache("data shorter than its header says")
        digest.update(block)
    return digest.digest()


def open_cache_file(path: str | Path, key: str) -> Dataset:
    """Map a cache file as an encoded :class:`Dataset`, after checking it.

    Parameters
    ----------
    path : path
        The cache file.
    key : str
        The key it must have been written for.

    Returns
    -------
    Dataset
        Items memory-mapped copy-on-write (shared with every other process
        that maps the file; nothing is read until used).

    Raises
    ------
    FileNotFoundError
        No such file.
    CorruptCache
        The file failed a check (see the module docstring).
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        raw = fh.read(_PREFIX.size)
        if len(raw) < _PREFIX.size:
            raise CorruptCache(f"{size} bytes, shorter than the prefix")
        magic, version, _, data_offset, data_bytes, header_bytes, digest = _PREFIX.unpack(raw)
        if magic != MAGIC:
            raise CorruptCache("bad magic (not a cache file, or written only in part)")
        if version != FORMAT_VERSION:
            raise CorruptCache(f"format version {version}, expected {FORMAT_VERSION}")
        if data_offset != DATA_OFFSET or size != data_offset + data_bytes + header_bytes:
            raise CorruptCache(f"{size} bytes where the prefix says "
                               f"{data_offset + data_bytes + header_bytes} (truncated?)")
        fh.seek(data_offset + data_bytes)
        header_raw = fh.read(header_bytes)
        if _sample_digest(fh, header_raw, data_bytes) != digest:
            raise CorruptCache("checksum mismatch")
        try:
            header = json.loads(header_raw.decode("utf-8"))
            dtype, shape = header["dtype"], tuple(int(s) for s in header["shape"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptCache(f"unreadable header ({exc})") from None
        if header.get("key") != key:
            raise CorruptCache("written for another source or other settings")
        if dtype not in _DTYPES or math.prod(shape) * np.dtype(dtype).itemsize != data_bytes:
            raise CorruptCache(f"{dtype} {shape} does not fill {data_bytes} bytes")
        if not shape or shape[0] == 0:
            raise CorruptCache("no items")
        # mode "c" (copy-on-write): a read-only view of the page cache that
        # torch accepts without a warning; nothing ever writes to it.
        items = np.memmap(fh, dtype=dtype, mode="c", offset=data_offset, shape=shape)
    try:
        value_range = header.get("value_range")
        return Dataset(str(header["name"]), header["kind"], items,
                       tuple(float(v) for v in value_range) if value_range is not None else None,
                       dict(header.get("meta") or {}), scale=header.get("scale"),
                       offset=float(header.get("offset", 0.0)))
    except (KeyError, TypeError, ValueError) as exc:  # a header that passed the digest but lies
        raise CorruptCache(f"bad header ({exc})") from None


class CacheFileWriter:
    """An :class:`~ebm_engine.data.sinks.ItemSink` that writes a cache file.

    Items are written to a temporary file next to ``path`` with plain
    ``write`` calls (mapped writes would count the whole file in this
    process's resident memory), then the file is moved over ``path`` in
    one ``os.replace``: other processes see no file or a whole one.

    Parameters
    ----------
    path : path
        The cache file to create.
    key : str
        Stored in the header; :func:`open_cache_file` checks it.
    extra_meta : dict, optional
        Added to the dataset's ``meta`` in the header (the reader's name).

    Raises
    ------
    CacheWriteError
        From any method: the file could not be written; nothing is left behind.
    """

    def __init__(self, path: str | Path, key: str, extra_meta: dict[str, Any] | None = None):
        self.path = Path(path)
        self.key = key
        self.extra_meta = dict(extra_meta or {})
        self.tmp: Path | None = None
        self.fh: IO[bytes] | None = None
        self.dtype: np.dtype | None = None
        self.item_shape: tuple[int, ...] = ()
        self.count = 0

    def begin(self, count: int, item_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.dtype, self.item_shape, self.count = np.dtype(dtype), tuple(item_shape), 0
        if self.dtype.name not in _DTYPES:
            raise CacheWriteError(f"cannot cache items of dtype {self.dtype}")
        need = count * math.prod(item_shape) * self.dtype.itemsize
        try:
            free = shutil.disk_usage(self.path.parent).free
            if need + DISK_MARGIN_BYTES > free:
                raise CacheWriteError(f"{self.path.parent} has {free / 1e9:.1f} GB free; the "
                                      f"cache needs {need / 1e9:.1f} GB")
            self.tmp = temp_file(self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp")
            self.fh = open(self.tmp, "r+b")  # closed by finish() or abort()
            self.fh.write(b"\0" * DATA_OFFSET)
        except OSError as exc:
            self.abort()
            raise CacheWriteError(_why(exc, self.path.parent)) from None

    def put(self, items: np.ndarray) -> None:
        assert self.fh is not None and self.dtype is not None, "begin() first"
        if items.dtype != self.dtype or tuple(items.shape[1:]) != self.item_shape:
            self.abort()
            raise ValueError(f"items {items.dtype} {items.shape[1:]} do not match "
                             f"{self.dtype} {self.item_shape}")
        try:
            self.fh.write(np.ascontiguousarray(items).data)
        except OSError as exc:
            self.abort()
            raise CacheWriteError(_why(exc, self.path.parent)) from None
        self.count += len(items)

    def finish(self, name: str, kind: str, value_range: tuple[float, float] | None,
               meta: dict[str, Any], scale: float | None, offset: float) -> Dataset:
        assert self.fh is not None and self.tmp is not None and self.dtype is not None
        shape = (self.count, *self.item_shape)
        data_bytes = math.prod(shape) * self.dtype.itemsize
        header = {"key": self.key, "name": name, "kind": kind, "dtype": self.dtype.name,
                  "shape": list(shape), "scale": scale, "offset": offset,
                  "value_range": list(value_range) if value_range is not None else None,
                  "meta": {**meta, **self.extra_meta}}
        try:
            header_raw = json.dumps(header, default=_jsonable).encode("utf-8")
            self.fh.seek(DATA_OFFSET + data_bytes)
            self.fh.write(header_raw)
            self.fh.flush()
            digest = _sample_digest(self.fh, header_raw, data_bytes)
            self.fh.seek(0)
            self.fh.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, 0, DATA_OFFSET, data_bytes,
                                       len(header_raw), digest))
            self.fh.flush()
            os.fsync(self.fh.fileno())
            self.fh.close()
            self.fh = None
            os.replace(self.tmp, self.path)
            self.tmp = None
        except OSError as exc:
            self.abort()
            raise CacheWriteError(_why(exc, self.path.parent)) from None
        return open_cache_file(self.path, self.key)

    def abort(self) -> None:
        """Close and remove the temporary file (safe to call twice)."""
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass
            self.fh = None
        if self.tmp is not None:
            try:
                self.tmp.unlink()
            except OSError:
                pass
            self.tmp = None


def _jsonable(value: Any) -> Any:
    """JSON for the numpy values readers put in ``meta``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _why(exc: OSError, folder: Path) -> str:
    return f"cannot write to {exc.filename or folder} ({exc.strerror or type(exc).__name__})"
