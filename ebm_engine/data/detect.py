"""Which reader reads a file or folder, decided by what it holds.

A file goes to the reader registered for its extension. A folder is read by
the reader whose files dominate it: every file under it (recursively,
hidden files and folders skipped) is counted for the reader that claims its
extension in a folder (:attr:`~ebm_engine.data.catalogue.ReaderInfo.folder_extensions`),
and the reader with at least :data:`MAJORITY` of the counted files wins.
Files no reader claims (``README.txt``, ``labels.csv``) are not counted.

A ``.ply`` file is a mesh when its header declares faces and a point cloud
otherwise (only its first 4 KiB are read). A ``.txt`` file is pedestrian
tracks when its first lines all hold ``frame agent x y`` numbers
(:func:`~ebm_engine.data.trajectory_files.looks_like_tracks`), sentences
otherwise.

The rule for a mixed folder: when no reader has two thirds of the readable
files (12 images and 10 meshes), nothing is guessed; the error lists the
counts and the ``data.options.reader`` values to choose from. A two-thirds
majority lets a stray file or two (a preview GIF in a folder of meshes) pass
without a question, while a real mix is never read half-way.
``data.options.reader`` always overrides the detection.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

from ebm_engine.data._collect import walk_files
from ebm_engine.data.catalogue import ReaderInfo, readers
from ebm_engine.data.ply import ply_declares_faces
from ebm_engine.errors import DataError

# Share of the readable files one reader needs to read a folder alone.
MAJORITY = Fraction(2, 3)

# Files looked at in one folder: enough to judge any real dataset, and a
# bound on the time an accidental "open my home folder" takes.
MAX_SCAN = 100_000

# Readers for a PLY with faces and without (both read either, differently).
_PLY_MESH, _PLY_POINTS = "mesh", "pointcloud"


def reader_info(name: str) -> ReaderInfo:
    """The registered reader called ``name``.

    Raises
    ------
    DataError
        No such reader (the message lists the known ones and the closest name).
    """
    from ebm_engine.suggest import did_you_mean

    found = {r.name: r for r in readers()}
    if name not in found:
        raise DataError(
            f"data.options.reader {name!r} is not one of {list(found)}"
            + did_you_mean(str(name), found)
        )
    return found[name]


def reader_label(name: str) -> str:
    """What a reader's items are called in messages (``meshes``); ``name`` if unknown."""
    return next((r.label for r in readers() if r.name == name), name)


def describe(reader: str, counts: dict[str, int]) -> str:
    """One phrase for the user: ``meshes (10 files)``."""
    n = counts.get(reader, 0)
    return f"{reader_label(reader)} ({n} file{'s' if n != 1 else ''})"


def count_files(path: str | Path) -> dict[str, int]:
    """Readable files under the folder ``path``, counted per reader.

    Parameters
    ----------
    path : str or Path
        A folder (a file counts as one file for the reader of its extension).

    Returns
    -------
    dict
        ``{reader name: files}``, most files first, only readers with files
        (at most :data:`MAX_SCAN` files are looked at).
    """
    path = Path(path)
    if not path.is_dir():
        info = _file_reader(path)
        return {info.name: 1} if info is not None else {}
    claims = _folder_claims()
    counts: dict[str, int] = {}
    for p in _scan(path):
        ext = os.path.splitext(p)[1].lower()
        name = claims.get(ext)
        if ext == ".ply":
            name = _PLY_MESH if ply_declares_faces(Path(p)) else _PLY_POINTS
        if name is not None:
            counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def detect_reader(path: str | Path) -> tuple[str, dict[str, int]]:
    """The reader for ``path``, and the files counted per reader.

    Parameters
    ----------
    path : str or Path
        A data file or folder.

    Returns
    -------
    reader : str
        Reader name (what ``data.options.reader`` takes).
    counts : dict
        ``{reader name: files}`` (``{reader: 1}`` for a file); show it with
        :func:`describe`.

    Raises
    ------
    DataError
        The path does not exist, has an unknown extension, holds no readable
        file, or is a mixed folder with no clear majority (the one-line
        message gives the counts and how to choose).
    """
    path = Path(path)
    if not path_exists(path):
        raise DataError(f"{path}: no such file or folder")
    if not path.is_dir():
        info = _file_reader(path)
        if info is None:
            known = sorted({e for r in readers() for e in r.extensions if e})
            raise DataError(
                f"{path}: unsupported file type {path.suffix.lower()!r} "
                f"(known: {' '.join(known)}, or a folder)"
            )
        return info.name, {info.name: 1}
    counts = count_files(path)
    total = sum(counts.values())
    if total == 0:
        looked = " ".join(sorted({e for r in readers() if r.auto for e in r.folder_extensions}))
        # "no images found" first: a folder of pictures is what most users expect to open.
        raise DataError(
            f"{path}: no images found, nor any other data file (looked for {looked} in all "
            "subfolders)"
        )
    best, n = next(iter(counts.items()))
    if n >= MAJORITY * total:
        return best, counts
    raise DataError(mixed_message(path, counts))


def mixed_message(path: str | Path, counts: dict[str, int]) -> str:
    """The one line for a folder with no clear majority."""
    held = [f"{n} {reader_label(name)}" for name, n in counts.items()]
    listing = held[0] if len(held) == 1 else ", ".join(held[:-1]) + " and " + held[-1]
    names = list(counts)
    others = f" (or {', '.join(names[1:])})" if len(names) > 1 else ""
    return (
        f"folder {path} holds {listing}; choose one with "
        f"--set data.options.reader={names[0]}{others}"
    )


def applicable_readers(path: str | Path) -> list[str]:
    """Readers that can read ``path``: those whose files it holds, most files
    first, then the readers only chosen by name that take its files (a
    folder of pictures may also be one video's frames)."""
    path = Path(path)
    if not path_exists(path):
        return []
    if not path.is_dir():
        ext = path.suffix.lower()
        return [
            r.name
            for r in readers()
            if r.reads_files and (ext in r.extensions or ext in r.folder_extensions)
        ]
    exts = {os.path.splitext(p)[1].lower() for p in _scan(path)}
    found = list(count_files(path))
    found += [r.name for r in readers() if r.name not in found and exts & set(r.folder_extensions)]
    return found


def path_exists(path: Path) -> bool:
    """``path.exists()``, False (not an exception) for a name too long or with a NUL byte."""
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the file system, a NUL byte
        return False


def _scan(folder: Path) -> list[str]:
    """Files under ``folder`` (hidden ones skipped), at most :data:`MAX_SCAN`."""
    return walk_files(folder, limit=MAX_SCAN)


def _file_reader(path: Path) -> ReaderInfo | None:
    ext = path.suffix.lower()
    if ext == ".txt":  # sentences or pedestrian tracks: the content decides
        from ebm_engine.data.trajectory_files import looks_like_tracks

        return reader_info("trajectories" if looks_like_tracks(path) else "text-lines")
    return next((r for r in readers() if ext and ext in r.extensions), None)


def _folder_claims() -> dict[str, str]:
    """Extension → the reader that counts it in a folder (first registered wins;
    ``.ply`` is decided per file)."""
    claims: dict[str, str] = {}
    for r in readers():
        if r.auto:
            for ext in r.folder_extensions:
                claims.setdefault(ext, r.name)
    return claims
