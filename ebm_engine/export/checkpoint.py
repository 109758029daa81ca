"""Copy a run's checkpoint folder to a new folder or a ``.zip`` file (``ebm export
--what checkpoint``, the app's Export → Checkpoint copy).

The files are copied into a hidden folder (or archive) beside the target, with a
name of its own, and renamed into place at the end: a full disk, a read-only
folder or Ctrl-C leaves nothing half-copied under the name asked for, and
nothing in the way of the next try. A folder is copied by
:func:`ebm_engine.runs.checkpoint.copy_checkpoint_folder`, as a fork copies one.
"""

from __future__ import annotations

import errno
import zipfile
from pathlib import Path

from ebm_engine.errors import ExportError
from ebm_engine.runs.checkpoint import FILES, copy_checkpoint_folder, missing_files

#: Archive names a copy cannot be written as (only ``.zip`` is): said, not made a folder.
OTHER_ARCHIVES = (".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")


def copy_checkpoint(src: str | Path, out: str | Path, run: str | Path | None = None) -> Path:
    """Copy the checkpoint folder ``src`` to the new folder ``out``, or into the new
    archive ``out`` where it ends in ``.zip``.

    Parameters
    ----------
    src : path
        A checkpoint folder (e.g. from
        :func:`~ebm_engine.learning.loading.readable_checkpoint`).
    out : path
        The folder or ``.zip`` file to create; its parent must exist. An archive
        holds the checkpoint's folder, so it unpacks to a folder ``--checkpoint``
        takes.
    run : path, optional
        The run ``src`` is the latest checkpoint of. Where that run's training
        prunes ``src`` while it is copied, its new latest checkpoint is copied
        instead (without ``run``: the copy fails). A copy never lacks a file
        of the checkpoint.

    Returns
    -------
    Path
        ``out``.

    Raises
    ------
    ExportError
        ``out`` exists, its folder does not, or a file could not be written
        (one line with the reason; nothing is left behind).
    """
    src, out = Path(src), Path(out)
    if out.exists():
        raise ExportError(f"{out} already exists; choose a new name")
    if not out.parent.is_dir():  # as every other export: no folders made on the way
        raise ExportError(f"cannot copy checkpoint to {out}: folder {out.parent} does not exist")
    if out.suffix.lower() in OTHER_ARCHIVES:  # .tar.gz too
        raise ExportError(f"cannot copy checkpoint to {out}: give a folder name, or a .zip "
                          "file for an archive")
    copy = _zip if out.suffix.lower() == ".zip" else copy_checkpoint_folder
    try:
        try:
            copy(src, out)
        except FileNotFoundError:
            if run is None or not missing_files(src):  # not a checkpoint pruned meanwhile
                raise
            from ebm_engine.runs.rundir import RunDir

            RunDir(run).copy_latest(lambda folder: copy(folder, out))
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        if isinstance(exc, FileNotFoundError) and exc.filename:  # which file was gone
            why = f"{why}: {exc.filename}"
        raise ExportError(f"cannot copy checkpoint to {out}: {why}") from None
    return out


def _whole(src: Path, names: set[str]) -> None:
    """Raise ``FileNotFoundError`` where a copy of ``src`` lacks one of its files (the
    checkpoint was pruned away while it was read)."""
    gone = [name for name in FILES if name not in names]
    if gone:
        raise FileNotFoundError(errno.ENOENT, "vanished while copied", str(src / gone[0]))


def _zip(src: Path, out: Path) -> None:
    """Write the archive ``out`` of the folder ``src`` (its files under ``src.name/``)."""
    from ebm_engine import atomic

    def write(tmp: Path) -> None:
        written = set()
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for entry in sorted(src.rglob("*")):
                if not entry.is_dir():  # a file that vanished meanwhile fails the copy
                    z.write(entry, Path(src.name, entry.relative_to(src)).as_posix())
                    written.add(entry.relative_to(src).as_posix())
        _whole(src, written)

    atomic.write_with(out, write)  # Ctrl-C or a full disk: no half archive left
