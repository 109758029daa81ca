"""The Export menu: only the formats that fit the samples on screen, written by the engine.

============  ==================================================
data kind     sample exports
============  ==================================================
image         PNG grid, chain animation (GIF, MP4)
points (2D)   PNG scatter, chain animation (GIF, MP4)
video         clips (MP4, GIF)
voxel         meshes (STL, OBJ, PLY), turntable (MP4, GIF)
pointcloud    points (PLY), turntable (MP4, GIF)
trajectory    CSV, JSON, scenes picture (PNG), chain animation (GIF, MP4)
============  ==================================================

A copy of the run's latest checkpoint and its metrics (CSV) are always
offered. Errors are one sentence, through ``sigError``.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from app.gui_gc import collect_on_gui_thread
from ebm_engine.data.dataset import KINDS
from ebm_engine.errors import EBMError
from ebm_engine.export.trajectory import PICTURE_CELLS
from ebm_engine.learning.events import SamplesReady

KINDS_3D = ("voxel", "pointcloud")


@dataclass(frozen=True)
class Entry:
    """One menu entry: ``text`` is what the menu shows, ``&`` before its Alt+letter
    mnemonic; ``what`` is ``grid`` (the samples), ``chain``, ``turntable``,
    ``checkpoint`` or ``metrics``; ``kinds`` the data kinds it fits (empty: all)."""

    text: str
    what: str
    ext: str
    kinds: tuple[str, ...] = ()
    tip: str = ""  # what the file holds, where the label cannot say

    @property
    def label(self) -> str:
        """The entry's words without the mnemonic marker (for tooltips, messages, look-ups)."""
        return self.text.replace("&", "", 1)


ALL_IN_ONE = ("All the samples in one file, side by side on a grid (ebm sample --each "
              "writes one file per sample)")


CHAINS = ("The recorded chains (at most the first 8 samples) step by step; for every sample's "
          "chain: ebm sample --out NAME.gif")


# Mnemonics are unique among the entries shown together: one kind's, the three every
# kind has (NPZ, Checkpoint, Metrics) and "Sample from my &picture…". GIF is G and MP4
# is 4 throughout (M is Metrics, P the picture); with nothing shown every entry is
# listed, but only the enabled ones answer a key.
ENTRIES = (
    Entry("&Sample grid (PNG)…", "grid", ".png", ("image", "points")),
    Entry("Chain animation (&GIF)…", "chain", ".gif", ("image", "points"), CHAINS),
    Entry("Chain animation (MP&4)…", "chain", ".mp4", ("image", "points"), CHAINS),
    Entry("Video clips (MP&4)…", "grid", ".mp4", ("video",)),
    Entry("Video clips (&GIF)…", "grid", ".gif", ("video",)),
    Entry("Meshes (&STL)…", "grid", ".stl", ("voxel",), ALL_IN_ONE),
    Entry("Meshes (&OBJ)…", "grid", ".obj", ("voxel",), ALL_IN_ONE),
    Entry("Meshes (P&LY)…", "grid", ".ply", ("voxel",), ALL_IN_ONE),
    Entry("Point clouds (P&LY)…", "grid", ".ply", ("pointcloud",), ALL_IN_ONE),
    Entry("Point clouds (&XYZ text)…", "grid", ".xyz", ("pointcloud",), ALL_IN_ONE),
    Entry("Sample &views (PNG)…", "grid", ".png", KINDS_3D,
          "Each sample as a depth-shaded three-quarter view (z up), drawn without OpenGL as "
          "ebm sample draws it; for the 3D view's own look, export a turntable"),
    Entry("Sentences (&TXT)…", "grid", ".txt", ("text",)),
    Entry("Sentences &as a picture (PNG)…", "grid", ".png", ("text",)),
    Entry("Molecules (&SMILES)…", "grid", ".smi", ("molecule",)),
    Entry("Molecules (S&DF)…", "grid", ".sdf", ("molecule",)),
    Entry("Molecule &grid (PNG)…", "grid", ".png", ("molecule",)),
    Entry("&Trajectories (CSV)…", "grid", ".csv", ("trajectory",)),
    Entry("Trajectories with scenes (&JSON)…", "grid", ".json", ("trajectory",)),
    Entry("Trajectories &in their scenes (PNG)…", "grid", ".png", ("trajectory",),
          f"The first {PICTURE_CELLS} samples, each in its scene (CSV, JSON and NPZ hold "
          "every sample)"),
    Entry("Chain of trajectories (&GIF)…", "chain", ".gif", ("trajectory",)),
    Entry("Chain of trajectories (MP&4)…", "chain", ".mp4", ("trajectory",)),
    Entry("Turntable of a 3D sample (MP&4)…", "turntable", ".mp4", KINDS_3D,
          "The sample you clicked last (else the first), turning once"),
    Entry("Turntable of a 3D sample (&GIF)…", "turntable", ".gif", KINDS_3D,
          "The sample you clicked last (else the first), turning once"),
    Entry("Samples as arrays (&NPZ)…", "grid", ".npz", KINDS,  # every kind writes an .npz
          "The samples as numpy arrays in model space: samples, energy, value_range, the "
          "recorded chains as chain (at most the first 8 samples; a conditional model's "
          "answers as samples, its picture strip as strip) and what reads them (a vocabulary, "
          "scenes) as display_…: numpy.load(path)"),
    Entry("&Checkpoint copy…", "checkpoint", ""),
    Entry("&Metrics (CSV)…", "metrics", ".csv"),
)


def formats_for(kind: str) -> list[Entry]:
    """The sample entries that fit ``kind``."""
    return [e for e in ENTRIES if kind in e.kinds]


class ExportMenu(QMenu):
    """``&Export``: entries enabled by the current snapshot's data kind.

    Parameters
    ----------
    run_dir : callable
        Returns the current run folder (or ``None``).
    chain_index : callable
        Returns the sample last clicked (for turntables), or ``None``.
    """

    sigError = Signal(str)
    sigExported = Signal(str)  # a line for the log
    sigSampled = Signal(object)  # a SamplesReady from "Sample from my picture…" (app.user_picture)
    _sigPictureDone = Signal(object)  # the picture worker's result, queued to the GUI thread

    def __init__(self, run_dir: Callable[[], Path | None], chain_index: Callable[[], int | None],
                 parent: QWidget | None = None):
        super().__init__("&Export", parent)
        collect_on_gui_thread()  # "Sample from my picture" runs on a worker (app.gui_gc)
        self._run_dir = run_dir
        self._chain_index = chain_index
        self.snapshot: SamplesReady | None = None
        self.last_folder: Path | None = None  # where the last export went: the next starts there
        self.actions_by_label = {}
        for entry in ENTRIES:
            if entry.what == "checkpoint":
                self.addSeparator()
            action = self.addAction(entry.text)
            action.setToolTip(entry.tip or entry.label.rstrip("…"))
            action.triggered.connect(lambda _=False, e=entry: self.ask(e))
            self.actions_by_label[entry.label] = action
        self.addSeparator()
        self.setToolTipsVisible(True)  # what a file holds, where its label cannot say
        self.picture_action = self.addAction("Sample from my &picture…")
        self.picture_action.setToolTip("Apply this run's conditional model to your own picture "
                                       "(inpainting, saliency, translation) or a class label")
        self.picture_action.triggered.connect(lambda _=False: self.sample_from_picture())
        self._picture_thread: threading.Thread | None = None
        self._picture_pending = False
        self._sigPictureDone.connect(self._picture_done, Qt.ConnectionType.QueuedConnection)
        self.aboutToShow.connect(self.refresh_run_entries)
        self.set_snapshot(None)

    def refresh_run_entries(self) -> None:
        """Enable the entries that need a run only where the current run has what they
        copy or use: a checkpoint, a metrics.csv, a model that takes a condition."""
        from app.samples_shown import checkpoint_kind
        from ebm_engine.runs.rundir import RunDir

        run = self._run_dir()
        folder = RunDir(run) if run is not None else None
        has_ckpt = folder is not None and (folder.latest_checkpoint() is not None
                                           or (run / "model.safetensors").is_file())
        has_metrics = folder is not None and folder.metrics_path.is_file()
        self.actions_by_label["Checkpoint copy…"].setEnabled(has_ckpt)
        self.actions_by_label["Metrics (CSV)…"].setEnabled(has_metrics)
        method = ""
        if folder is not None and folder.exists():
            try:
                method = folder.read_config().train.method
            except EBMError:
                method = ""
        takes = method == "conditional_coop" or (method == "cycle_coop"
                                                  and checkpoint_kind(run) == "image")
        self.picture_action.setEnabled(takes and not self.picture_busy)
        self.picture_action.setToolTip(
            "Apply this run's conditional model to your own picture (inpainting, saliency, "
            "translation) or a class label" if takes else
            "Open or train a conditional run first (inpainting, saliency, class-conditional "
            "or translation; a zoo entry such as digits-inpainting works)")

    def sample_from_picture(self) -> bool:
        """Ask for a picture (or label), then sample the run's model from it on a
        worker thread; the draws arrive through ``sigSampled``, a bad input through
        ``sigError``. Returns whether sampling started (``False``: cancelled or refused)."""
        from app.user_picture import ask

        if self.picture_busy:
            return False
        try:
            request = ask(self.parentWidget(), self._run_dir())
        except EBMError as exc:
            self.sigError.emit(str(exc))
            return False
        if request is None:
            return False
        self.picture_action.setEnabled(False)  # one at a time
        self._picture_pending = True
        self.sigExported.emit("sampling from your input…")
        self._picture_thread = threading.Thread(target=self._sample_picture, args=(request,),
                                                name="ebm-picture", daemon=True)
        self._picture_thread.start()
        return True

    @property
    def picture_busy(self) -> bool:
        """A "Sample from my picture…" answer has not reached the GUI thread yet (the
        worker's end is not the mark: it may still be exiting after it answered)."""
        return self._picture_pending

    def join_picture(self, timeout: float = 30.0) -> None:
        """Wait for a running "Sample from my picture…" worker (closing the window)."""
        if self._picture_thread is not None:
            self._picture_thread.join(timeout)

    def _sample_picture(self, request) -> None:
        """Worker thread: sample, then hand the result to the GUI thread (queued signal)."""
        from app.user_picture import picture_snapshot

        try:
            result = picture_snapshot(request.loaded, request.condition, request.mask,
                                      request.direction)
        except EBMError as exc:
            result = str(exc)
        except Exception as exc:  # noqa: BLE001 (a worker must always answer)
            result = f"Sampling from your picture failed: {exc}"
        self._sigPictureDone.emit(result)

    def _picture_done(self, result) -> None:
        """GUI thread: show the draws (or the error) and enable the action again."""
        self._picture_pending = False
        self.picture_action.setEnabled(True)
        if isinstance(result, str):
            self.sigError.emit(result)
            return
        snap, notes = result
        for note in notes:
            self.sigExported.emit(f"note: {note}")
        self.sigExported.emit(f"sampled {len(snap.samples)} draws from your input")
        self.sigSampled.emit(snap)

    def set_snapshot(self, snapshot: SamplesReady | None) -> None:
        """Enable the sample entries that fit ``snapshot``'s kind (none for a data preview)
        and hide the others: a digits model's menu listed 20 greyed entries for meshes,
        molecules and trajectories. A data preview shows its kind's entries, disabled;
        with nothing shown, every entry shows, disabled."""
        self.snapshot = snapshot if snapshot is None or snapshot.origin != "preview" else None
        kind = self.snapshot.kind if self.snapshot is not None else ""
        shown = snapshot.kind if snapshot is not None else ""  # a data preview's too
        for entry in ENTRIES:
            action = self.actions_by_label[entry.label]
            action.setEnabled(not entry.kinds or kind in entry.kinds)
            action.setVisible(not entry.kinds or not shown or shown in entry.kinds)

    def ask(self, entry: Entry) -> Path | None:
        """Ask for a file (a folder name for a checkpoint copy), then :meth:`export`."""
        title = "Copy checkpoint to a new folder" if entry.what == "checkpoint" else "Export"
        filt = f"{entry.ext[1:].upper()} (*{entry.ext})" if entry.ext else ""
        start = str(self.suggested_path(entry))
        path, _ = QFileDialog.getSaveFileName(self.parentWidget(), title, start, filt)
        if not path:
            return None
        if entry.ext and not path.lower().endswith(entry.ext):
            path += entry.ext
        out = self.export(entry.what, path)
        if out is not None:
            self.last_folder = Path(path).parent
        return out

    def suggested_path(self, entry: Entry) -> Path:
        """Where the Save dialog starts: the last export's folder, else the run's folder
        (not the read-only zoo), else the home folder; a name saying what and when."""
        from ebm_engine.runs import zoo

        run = self._run_dir()
        copy = entry.what == "checkpoint"
        folder = self.last_folder
        if folder is None or not folder.is_dir():
            own_run = run is not None and run.is_dir() and not zoo.is_zoo(run)
            # a checkpoint copy goes beside the run, not into it
            folder = (run.parent if copy else run) if own_run else Path.home()
        stem = run.name if run is not None else "samples"
        it = self.snapshot.iteration if self.snapshot is not None else None
        if copy and run is not None:  # the copy is of the latest checkpoint, not the snapshot's
            it = _checkpoint_iteration(run)
        if entry.what == "metrics" and run is not None:  # the table's last row, not the view's
            it = _last_metrics_iteration(run) or it
        when = f"_it{it}" if it is not None else ""
        what = {"grid": "samples"}.get(entry.what, entry.what)
        if entry.what == "turntable":  # which sample turns
            what = f"sample{self._turntable_index()}_{what}"
        return folder / f"{stem}{when}_{what}{entry.ext}"

    def _turntable_index(self) -> int:
        """The sample a turntable shows: the one last clicked (else the first)."""
        n = len(self.snapshot.samples) if self.snapshot is not None else 1
        return max(0, min(self._chain_index() or 0, n - 1))

    def export(self, what: str, path: str | Path) -> Path | None:
        """Write ``what`` (``grid``, ``chain``, ``turntable``, ``checkpoint``, ``metrics``) to ``path``.

        The extension picks the format; it must be one the menu offers for
        the samples' kind. Returns the path written, or ``None`` after
        ``sigError``.
        """
        from ebm_engine.runs.rundir import check_not_the_runs

        path = Path(path)
        try:
            run = self._run_dir()
            if run is not None:  # the dialog opens in the run folder: not over its own files
                check_not_the_runs(path, run)
            with warnings.catch_warnings(record=True) as said:  # e.g. invalid molecules skipped
                warnings.simplefilter("always")
                if what == "checkpoint":
                    out = self._copy_checkpoint(path)
                elif what == "metrics":
                    out = self._copy_metrics(path)
                else:
                    out = self._export_samples(what, path)
        except EBMError as exc:
            self.sigError.emit(str(exc))
            return None
        except OSError as exc:
            self.sigError.emit(f"Cannot write {path}: {exc.strerror or exc}.")
            return None
        # only what the export itself says (invalid molecules…), not a library's notices
        notes = [str(w.message) for w in said
                 if w.category is UserWarning and "ebm_engine" in str(w.filename)]
        notes += [self._picture_note(what, out)] if what in ("grid", "chain") else []
        notes = "; ".join(n for n in notes if n)
        self.sigExported.emit(f"exported {out}" + (f" ({notes})" if notes else ""))
        return out

    def _export_samples(self, what: str, path: Path) -> Path:
        from app.views.text_view import symbols_from_extras
        from ebm_engine.export.samples import export_samples

        s = self.snapshot
        if s is None:
            raise EBMError("There are no samples to export yet; train or sample first.")
        ext = path.suffix.lower()
        fits = [e for e in formats_for(s.kind) if e.what == what and e.ext == ext]
        if not fits:
            offered = ", ".join(e.label.rstrip("…") for e in formats_for(s.kind)) or "nothing"
            raise EBMError(f"{s.kind} samples cannot be exported as {ext or 'that'} here; "
                           f"the Export menu offers {offered}.")
        if what == "turntable":
            from app.render.turntable import save_turntable

            index = self._turntable_index()
            return save_turntable(s.kind, s.samples[index], path, s.value_range)
        # recorded frames end with the final state of the recorded chains; an .npz keeps
        # them beside the samples (not where its frames are picture strips: the answers'
        # chain is not in the snapshot)
        arrays = ext == ".npz" and "output" not in s.extras
        frames = [f.x for f in s.frames] if what == "chain" or arrays else None
        if what == "chain" and not frames:
            raise EBMError("No chain was recorded; set train.record_every > 0 to record chains.")
        return export_samples(s.samples, s.kind, s.value_range, path, frames=frames,
                              chain_steps=[f.step for f in s.frames] if frames else None,
                              energy=s.energy, symbols=symbols_from_extras(s.extras),
                              extras=s.extras, context=getattr(s, "data_points", None),
                              iteration=s.iteration)

    def _picture_note(self, what: str, path: Path) -> str:
        """``"the picture shows the first 16 of 64"`` where the file drew fewer samples
        than it was given (as ``ebm sample`` says it), else ``""``."""
        from ebm_engine.export.samples import picture_note

        s = self.snapshot
        if s is None:
            return ""
        chains = [len(f.x) for f in s.frames]
        n = min(chains) if what == "chain" and chains else len(s.samples)
        return picture_note(s.kind, path, n, s.extras)

    def _copy_metrics(self, path: Path) -> Path:
        from ebm_engine import atomic

        run = self._run_dir()
        src = run / "metrics.csv" if run else None
        if src is None or not src.is_file():
            raise EBMError("There are no metrics to export yet; train or open a run first.")
        atomic.write_bytes(path, src.read_bytes())
        return path

    def _copy_checkpoint(self, dest: Path) -> Path:
        from ebm_engine.export.checkpoint import copy_checkpoint
        from ebm_engine.learning.loading import readable_checkpoint

        run = self._run_dir()
        if run is None:
            raise EBMError("There is no run to copy a checkpoint from.")
        src = readable_checkpoint(run)  # a damaged latest is passed over, and said
        return copy_checkpoint(src, dest, run=run)  # as ebm export: one line, nothing left


def _last_metrics_iteration(run: Path) -> int | None:
    """The iteration of ``run``'s last metrics row (what a metrics copy ends at)."""
    try:
        with open(run / "metrics.csv", "rb") as f:
            f.seek(max(0, f.seek(0, 2) - 4096))
            last = f.read().decode("utf-8", "replace").strip().splitlines()[-1]
        return int(float(last.split(",")[0]))
    except (OSError, IndexError, ValueError):
        return None


def _checkpoint_iteration(run: Path) -> int | None:
    """The iteration of the checkpoint a copy of ``run`` takes (its ``iter_N`` name)."""
    from ebm_engine.learning.loading import find_checkpoint
    from ebm_engine.runs.retention import checkpoint_iteration

    try:
        return checkpoint_iteration(find_checkpoint(run).name)
    except EBMError:
        return None
