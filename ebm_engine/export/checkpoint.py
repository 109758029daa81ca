"""Copy a run's checkpoint folder to a new folder or a ``.zip`` file (``ebm export
--what checkpoint``, the app's Export → Checkpoint copy).

The files are copied into a hidden folder (or archive) beside the target, with a
name of its own, and renamed into place at the end: a full disk, a read-only
folder or Ctrl-C leaves nothing half-copied under the name asked for, and
nothing in the way of the next try.
"""

from __future__ import annotations

import os
import secrets
import shutil
import zipfile
from pathlib import Path

from ebm_engine.errors import ExportError

#: Archive names a copy cannot be written as (only ``.zip`` is): said, not made a folder.
OTHER_ARCHIVES = (".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar")


def copy_checkpoint(src: str | Path, out: str | Path) -> Path:
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
    if out.suffix.lower() == ".zip":
        return _zip(src, out)
    # a name of its own: a copy that was killed (or runs in another process) is not in the way
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.partial")
    try:
        _copy_tree(src, tmp)
        os.replace(tmp, out)
    except BaseException as exc:  # Ctrl-C too: never a half-copied folder left over
        shutil.rmtree(tmp, ignore_errors=True)
        if not isinstance(exc, OSError):
            raise
        why = exc.strerror or str(exc) or type(exc).__name__
        raise ExportError(f"cannot copy checkpoint to {out}: {why}") from None
    return out


def _zip(src: Path, out: Path) -> Path:
    """Write the archive ``out`` of the folder ``src`` (its files under ``src.name/``)."""
    from ebm_engine import atomic

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            for entry in sorted(src.rglob("*")):
                if entry.is_file():
                    z.write(entry, Path(src.name, entry.relative_to(src)).as_posix())

    try:
        atomic.write_with(out, write)  # Ctrl-C or a full disk: no half archive left
    except OSError as exc:
        why = exc.strerror or str(exc) or type(exc).__name__
        raise ExportError(f"cannot copy checkpoint to {out}: {why}") from None
    return out


def _copy_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` into the new folder ``dst``, stopping at the first failure.

    Not :func:`shutil.copytree`: it goes on after a failed file and then raises
    one error listing them all (a Python list, not a reason). Files get the
    umask's mode, as a new file would.
    """
    os.mkdir(dst)
    for entry in sorted(src.iterdir()):
        if entry.is_dir():
            _copy_tree(entry, dst / entry.name)
        else:
            shutil.copyfile(entry, dst / entry.name)
