"""The decoded-dataset cache: decode a folder once, then map it in every process.

Decoding is the slow part of opening real data (100k PNGs, videos, meshes to
voxelise), and float32 copies of it do not fit in RAM past a few GB, let alone
one per ``torchrun`` rank. So a folder or file read by one of the slow
readers (:attr:`~ebm_engine.data.catalogue.ReaderInfo.cacheable`) is decoded
once, in its compact stored form (8-bit pixels, occupancy bytes …), into a
cache file (:mod:`ebm_engine.data.cachefile`). Later runs, resumes,
evaluations and the other ranks of a job map that file: start-up costs a
listing of the folder, and the OS keeps one copy of the items in its page
cache for all of them. Batches are converted to float when drawn
(:meth:`~ebm_engine.data.dataset.Dataset.take`).

Where
    ``data.options.cache_dir`` if set, else ``$EBM_CACHE_DIR``, else
    ``ebm-studio/datasets`` in the user's cache folder (``$XDG_CACHE_HOME``
    or ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS,
    ``%LOCALAPPDATA%`` on Windows). ``data.options.cache = false`` turns the
    cache off for a run (items are decoded into memory, as before).

Key
    A file's name is ``<source name>-<identity>-<state>.ebmc``. The identity
    hashes the source's absolute path and every setting that changes the
    decoded values (``image_size``, ``grayscale``, ``crop``, ``max_items``,
    ``options`` other than the cache's own, and :data:`DECODER_VERSION`);
    the state hashes the relative path, size, mtime and ctime of every data
    file under the source (files of an extension some reader reads; hidden
    ones skipped, as the readers skip them). Editing, adding, deleting or
    renaming a data file changes the state, so the old file no longer
    matches; it is deleted when the new one is written. A rewrite that keeps
    a file's size within one tick of the file system's clock goes unnoticed.
    Opening a file sets its access time; building one deletes the files not
    opened for :data:`UNUSED_DAYS` days (their sources moved or went away).

Several processes
    The first process to need a missing file creates ``<file>.lock`` with
    ``O_CREAT | O_EXCL`` and builds; the others wait, polling, then map the
    finished file. The builder touches the lock while it decodes; a lock
    whose owner died (same host: its pid is gone; another host: not touched
    for :data:`STALE_LOCK_SECONDS`) is broken and the waiter builds. A
    waiter gives up after ``data.options.cache_wait`` seconds (default
    :data:`DEFAULT_WAIT_SECONDS`) and decodes into its own memory.

Failures never stop a run
    A cache folder that cannot be created or written (read-only, full disk)
    or a lock that cannot be taken gives a :class:`DataCacheWarning` and the
    in-memory path. A file that fails its checks (truncated, damaged,
    written for other settings) gives a warning and is rebuilt, never used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import socket
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ebm_engine.config import DataConfig
from ebm_engine.data import progress
from ebm_engine.data._collect import forget_listing, walk_files
from ebm_engine.data.cachefile import (
    CacheFileWriter,
    CacheWriteError,
    CorruptCache,
    open_cache_file,
)
from ebm_engine.data.catalogue import ReaderInfo, readers
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError

# Bump when a reader's decoding changes: every existing cache file then misses.
DECODER_VERSION = 2  # 2: transparency composited on black

# data.options keys that say where and whether to cache, not what is decoded.
CACHE_OPTIONS = ("cache", "cache_dir", "cache_wait")

ENV_CACHE_DIR = "EBM_CACHE_DIR"
SUFFIX = ".ebmc"
DEFAULT_WAIT_SECONDS = 3600.0
STALE_LOCK_SECONDS = 120.0
POLL_SECONDS = 0.2
# A waiter says once that it waits, after this long.
ANNOUNCE_WAIT_SECONDS = 2.0
# Temporary files of builders that died are removed after this long.
STALE_TEMP_SECONDS = 24 * 3600.0
# A cache file not opened for this long is removed when another one is built.
UNUSED_DAYS = 30.0


class DataCacheWarning(UserWarning):
    """The cache could not be used; the run goes on with data in memory."""


@dataclass(frozen=True)
class CacheSettings:
    """Whether and where a dataset is cached (from ``data.options`` and the environment).

    Attributes
    ----------
    enabled : bool
        ``data.options.cache`` (default true).
    folder : Path
        The cache folder.
    wait_seconds : float
        How long to wait for another process's build.
    """

    enabled: bool
    folder: Path
    wait_seconds: float


def default_cache_dir() -> Path:
    """``$EBM_CACHE_DIR``, else ``ebm-studio/datasets`` in the user's cache folder."""
    env = os.environ.get(ENV_CACHE_DIR)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "ebm-studio" / "datasets"


def settings(cfg: DataConfig) -> CacheSettings:
    """The cache settings of ``cfg``.

    Raises
    ------
    DataError
        ``data.options.cache``, ``cache_dir`` or ``cache_wait`` of the wrong type.
    """
    opts = cfg.options
    enabled = opts.get("cache", True)
    if not isinstance(enabled, bool):
        raise DataError(f"data.options.cache must be true or false, got {enabled!r}")
    folder = opts.get("cache_dir")
    if folder is not None and (not isinstance(folder, str) or not folder):
        raise DataError(f"data.options.cache_dir must be a folder path, got {folder!r}")
    wait = opts.get("cache_wait", DEFAULT_WAIT_SECONDS)
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not wait >= 0:
        raise DataError(f"data.options.cache_wait must be seconds >= 0, got {wait!r}")
    where = Path(folder).expanduser() if folder else default_cache_dir()
    return CacheSettings(enabled, where, float(wait))


# --- the key -------------------------------------------------------------------


def _data_extensions() -> set[str]:
    """Extensions any reader reads: the files whose change can change a dataset."""
    exts: set[str] = set()
    for r in readers():
        exts.update(e for e in r.extensions if e)
        exts.update(r.folder_extensions)
    return exts


def source_state(path: Path, skip: Path | None = None) -> tuple[str, int]:
    """Hash of the data files' relative paths, sizes and times; and their count
    (what tells the data at ``path`` from an edited copy: the cache's key, and the
    session's molecule properties)."""
    if not path.is_dir():
        st = path.stat()
        line = f"{path.name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n"
        return hashlib.sha256(line.encode("utf-8", "surrogateescape")).hexdigest(), 1
    root = os.fspath(path)
    skip_prefix = os.fspath(skip) + os.sep if skip is not None else None
    cut = len(root) + (0 if root.endswith(os.sep) else 1)
    files = walk_files(root, _data_extensions())
    files.sort()  # in place, and hashed row by row: no second 100k-string list
    digest = hashlib.sha256()
    count = 0
    for p in files:
        if skip_prefix is not None and p.startswith(skip_prefix):
            continue  # a cache folder kept inside the data folder
        try:
            st = os.stat(p)
        except OSError:  # deleted while we looked: it is not part of the data
            continue
        row = f"{p[cut:]}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n"
        digest.update(row.encode("utf-8", "surrogateescape"))
        count += 1
    return digest.hexdigest(), count


def _identity(path: Path, cfg: DataConfig) -> str:
    """Hash of the source and of the settings that change the decoded values."""
    decoded = {
        "decoder": DECODER_VERSION,
        "source": os.fspath(path),
        "image_size": cfg.image_size,
        "grayscale": cfg.grayscale,
        "crop": cfg.crop,
        "max_items": cfg.max_items,
        # reader "" is what the app sends for "detect": the same data as no reader.
        "options": {k: v for k, v in cfg.options.items()
                    if k not in CACHE_OPTIONS and not (k == "reader" and not v)},
    }
    text = json.dumps(decoded, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def _slug(path: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", path.name or "data").strip("._") or "data"
    return name[:40]


# --- one cache entry -------------------------------------------------------------


@dataclass(frozen=True)
class CacheEntry:
    """The cache file of one source under one set of settings, as it is now.

    Build one with :func:`entry_for`; :meth:`open` maps it if it is there
    and sound, :meth:`build` makes it (once per machine, under a lock).
    """

    source: Path
    file: Path
    key: str
    files: int
    wait_seconds: float

    @property
    def lock(self) -> Path:
        return self.file.with_name(self.file.name + ".lock")

    def open(self, report: bool = True) -> Dataset | None:
        """The mapped dataset, or ``None`` when there is no sound file (a
        damaged one is reported with a warning unless ``report`` is false;
        :meth:`build` replaces it)."""
        try:
            dataset = open_cache_file(self.file, self.key)
        except (FileNotFoundError, NotADirectoryError):  # no file (yet), or no folder
            return None
        except (CorruptCache, OSError) as exc:
            if report:
                why = exc.strerror or exc if isinstance(exc, OSError) else exc
                warnings.warn(f"data cache {self.file} is not sound ({why}); decoding "
                              f"{self.source} again", DataCacheWarning, stacklevel=2)
            return None
        dataset.meta["cache"] = {"file": str(self.file), "built": False}
        _mark_used(self.file)
        return dataset

    def build(self, info: ReaderInfo, cfg: DataConfig) -> Dataset | None:
        """Decode the source into the cache file, or wait for the process that does.

        Returns
        -------
        Dataset or None
            The mapped dataset; ``None`` (after a :class:`DataCacheWarning`)
            when the cache cannot be used, and the caller decodes into memory.

        Raises
        ------
        DataError
            The reader's own errors (an unreadable file …), as without a cache.
        """
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _fallback(f"cannot create the cache folder {self.file.parent} "
                             f"({exc.strerror or exc})", self.source)
        deadline = time.monotonic() + self.wait_seconds
        announced = False
        waited_since = time.monotonic()
        while True:
            # load() reported a damaged file already; a rebuild in progress
            # elsewhere must not repeat that every poll.
            dataset = self.open(report=False)
            if dataset is not None:
                return dataset
            try:
                token = _try_lock(self.lock)
            except OSError as exc:
                return _fallback(f"cannot create the lock {self.lock} ({exc.strerror or exc})",
                                 self.source)
            if token is not None:
                try:
                    dataset = self.open(report=False)  # finished while we took the lock
                    return dataset if dataset is not None else self._build_locked(info, cfg)
                finally:
                    _unlock(self.lock, token)
            if _break_if_stale(self.lock):
                continue
            now = time.monotonic()
            if now >= deadline:
                return _fallback(f"waited {self.wait_seconds:.0f} s for another process to "
                                 f"build {self.file} (lock {self.lock})", self.source)
            if not announced and now - waited_since >= ANNOUNCE_WAIT_SECONDS and progress.is_first_rank():
                announced = True
                sys.stderr.write(f"waiting for another process to decode {self.source} into "
                                 f"the cache {self.file}\n")
            time.sleep(POLL_SECONDS)

    def _build_locked(self, info: ReaderInfo, cfg: DataConfig) -> Dataset | None:
        _remove_stale_files(self.file.parent)
        writer = CacheFileWriter(self.file, self.key, {"reader": info.name})
        started = time.monotonic()
        try:
            with progress.decoding(f"decoding {self.source.name or self.source} (cached)",
                                   heartbeat=lambda: _touch(self.lock)):
                if info.stream is not None:
                    dataset = info.stream(self.source, cfg, writer)
                else:
                    from ebm_engine.data.sinks import write_dataset

                    dataset = write_dataset(info.loader(self.source, cfg), writer)
        except CacheWriteError as exc:
            return _fallback(str(exc), self.source)
        except BaseException:
            writer.abort()
            raise
        dataset.meta["cache"] = {"file": str(self.file), "built": True,
                                 "seconds": round(time.monotonic() - started, 3)}
        self._remove_older_versions()
        return dataset

    def _remove_older_versions(self) -> None:
        """Delete this source's files for earlier states (processes mapping them keep them)."""
        prefix = self.file.name.rsplit("-", 1)[0] + "-"
        for old in self.file.parent.glob(f"{glob_escape(prefix)}*{SUFFIX}"):
            if old != self.file:
                with contextlib.suppress(OSError):
                    old.unlink()


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped (slugs hold only ``[A-Za-z0-9._-]``)."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def entry_for(path: Path, cfg: DataConfig, folder: Path,
              wait_seconds: float = DEFAULT_WAIT_SECONDS) -> CacheEntry:
    """The cache entry for reading ``path`` with ``cfg`` (lists and stats the data files).

    Raises
    ------
    OSError
        The source cannot be listed.
    """
    source = Path(os.path.abspath(path))
    try:
        skip = Path(os.path.abspath(folder))
    except OSError:
        skip = None
    state, files = source_state(source, skip)
    identity = _identity(source, cfg)
    name = f"{_slug(source)}-{identity[:16]}-{state[:16]}{SUFFIX}"
    return CacheEntry(source, folder / name, f"{identity}:{state}", files, wait_seconds)


def load(path: Path, cfg: DataConfig, reader: Callable[[], ReaderInfo]) -> Dataset | None:
    """The dataset at ``path`` through the cache, or ``None`` to read it into memory.

    Parameters
    ----------
    path : Path
        The source (a folder or file that exists).
    cfg : DataConfig
        Its settings.
    reader : callable
        Returns the reader for ``path`` (called only when the cache misses,
        so a hit skips the content detection).

    Returns
    -------
    Dataset or None
        ``None`` when caching is off, the reader is not a cacheable one, or
        the cache cannot be used (after a :class:`DataCacheWarning`).
    """
    config = settings(cfg)
    if not config.enabled:
        return None
    try:
        entry = entry_for(path, cfg, config.folder, config.wait_seconds)
    except OSError as exc:
        return _fallback(f"cannot list {path} ({exc.strerror or exc})", path)
    forget_listing()  # the key was the last use of the folder's listing before a hit
    dataset = entry.open()
    if dataset is not None:
        return dataset
    info = reader()
    if not info.cacheable:
        return None
    return entry.build(info, cfg)


# --- the lock --------------------------------------------------------------------


def _try_lock(lock: Path) -> str | None:
    """Create ``lock`` exclusively; its token, or ``None`` when another process holds it."""
    token = f"{socket.gethostname()} {os.getpid()} {time.time():.3f} {os.urandom(4).hex()}"
    try:
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token)
    return token


def _unlock(lock: Path, token: str) -> None:
    """Remove ``lock`` if it is still ours (a waiter may have broken it as stale)."""
    with contextlib.suppress(OSError):
        if lock.read_text(encoding="utf-8") == token:
            lock.unlink()


def _touch(lock: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(lock)


def _lock_is_stale(lock: Path) -> bool:
    try:
        st = lock.stat()
        owner = lock.read_text(encoding="utf-8").split()
    except OSError:
        return False  # gone: not stale, just free
    if len(owner) >= 2 and owner[0] == socket.gethostname():
        try:
            os.kill(int(owner[1]), 0)
        except ProcessLookupError:
            return True
        except (PermissionError, ValueError):
            pass  # alive (another user's process), or a lock we cannot read: go by age
        else:
            return False
    return time.time() - st.st_mtime > STALE_LOCK_SECONDS


def _break_if_stale(lock: Path) -> bool:
    """Remove a lock whose owner is gone; whether it was removed."""
    if not _lock_is_stale(lock):
        return False
    # Rename first: of several waiters that judged it stale, one wins.
    aside = lock.with_name(f"{lock.name}.stale.{os.getpid()}.{os.urandom(4).hex()}")
    try:
        os.rename(lock, aside)
    except OSError:
        return False
    with contextlib.suppress(OSError):
        aside.unlink()
    return True


# --- helpers ---------------------------------------------------------------------------


def _fallback(why: str, source: Path) -> None:
    warnings.warn(f"data cache not used: {why}; decoding {source} into memory",
                  DataCacheWarning, stacklevel=3)
    return None


def _mark_used(file: Path) -> None:
    """Set the file's access time to now (its modification time stays the build's)."""
    with contextlib.suppress(OSError):  # a read-only cache folder is still usable
        os.utime(file, ns=(time.time_ns(), file.stat().st_mtime_ns))


def _remove_stale_files(folder: Path) -> None:
    """Remove what builders that died left behind, and files unused for
    :data:`UNUSED_DAYS` (sources deleted or moved leave theirs for ever)."""
    now = time.time()
    for tmp in folder.glob(f".*{SUFFIX}.*.tmp"):
        with contextlib.suppress(OSError):
            if now - tmp.stat().st_mtime > STALE_TEMP_SECONDS:
                tmp.unlink()
    for old in folder.glob(f"*{SUFFIX}"):
        with contextlib.suppress(OSError):
            if now - old.stat().st_atime > UNUSED_DAYS * 86400:
                old.unlink()


def describe(dataset: Dataset) -> str:
    """One phrase about where ``dataset``'s items come from (for logs)."""
    info: dict[str, Any] | None = dataset.meta.get("cache")
    if not info:
        return "decoded into memory"
    if info.get("built"):
        return f"decoded into the cache {info['file']} in {info.get('seconds', 0):.1f} s"
    return f"mapped from the cache {info['file']}"
