"""The run directory: one format for the CLI, the app and cluster jobs.

::

    RUN/config.json        everything needed to rebuild the run (versioned)
    RUN/metrics.csv        one row per iteration; append-only
    RUN/events.jsonl       knob edits, rollbacks, warnings
    RUN/checkpoints/NAME/  see :mod:`ebm_engine.runs.checkpoint`
    RUN/checkpoints/latest the name of the newest complete checkpoint
    RUN/samples/latest.npz the latest sample snapshot (for followers)
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ebm_engine import atomic
from ebm_engine.config import RunConfig
from ebm_engine.errors import CheckpointError, ConfigError
from ebm_engine.runs import retention
from ebm_engine.runs.checkpoint import Checkpoint, load_checkpoint, missing_files

BASE_COLUMNS = ("iteration", "wall_time")
#: Times a reader of a run still training reads ``latest`` again when the checkpoint it
#: named was pruned away meanwhile (keep_checkpoints=1 and checkpoint_every=1 prune
#: one every iteration).
VANISHED_TRIES = 5

T = TypeVar("T")


class RunDir:
    """Paths and append-only logs of one run folder.

    Parameters
    ----------
    path : path
        The run folder (created by :meth:`create`).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._columns: list[str] | None = None

    # --- paths ---------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.csv"

    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    # --- life cycle ------------------------------------------------------------
    def exists(self) -> bool:
        return self.config_path.is_file()

    def create(self, cfg: RunConfig) -> RunDir:
        """Create the folder and write ``config.json`` (after :meth:`check_new`)."""
        self.make_folders()
        self.write_config(cfg)
        return self

    def make_folders(self) -> list[Path]:
        """Create the folder and its subfolders, but no ``config.json`` yet (after
        :meth:`check_new`): a trainer locks the folder before it writes anything.

        Returns
        -------
        list of Path
            What was made (the folder itself where it was new, else its subfolders),
            for :meth:`unmake` to remove if the run cannot begin.
        """
        self.check_new()
        made = [] if self.path.is_dir() else [self.path]
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            for folder in (self.checkpoints, self.samples):
                if not folder.is_dir():
                    folder.mkdir()
                    made.append(folder)
        except OSError as exc:
            self.unmake(made)
            raise ConfigError(f"cannot create run folder {self.path}: {exc.strerror}") from None
        return made

    def unmake(self, made: list[Path]) -> None:
        """Remove what :meth:`make_folders` made, and the files a run that failed before
        it saved anything put there (its lock, a half config): the same ``--out``
        then works again, instead of being "a folder of other files"."""
        import shutil

        from ebm_engine.runs.run_lock import LOCK_NAME

        for path in reversed(made):
            shutil.rmtree(path, ignore_errors=True)
        if self.path not in made:  # an empty folder the user gave: left, empty again
            for name in (LOCK_NAME, self.config_path.name):
                (self.path / name).unlink(missing_ok=True)

    def check_new(self) -> None:
        """Refuse an existing run and a folder that holds other files (a typo'd
        ``--out runs`` would fill it with a run).

        Raises
        ------
        ConfigError
            One line saying why, and what to do instead.
        """
        from ebm_engine.runs import run_lock, zoo

        zoo.check_outside(self.path)  # a new run there would be listed as a pretrained model
        if self.path.is_dir() and (holder := run_lock.held_by(self.path)) is not None:
            raise ConfigError(run_lock.busy(self.path, holder))
        if self.exists():
            if self.latest_checkpoint() is None:  # --resume has nothing to continue either
                raise ConfigError(f"{self.path} holds a run with no checkpoint yet (it stopped "
                                  "before its first, or is still starting), so there is "
                                  "nothing to resume; choose another --out, or delete that "
                                  "folder if nothing is writing to it")
            raise ConfigError(f"{self.path} already holds a run; use --resume or another --out")
        try:
            crowded = self.path.is_dir() and not all(map(_left_by_a_start, self.path.iterdir()))
        except OSError:
            crowded = False  # unreadable: create's mkdir says what is wrong
        if crowded:
            raise ConfigError(f"{self.path} is a folder of other files, not a run; give --out "
                              f"a new folder, e.g. {self.path / 'run1'}")

    def write_config(self, cfg: RunConfig) -> None:
        atomic.write_text(self.config_path, cfg.to_json() + "\n")

    def read_config(self) -> RunConfig:
        if not self.exists():
            raise CheckpointError(f"{self.path}: not a run folder (no config.json)")
        from ebm_engine.learning.saved_config import fit_saved_options

        return RunConfig.load(self.config_path, fit_saved_options)

    # --- logs --------------------------------------------------------------------
    def append_metrics(self, row: dict[str, Any]) -> None:
        """Append one row. The first row fixes the columns; a key first seen later (a
        run resumed by a version that records a new metric) extends the header
        (:meth:`_extend_columns`) instead of being dropped."""
        if self._columns is None:
            self._columns = self._read_header()
        new_file = self._columns is None
        if new_file:
            self._columns = list(BASE_COLUMNS) + [k for k in row if k not in BASE_COLUMNS]
        else:
            added = [k for k in row if k not in self._columns]
            if added:
                self._extend_columns(added)
        buf = io.StringIO()
        # LF, as truncate_metrics writes the rows it keeps: csv's default CRLF left a
        # resumed run's file with both, and every resume made it shrink
        writer = csv.writer(buf, lineterminator="\n")
        if new_file:
            writer.writerow(self._columns)
        writer.writerow([_fmt(row.get(c, "")) for c in self._columns])
        with open(self.metrics_path, "a", encoding="utf-8", newline="") as fh:
            fh.write(buf.getvalue())
            fh.flush()

    def _extend_columns(self, added: list[str]) -> None:
        """Rewrite ``metrics.csv`` (atomically) with ``added`` columns at the end, empty
        in the rows written before. Once per new key; a follower sees a new file and
        reads it again from the start, as after a resume's truncation."""
        with open(self.metrics_path, encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        width = len(self._columns)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self._columns + added)
        for cells in rows[1:]:
            # a torn last line (a killed writer) stays as torn: readers skip it
            writer.writerow(cells + [""] * len(added) if len(cells) == width else cells)
        atomic.write_text(self.metrics_path, buf.getvalue())
        self._columns = self._columns + added

    def _read_header(self) -> list[str] | None:
        if not self.metrics_path.is_file():
            return None
        with open(self.metrics_path, encoding="utf-8", newline="") as fh:
            header = next(csv.reader(fh), None)
        return header or None

    def read_metrics(self) -> list[dict[str, float]]:
        """All complete rows as dicts of floats (a torn last line is skipped)."""
        if not self.metrics_path.is_file():
            return []
        text = self.metrics_path.read_text(encoding="utf-8")
        return parse_metrics(text)

    def truncate_metrics(self, after_iteration: int) -> str:
        """Drop rows past ``after_iteration`` (a resumed run rewrites them).

        The kept rows end in LF, as appended rows do (older files appended CRLF;
        readers take both). A file that is not this format's (not text, or no
        ``iteration,…`` header: the resumed rows would be written under the wrong
        names) is moved aside to ``metrics.csv.damaged`` and a new one begun.
        Returns a line saying so, or "".
        """
        if not self.metrics_path.is_file():
            return ""
        try:
            text = self.metrics_path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            text = None
        lines = text.splitlines(keepends=True) if text is not None else []
        if text is not None and not lines:
            return ""
        if text is None or not lines[0].lstrip("\ufeff").startswith(f"{BASE_COLUMNS[0]},"):
            aside = retention.aside_name(self.metrics_path, ".damaged")  # an earlier one stays
            os.replace(self.metrics_path, aside)
            self._columns = None
            return (f"{self.metrics_path} was not a metrics file (no header row, or not text); "
                    f"moved aside to {aside.name}: the curves start again at this iteration")
        kept = [line for i, line in _complete_rows(lines) if i <= after_iteration]
        atomic.write_text(self.metrics_path, lines[0] + "".join(kept))
        return ""

    def set_metrics_aside(self, after_iteration: int) -> Path | None:
        """Copy the rows past ``after_iteration`` to ``metrics.csv.abandoned``
        (``.abandoned-2`` … where taken), under the file's header, before a run that
        goes back to an older checkpoint drops them (:meth:`truncate_metrics`): the
        curves of the checkpoints set aside stay readable. Returns the new file, or
        None when no row is past it (or the file is not this format's)."""
        if not self.metrics_path.is_file():
            return None
        try:
            lines = self.metrics_path.read_text(encoding="utf-8").splitlines(keepends=True)
        except UnicodeDecodeError:
            return None
        if not lines or not lines[0].lstrip("\ufeff").startswith(f"{BASE_COLUMNS[0]},"):
            return None
        later = [line for i, line in _complete_rows(lines) if i > after_iteration]
        if not later:
            return None
        aside = retention.aside_name(self.metrics_path, ".abandoned")  # an earlier one stays
        atomic.write_text(aside, lines[0] + "".join(later))
        return aside

    def append_event(self, kind: str, **fields: Any) -> None:
        """Append one JSON line ``{"time", "event", …}`` to ``events.jsonl``."""
        record = {"time": time.time(), "event": kind, **fields}
        line = json.dumps(record, default=str) + "\n"
        with open(self.events_path, "a+b") as fh:
            # a torn last line (a writer killed mid-append, a full disk) ends here,
            # or this event would be glued to it and lost to every reader
            if fh.seek(0, os.SEEK_END) > 0:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    line = "\n" + line
            fh.write(line.encode("utf-8"))
            fh.flush()

    def read_events(self) -> list[dict[str, Any]]:
        if not self.events_path.is_file():
            return []
        out = []
        for line in self.events_path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a torn last line of a run still being written
        return out

    # --- samples -----------------------------------------------------------------
    def write_samples(self, iteration: int, kind: str, samples: np.ndarray, energy: np.ndarray,
                      value_range: tuple[float, float] | None,
                      display: dict[str, np.ndarray] | None = None) -> None:
        """Atomically replace ``samples/latest.npz`` (what followers show).

        ``display`` holds what views need to show the samples (text and
        molecules: the vocabulary, as string arrays; never objects, so the
        file loads without pickle); stored as ``display_<name>``.
        """
        self.samples.mkdir(exist_ok=True)
        vr = np.asarray(value_range if value_range else (np.nan, np.nan), dtype=np.float32)
        extra = {f"display_{k}": np.asarray(v) for k, v in (display or {}).items()}

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as fh:
                np.savez(fh, iteration=np.int64(iteration), kind=np.str_(kind),
                         samples=samples, energy=energy, value_range=vr, **extra)

        atomic.write_with(self.samples / "latest.npz", write)

    def read_samples(self) -> dict[str, Any] | None:
        """``samples/latest.npz`` as written by :meth:`write_samples`, or ``None``.

        Raises
        ------
        CheckpointError
            The file is there but cannot be read (cut short, not an npz): one line.
        """
        import zipfile

        path = self.samples / "latest.npz"
        if not path.is_file():
            return None
        try:
            return self._read_samples(path)
        except (zipfile.BadZipFile, EOFError, ValueError, KeyError, OSError) as exc:
            why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise CheckpointError(f"{path}: the saved samples cannot be read ({why}); the "
                                  "training rewrites them, or draw new ones with ebm sample"
                                  ) from None

    @staticmethod
    def _read_samples(path: Path) -> dict[str, Any]:
        with np.load(path, allow_pickle=False) as z:
            vr = z["value_range"]
            return {
                "iteration": int(z["iteration"]),
                "kind": str(z["kind"]),
                "samples": z["samples"].copy(),
                "energy": z["energy"].copy(),
                "value_range": None if np.isnan(vr).any() else (float(vr[0]), float(vr[1])),
                "display": {k[len("display_"):]: z[k].copy() for k in z.files
                            if k.startswith("display_")},
            }

    # --- checkpoints -------------------------------------------------------------
    def checkpoint_path(self, iteration: int) -> Path:
        return self.checkpoints / f"iter_{iteration:07d}"

    def mark_latest(self, folder: Path) -> None:
        atomic.write_text(self.checkpoints / retention.LATEST_POINTER, folder.name + "\n")

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint folder, or ``None``.

        The one ``checkpoints/latest`` names if it is complete, else the
        highest-numbered complete ``iter_N`` folder.
        """
        folder = retention.latest_pointer(self.checkpoints)
        if folder is not None and (folder / "state.json").is_file():
            return folder
        done = retention.completed_checkpoints(self.checkpoints)
        return done[-1][1] if done else None

    def load_latest(self) -> tuple[Checkpoint, str]:
        """The newest checkpoint that can be read, and a note when it is not the latest.

        A damaged latest checkpoint (a corrupt safetensors file, a state.json cut
        short) does not strand the run: the newest older one that reads is
        returned with a one-line note naming both, so sampling, evaluating and
        resuming go on from there instead of asking for a hand-edited pointer.
        One that a training still going pruned away while it was read is not
        damaged: ``latest`` is read again (up to :data:`VANISHED_TRIES` times).

        Raises
        ------
        CheckpointError
            No checkpoint at all, or none that reads (the latest one's reason).
        """
        for attempt in range(VANISHED_TRIES):
            latest = self.latest_checkpoint()
            if latest is None:
                raise CheckpointError(f"{self.path}: run has no checkpoint yet")
            try:
                return load_checkpoint(latest), self._incomplete_note(latest)
            except CheckpointError as damaged:
                # pruned while being read (a training goes on): not damage, a newer one is there
                if attempt + 1 < VANISHED_TRIES and self._vanished(latest):
                    continue
                return self._older_than(latest, damaged)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    def _incomplete_note(self, used: Path) -> str:
        """A note where ``latest`` names a folder that is there but incomplete (its
        ``state.json`` gone) and ``used`` was taken instead, as for a damaged one."""
        named = retention.latest_pointer(self.checkpoints)
        if named is None or named == used or not named.is_dir() or missing_files(named) == []:
            return ""
        return (f"the latest checkpoint {named.name} is incomplete (missing "
                f"{', '.join(missing_files(named))}); using {used.name}, the newest one "
                "that is complete")

    def _vanished(self, folder: Path) -> bool:
        """Whether ``folder`` was pruned away (and ``latest`` now names another one)."""
        return bool(missing_files(folder)) and self.latest_checkpoint() not in (None, folder)

    def _older_than(self, latest: Path, damaged: CheckpointError) -> tuple[Checkpoint, str]:
        """The newest checkpoint before the damaged ``latest`` that reads, with a note."""
        newest = retention.checkpoint_iteration(latest.name)
        for iteration, older in reversed(retention.completed_checkpoints(self.checkpoints)):
            if older == latest or (newest is not None and iteration > newest):
                continue
            try:
                ckpt = load_checkpoint(older)
            except CheckpointError:
                continue
            return ckpt, (f"the latest checkpoint {latest.name} cannot be read "
                          f"({_reason(damaged, latest)}); using {older.name}, the newest "
                          f"one that can")
        raise damaged

    def copy_latest(self, copy: Callable[[Path], T]) -> tuple[T, Checkpoint, str]:
        """``copy(folder)`` of the newest readable checkpoint, again with the new latest
        where the run's training pruned that one away meanwhile.

        Parameters
        ----------
        copy : callable
            Copies a checkpoint folder; raises ``FileNotFoundError`` where a file
            it needs is gone (it must not pass an incomplete copy for a checkpoint:
            see :func:`ebm_engine.runs.checkpoint.missing_files`).

        Returns
        -------
        tuple
            What ``copy`` returned, the checkpoint copied and :meth:`load_latest`'s note.

        Raises
        ------
        CheckpointError
            No readable checkpoint, or each one tried vanished while it was copied.
        """
        for _ in range(VANISHED_TRIES):
            ckpt, note = self.load_latest()
            try:
                return copy(ckpt.path), ckpt, note
            except FileNotFoundError:
                if not missing_files(ckpt.path):  # the source is whole: something else is gone
                    raise
        raise CheckpointError(f"{self.path}: its latest checkpoint was replaced {VANISHED_TRIES} "
                              "times while it was being copied (a training still prunes "
                              "them); try again, or once it has stopped")

    def prune_checkpoints(self, keep_last: int, milestone_every: int = 0,
                          protect: Iterable[Path] = ()) -> list[Path]:
        """Delete old checkpoints, keeping the latest and those in ``protect``; see
        :func:`ebm_engine.runs.retention.prune_checkpoints`."""
        protect = [p for p in (self.latest_checkpoint(), *protect) if p is not None]
        return retention.prune_checkpoints(self.checkpoints, keep_last, milestone_every, protect)

    def disk_usage(self) -> int:
        """Bytes the run folder takes (for run summaries)."""
        return retention.disk_usage(self.path)


def _complete_rows(lines: list[str]) -> list[tuple[int, str]]:
    """``(iteration, line)`` of each complete row of ``metrics.csv``'s ``lines`` (the
    header, a torn last line and anything not led by an iteration are left out)."""
    rows = []
    for line in lines[1:]:
        head = line.split(",", 1)[0]
        if line.endswith("\n") and head.isdigit():
            rows.append((int(head), line))
    return rows


def _left_by_a_start(path: Path) -> bool:
    """Whether ``path`` (in a folder without ``config.json``) is what a run killed while
    starting left there: its lock file (nobody's: :meth:`RunDir.check_new` asked), or an
    empty ``checkpoints`` or ``samples`` folder (:meth:`RunDir.make_folders` makes them
    before it locks). A new run takes them over; anything else is not its to use."""
    from ebm_engine.runs.run_lock import LOCK_NAME

    if path.name == LOCK_NAME:
        return True
    if path.name not in ("checkpoints", "samples") or path.is_symlink() or not path.is_dir():
        return False
    try:
        return next(path.iterdir(), None) is None
    except OSError:
        return False


def _reason(exc: CheckpointError, folder: Path) -> str:
    """``exc``'s message without the folder it names (the note names it already)."""
    text = str(exc)
    for prefix in (f"{folder}{os.sep}", f"{folder}/", f"{folder}: "):
        if text.startswith(prefix):
            return text[len(prefix):]
    return text


def parse_metrics(text: str) -> list[dict[str, float]]:
    """Parse metrics CSV text, skipping a torn (unterminated) last line."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines = lines[:-1]
    rows = list(csv.reader(lines))
    if not rows:
        return []
    header, out = rows[0], []
    for row in rows[1:]:
        if len(row) != len(header):
            continue
        out.append({k: _num(v) for k, v in zip(header, row)})
    return out


def _fmt(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def _num(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


#: What a run folder owns at its top: an export may go beside these, not over them
#: (``data.json``: :data:`ebm_engine.runs.data_record.DATA_FILE`). A zoo entry's preview
#: ``samples.png`` is not one: a user's run has none (``RUN/samples.png`` is the user's
#: own name to take), and nothing is written in the zoo (:func:`zoo.check_outside`).
RUN_FILES = frozenset({"config.json", "metrics.csv", "events.jsonl", "eval.json", "zoo.json",
                       "data.json", "tensorboard", ".lock", "checkpoints", "samples"})


def check_not_the_runs(out: str | Path, source: str | Path) -> None:
    """Refuse an output path that would write over what a run keeps: its config,
    metrics, events, scores, data record, lock, checkpoints or saved samples, of the
    run (or checkpoint) ``source`` read or of any other run folder; a checkpoint
    outside a run, anywhere in its folder. New files of the user's beside them
    (``RUN/figures/final.png``) are fine.

    ``ebm sample --out RUN/metrics.csv`` replaced the run's training history with
    samples, and ``RUN/config.json`` its config (the app's Save dialog opens in the
    run folder, so it is checked there too); ``ebm export --run A --out
    B/metrics.csv`` did the same to another run.

    Raises
    ------
    ExportError
        ``out`` is one of those paths or lies inside one.
    ConfigError
        ``out`` lies inside the pretrained zoo (:func:`ebm_engine.runs.zoo.check_outside`).
    """
    from ebm_engine.errors import ExportError
    from ebm_engine.runs import zoo

    zoo.check_outside(out)  # the zoo is read-only, whichever run is read
    source = Path(os.path.expanduser(source))
    # realpath, not resolve(): a symlink loop is a path, not a RuntimeError
    target = Path(os.path.realpath(os.path.expanduser(out)))
    run = run_folder_of(source)
    owned: Path | None = None
    if run is None:  # a checkpoint on its own: all of it is the model
        checkpoint = Path(os.path.realpath(source))
        if target == checkpoint or checkpoint in target.parents:
            owned = checkpoint
    if owned is None:  # the nearest run folder above the target, the source's or another's
        owned = next((folder for folder in target.parents
                      if (folder / "config.json").is_file() and (folder / "checkpoints").is_dir()
                      and _owns(folder, target)), None)
    if owned is not None:
        raise ExportError(f"{out} would write over what the run in {owned} keeps; choose "
                          "another name or folder")


def _owns(run: Path, target: Path) -> bool:
    """Whether ``target`` (inside the run folder ``run``) is one of its own files."""
    first = target.relative_to(run).parts[0]
    return first in RUN_FILES or first.startswith("metrics.csv.")  # .damaged copies


def run_folder_of(path: str | Path) -> Path | None:
    """The run folder of a run or checkpoint path (``RUN/checkpoints/iter_N``).

    Parameters
    ----------
    path : path
        A run folder or one of its checkpoint folders (relative is fine).

    Returns
    -------
    Path or None
        The run folder; ``None`` for anything else (a checkpoint copied elsewhere).
    """
    path = Path(os.path.abspath(path))  # lexically: "iter_N" from inside checkpoints/ too
    for candidate in (path, path.parent.parent):
        if (candidate / "config.json").is_file() and (candidate / "checkpoints").is_dir():
            return candidate
    return None
