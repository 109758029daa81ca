"""Copy a run's checkpoint folder to a new folder (``ebm export --what checkpoint``,
the app's Export → Checkpoint copy).

The files are copied into a hidden folder beside the target, with a name of
its own, and renamed into place at the end: a full disk, a read-only folder or
Ctrl-C leaves nothing half-copied under the name asked for, and nothing in the
way of the next try.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from ebm_engine.errors import ExportError


def copy_checkpoint(src: str | Path, out: str | Path) -> Path:
    """Copy the checkpoint folder ``src`` to the new folder ``out``.

    Parameters
    ----------
    src : path
        A checkpoint folder (e.g. from
        :func:`~ebm_engine.learning.loading.readable_checkpoint`).
    out : path
        The folder to create; its parent must exist.

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
        raise ExportError(f"{out} already exists; choose a new folder")
    if not out.parent.is_dir():  # as every other export: no folders made on the way
        raise ExportError(f"cannot copy checkpoint to {out}: folder {out.parent} does not exist")
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
