"""The main window: data and settings on the left, live views in the middle, curves on the right.

It composes panels and views and wires them to the :class:`~app.controller.Controller`;
it owns no threads and draws only what the controller's signals deliver.
Every user-facing error goes through :meth:`MainWindow.show_error` (one
sentence, non-modal), which tests intercept.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app import settings as app_settings
from app.controller import DATA_POINTS_SHOWN, Controller, RunInfo, Snapshot
from app.panels.data_panel import DataPanel
from app.panels.settings_panel import SettingsPanel
from app.panels.transport import TransportBar
from app.views.chain_scrubber import ChainScrubber
from app.views.curves import CurvesView
from app.views.extras import ExtrasPanel
from app.views.film_strip import FilmStrip
from app.views.registry import view_class
from ebm_engine.config import RunConfig
from ebm_engine.errors import EBMError
from ebm_engine.presets import config_for


class MainWindow(QMainWindow):
    """EBM Studio's window.

    Parameters
    ----------
    runs_root : path, optional
        Where app-started runs go (default :func:`app.settings.runs_root`).
    demo : str, optional
        Demo (or data path) selected at start.
    """

    def __init__(self, runs_root: str | Path | None = None, demo: str | None = None):
        super().__init__()
        self.setWindowTitle("EBM Studio")
        self.setObjectName("MainWindow")
        self.store = app_settings.settings()
        self.runs_root = Path(runs_root) if runs_root is not None else app_settings.runs_root()
        self.controller = Controller(self)
        self.snapshot: Snapshot | None = None
        self.snapshot_count = 0
        self.errors: list[str] = []
        self.run_info: RunInfo | None = None
        self._its = 0.0

        # --- panels ---------------------------------------------------------
        self.data_panel = DataPanel()
        self.settings_panel = SettingsPanel()
        self.transport = TransportBar()
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.data_panel)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setMinimumWidth(self.settings_panel.sizeHint().width() + 24)
        scroll.setWidget(self.settings_panel)
        left.addWidget(scroll)
        left.setSizes([260, 500])
        dock = QDockWidget("Data and settings", self)
        dock.setObjectName("dock_left")
        dock.setWidget(left)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        toolbar = self.addToolBar("Transport")
        toolbar.setObjectName("toolbar_transport")
        toolbar.addWidget(self.transport)

        # --- views ------------------------------------------------------------
        self.view_kind = "points"
        self.sample_view = view_class(self.view_kind)()
        self.extras = ExtrasPanel()
        self.scrubber = ChainScrubber()
        self.film = FilmStrip()
        self.samples_box = QWidget()
        sv = QVBoxLayout(self.samples_box)
        sv.setContentsMargins(0, 0, 0, 0)
        self.samples_title = QLabel("<b>Samples</b> — pick a demo and press ▶ Train")
        sv.addWidget(self.samples_title)
        self.view_split = QSplitter(Qt.Orientation.Horizontal)
        self.view_split.addWidget(self.sample_view)
        self.view_split.addWidget(self.extras)
        sv.addWidget(self.view_split, 5)
        sv.addWidget(self.scrubber)
        sv.addWidget(self.film, 2)
        self.curves = CurvesView()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.summary = QTreeWidget()
        self.summary.setHeaderLabels(["metric", "value"])
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.log, "Log")
        self.tabs.addTab(self.summary, "Run summary")
        center = QSplitter(Qt.Orientation.Horizontal)
        center.addWidget(self.samples_box)
        center.addWidget(self.tabs)
        center.setSizes([620, 520])
        self.setCentralWidget(center)

        # --- status bar -------------------------------------------------------
        self.status_labels: dict[str, QLabel] = {}
        for name in ("device", "iteration", "its", "eta", "run"):
            label = QLabel("")
            label.setObjectName(f"status_{name}")
            self.status_labels[name] = label
            self.statusBar().addPermanentWidget(label, 3 if name == "run" else 0)
        self.status_labels["device"].setText("device: –")

        self._build_menus()
        self._connect()
        self._restore_settings(demo)

    # --- construction helpers ---------------------------------------------------
    def _build_menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "Open data folder/file…", self.data_panel._open_folder)
        self._action(file, "Open run or checkpoint…", self._ask_open_run, QKeySequence.StandardKey.Open)
        self._action(file, "Follow a run folder…", self._ask_follow)
        self.recent_menu = file.addMenu("Recent runs")
        file.addSeparator()
        self._action(file, "Quit", self.close, QKeySequence.StandardKey.Quit)
        export = bar.addMenu("&Export")
        self._action(export, "Sample grid (PNG)…", lambda: self._ask_export("grid", "PNG (*.png)"))
        self._action(export, "Chain animation (GIF)…", lambda: self._ask_export("chain", "GIF (*.gif)"))
        self._action(export, "Chain animation (MP4)…", lambda: self._ask_export("chain", "MP4 (*.mp4)"))
        # 3D and video samples (export_samples dispatches on the data kind and extension)
        for label, filt in (("Meshes (STL)…", "STL (*.stl)"), ("Meshes (OBJ)…", "OBJ (*.obj)"),
                            ("Meshes (PLY)…", "PLY (*.ply)"), ("Point clouds (PLY)…", "PLY (*.ply)"),
                            ("Video clips (MP4)…", "MP4 (*.mp4)"), ("Video clips (GIF)…", "GIF (*.gif)")):
            self._action(export, label, lambda f=filt: self._ask_export("grid", f))
        from app.render.turntable import ask_turntable

        self._action(export, "Turntable of a 3D sample (MP4)…", lambda: ask_turntable(self, ".mp4"))
        self._action(export, "Turntable of a 3D sample (GIF)…", lambda: ask_turntable(self, ".gif"))
        self._action(export, "Checkpoint copy…", self._ask_export_checkpoint)
        self._action(export, "Metrics (CSV)…", lambda: self._ask_export("metrics", "CSV (*.csv)"))
        view = bar.addMenu("&View")
        self._action(view, "Run summary", self.show_run_summary)
        self._refresh_recent()

    def _action(self, menu, text, slot, shortcut=None) -> QAction:
        action = menu.addAction(text)
        action.triggered.connect(lambda _=False: slot())
        if shortcut is not None:
            action.setShortcut(shortcut)
        return action

    def _connect(self) -> None:
        c = self.controller
        self.transport.sigCommand.connect(self.command)
        self.data_panel.sigSourceChosen.connect(self._source_chosen)
        self.settings_panel.sigKnobEdited.connect(self._knob_edited)
        self.settings_panel.sigMethodChanged.connect(self._method_chosen)
        c.sigStateChanged.connect(self._state_changed)
        c.sigMetrics.connect(self._metrics)
        c.sigSnapshot.connect(self._show_snapshot)
        c.sigKnobApplied.connect(self._knob_applied)
        c.sigMessage.connect(self.log_line)
        c.sigError.connect(self.show_error)
        c.sigDiverged.connect(self._diverged)
        c.sigCheckpointed.connect(lambda it, p: self.log_line(f"checkpoint at {it}: {p}"))
        c.sigRunStarted.connect(self._run_started)
        c.sigFinished.connect(self._finished)
        self.scrubber.sigFrameChanged.connect(lambda i: self.sample_view.show_frame(i))
        self.sample_view.sigSampleClicked.connect(self._sample_clicked)

    # --- errors and log ---------------------------------------------------------------
    def show_error(self, message: str) -> None:
        """Tell the user one clear sentence (non-modal); the app keeps running."""
        self.errors.append(message)
        self.log_line(f"error: {message}")
        box = QMessageBox(QMessageBox.Icon.Warning, "EBM Studio", message,
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()

    def log_line(self, text: str) -> None:
        self.log.appendPlainText(text)

    # --- data and settings ---------------------------------------------------------
    def _source_chosen(self, source: str) -> None:
        """A demo gets its preset; a path keeps the current knobs with the new source."""
        if self.controller.busy:
            self.show_error("Stop the current run before choosing other data.")
            return
        try:
            if source in self.data_panel.catalogue:
                cfg = config_for(source, method=self.settings_panel.cfg.train.method)
            else:
                cfg = self.settings_panel.cfg.with_value("data.source", source)
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.settings_panel.set_config(cfg)
        info = self.data_panel.catalogue.get(source)
        if info is not None and info.kind == "points":
            self._preview_points(cfg)
        self.samples_title.setText(f"<b>{source}</b> — press ▶ Train"
                                   + (f" (about {info.expected_minutes:g} min)" if info else ""))

    def _preview_points(self, cfg: RunConfig) -> None:
        """Show a 2D demo's data before training starts (generating it is instant)."""
        from ebm_engine.data import load_dataset

        items = load_dataset(cfg.data).items.numpy()
        if self.view_kind != "points":
            self._swap_view("points")
        shown = items[:: -(-len(items) // DATA_POINTS_SHOWN)]  # at most DATA_POINTS_SHOWN
        empty = np.empty((0, items.shape[1]), np.float32)
        self.sample_view.set_snapshot(Snapshot(0, "points", None, empty, np.empty(0, np.float32),
                                               data_points=shown, origin="preview"))

    def _method_chosen(self, method: str) -> None:
        """On a demo, a method loads the demo's preset for it (digits-recovery …),
        or the demo's own preset; file data keeps the knobs as they are."""
        source = self.settings_panel.cfg.data.source
        if source not in self.data_panel.catalogue:
            return
        try:
            cfg = config_for(source, method=method)
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.settings_panel.set_config(cfg)
        self.log_line(f"{method}: loaded the {source} preset for {method}")

    def _knob_edited(self, key: str, value) -> None:
        if self.controller.busy and self.controller.state in ("running", "paused"):
            self.controller.apply_knob(key, value)
            self.log_line(f"queued edit {key} = {value}")

    def current_config(self) -> RunConfig:
        cfg = self.settings_panel.config()
        source = self.data_panel.source or cfg.data.source
        return cfg.with_value("data.source", source) if cfg.data.source != source else cfg

    # --- transport -------------------------------------------------------------------
    def command(self, name: str) -> None:
        """Run a transport command (``train``, ``pause``, ``step``, ``sample``, ``stop``, ``reset``)."""
        c = self.controller
        if name == "train":
            if c.state == "paused":
                c.resume()
            else:
                self.start_training()
        elif name == "pause":
            c.resume() if c.state == "paused" else c.pause()
        elif name == "step":
            if c.busy:
                c.step()
            else:
                self.start_training(step=True)
        elif name == "sample":
            if c.run_dir is not None and (c.run_dir / "checkpoints").is_dir():
                c.sample_only(c.run_dir)
            else:
                self._ask_open_run(mode="sample")
        elif name == "stop":
            c.stop()
        elif name == "reset":
            c.reset()
            self.clear_views()

    def start_training(self, step: bool = False) -> None:
        try:
            cfg = self.current_config()
            cfg.validate()
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self.clear_views()
        run_dir = app_settings.new_run_dir(cfg.data.source, self.runs_root)
        self.controller.start_training(cfg, run_dir, paused=step, step=step)
        self._add_recent(run_dir)

    def clear_views(self) -> None:
        self.curves.clear()
        self.snapshot = None
        self.scrubber.set_frames([])
        self.extras.set_extras({}, "", None)

    # --- controller signals -------------------------------------------------------
    def _state_changed(self, state: str) -> None:
        self.transport.set_state(state)
        self.settings_panel.set_running(state in ("running", "paused", "sampling"))
        self.log_line(f"[{state}]")

    def _run_started(self, info: RunInfo) -> None:
        self.run_info = info
        self.status_labels["device"].setText(f"device: {info.device}")
        self.status_labels["run"].setText(f"run: {info.run_dir}")
        self.status_labels["run"].setToolTip(info.run_dir)
        self.log_line(f"run {info.run_dir} on {info.device}: {info.source}, {info.target} iterations")
        self._refresh_summary()

    def _metrics(self, rows: list[dict]) -> None:
        self.curves.add_rows(rows)
        last = rows[-1]
        it = int(last.get("iteration", 0))
        self._its = float(last.get("its", 0.0) or 0.0)
        target = self.run_info.target if self.run_info else 0
        self.status_labels["iteration"].setText(f"iteration {it}" + (f" / {target}" if target else ""))
        self.status_labels["its"].setText(f"{self._its:.1f} it/s")
        if self._its > 0 and target > it:
            eta = (target - it) / self._its
            self.status_labels["eta"].setText(f"ETA {int(eta // 60)}:{int(eta % 60):02d}")
        else:
            self.status_labels["eta"].setText("")

    def _show_snapshot(self, snap: Snapshot) -> None:
        if snap.kind != self.view_kind:
            self._swap_view(snap.kind)
        self.snapshot = snap
        self.snapshot_count += 1
        self.sample_view.set_snapshot(snap)
        self.scrubber.set_frames(snap.frames)
        self.extras.set_extras(snap.extras, snap.kind, snap.value_range)
        if snap.frames:  # keep the picked chain; start with the first one
            self.film.show_chain(snap, self.film.index or 0)
        what = {"train": "training chains", "sample": "samples (no training)",
                "follow": "followed run"}.get(snap.origin, snap.origin)
        self.samples_title.setText(f"<b>{what}</b> at iteration {snap.iteration}")

    def _swap_view(self, kind: str) -> None:
        old = self.sample_view
        self.sample_view = view_class(kind)()
        self.sample_view.sigSampleClicked.connect(self._sample_clicked)
        self.view_split.replaceWidget(0, self.sample_view)
        old.close()  # VTK views release their render windows on close
        old.deleteLater()
        self.view_kind = kind

    def _sample_clicked(self, index: int) -> None:
        self.film.show_chain(self.snapshot, index)

    def _knob_applied(self, iteration: int, key: str, old, new) -> None:
        self.curves.add_marker(iteration, f"{key.split('.')[-1]}={new}")

    def _diverged(self, iteration: int, message: str) -> None:
        self.show_error(f"Training paused at iteration {iteration}: {message}. "
                        "Lower the step size or learning rate, then resume.")

    def _finished(self, reason: str) -> None:
        self.log_line(f"finished: {reason}")
        self._refresh_summary()

    # --- load / follow ----------------------------------------------------------------
    def open_run(self, path: str | Path, mode: str = "sample") -> None:
        """Open a run or checkpoint folder: ``sample`` (no training) or ``resume`` training."""
        path = Path(path)
        if mode == "resume":
            if not (path / "config.json").is_file():
                self.show_error(f"{path} is not a run folder (no config.json), so it cannot be resumed.")
                return
            self.clear_views()
            self.controller.resume_training(path)
        else:
            self.controller.sample_only(path)
        if (path / "config.json").is_file():
            self._add_recent(path)

    def follow_run(self, path: str | Path) -> None:
        """Show a run folder another process is still writing, live."""
        self.clear_views()
        self.controller.follow(path)
        if self.controller.state == "following":
            self._add_recent(path)

    def _ask_open_run(self, mode: str | None = None) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a run folder or a checkpoint folder")
        if not path:
            return
        if mode is None:
            box = QMessageBox(QMessageBox.Icon.Question, "Open run",
                              "Draw samples from this model, or continue training it?",
                              parent=self)
            sample = box.addButton("Sample only", QMessageBox.ButtonRole.AcceptRole)
            box.addButton("Resume training", QMessageBox.ButtonRole.ActionRole)
            box.exec()
            mode = "sample" if box.clickedButton() is sample else "resume"
        self.open_run(path, mode)

    def _ask_follow(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Follow a run folder")
        if path:
            self.follow_run(path)

    def _add_recent(self, path: str | Path) -> None:
        app_settings.add_recent_run(path, self.store)
        self._refresh_recent()

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        runs = app_settings.recent_runs(self.store)
        for run in runs:
            menu = self.recent_menu.addMenu(Path(run).name)
            menu.addAction("Sample only", lambda r=run: self.open_run(r, "sample"))
            menu.addAction("Resume training", lambda r=run: self.open_run(r, "resume"))
            menu.addAction("Follow", lambda r=run: self.follow_run(r))
        self.recent_menu.setEnabled(bool(runs))

    # --- run summary (RUN/eval.json from `ebm eval`) -------------------------------------
    def _refresh_summary(self) -> dict | None:
        self.summary.clear()
        run = self.controller.run_dir
        path = run / "eval.json" if run else None
        if path is None or not path.is_file():
            QTreeWidgetItem(self.summary, ["no evaluation yet", "run `ebm eval --run RUN`"])
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            QTreeWidgetItem(self.summary, ["eval.json", "unreadable (being written?)"])
            return None
        _fill_tree(self.summary.invisibleRootItem(), data)
        self.summary.expandAll()
        return data

    def show_run_summary(self) -> dict | None:
        """Show the run's ``eval.json`` (if present) in the Run summary tab."""
        data = self._refresh_summary()
        self.tabs.setCurrentWidget(self.summary)
        return data

    # --- export -------------------------------------------------------------------------
    def export(self, what: str, path: str | Path) -> Path | None:
        """Export ``grid`` (PNG), ``chain`` (GIF/MP4), ``metrics`` (CSV) or ``checkpoint`` (folder)."""
        from ebm_engine.export.samples import export_samples

        path = Path(path)
        try:
            if what == "checkpoint":
                return self._export_checkpoint(path)
            if what == "metrics":
                src = self.controller.run_dir / "metrics.csv" if self.controller.run_dir else None
                if src is None or not src.is_file():
                    raise EBMError("There are no metrics to export yet; train or open a run first.")
                from ebm_engine import atomic

                atomic.write_bytes(path, src.read_bytes())
                return path
            s = self.snapshot
            if s is None:
                raise EBMError("There are no samples to export yet; train or sample first.")
            # recorded frames end with the final state of the recorded chains
            frames = [f.x for f in s.frames] if (what == "chain" and s.frames) else None
            if what == "chain" and not frames:
                raise EBMError("No chain was recorded; set train.record_every > 0 to record chains.")
            if what == "chain" and s.kind == "points":
                out = _points_animation(frames, path)
            else:
                out = export_samples(s.samples, s.kind, s.value_range, path, frames=frames,
                                     energy=s.energy)
            self.log_line(f"exported {out}")
            return out
        except EBMError as exc:
            self.show_error(str(exc))
            return None
        except OSError as exc:
            self.show_error(f"Cannot write {path}: {exc.strerror or exc}.")
            return None

    def _export_checkpoint(self, dest: Path) -> Path:
        from ebm_engine.learning.loading import find_checkpoint

        if self.controller.run_dir is None:
            raise EBMError("There is no run to copy a checkpoint from.")
        src = find_checkpoint(self.controller.run_dir)
        if dest.exists():
            raise EBMError(f"{dest} already exists; choose a new folder name.")
        tmp = dest.with_name(dest.name + ".partial")
        shutil.copytree(src, tmp)
        tmp.replace(dest)
        self.log_line(f"copied checkpoint {src.name} to {dest}")
        return dest

    def _ask_export(self, what: str, filt: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export", "", filt)
        if path:
            ext = filt.split("*")[1].rstrip(")")
            self.export(what, path if path.endswith(ext) else path + ext)

    def _ask_export_checkpoint(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Copy checkpoint to a new folder")
        if path:
            self.export("checkpoint", path)

    # --- persistence -------------------------------------------------------------------
    def _restore_settings(self, demo: str | None) -> None:
        geometry = self.store.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:  # first launch: as large as the design, but never larger than the screen
            avail = self.screen().availableGeometry()
            self.resize(min(1380, avail.width()), min(860, avail.height()))
        state = self.store.value("window_state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        source = demo or self.store.value("source") or "8gaussians"
        self.data_panel.set_source(str(source), emit=False)
        cfg = None
        saved = self.store.value("config")
        if not demo and isinstance(saved, str):
            try:
                cfg = RunConfig.from_json(saved)
            except EBMError:
                cfg = None
        if cfg is None or cfg.data.source != source:
            self._source_chosen(str(source))
        else:
            self.settings_panel.set_config(cfg)

    def save_settings(self) -> None:
        self.store.setValue("geometry", self.saveGeometry())
        self.store.setValue("window_state", self.saveState())
        self.store.setValue("source", self.data_panel.source)
        self.store.setValue("config", self.settings_panel.cfg.to_json())
        self.store.sync()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        """Stop the worker cleanly (it writes a final checkpoint), then close."""
        self.save_settings()
        if self.controller.busy:
            self.statusBar().showMessage("Stopping: writing a checkpoint…")
        self.controller.shutdown()
        super().closeEvent(event)


def _fill_tree(parent: QTreeWidgetItem, data) -> None:
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else []
    for key, value in items:
        if isinstance(value, (dict, list)):
            node = QTreeWidgetItem(parent, [str(key), ""])
            _fill_tree(node, value)
        else:
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            QTreeWidgetItem(parent, [str(key), text])


def _points_animation(frames, path: Path) -> Path:
    """2D chain frames as an animation (the particles on a fixed square)."""
    import numpy as np

    from ebm_engine.export import save_animation
    from ebm_engine.export.samples import points_image
    from ebm_engine.learning.landscape import points_bounds

    lim = points_bounds(np.concatenate(frames))[1]
    images = [(points_image(f, lim)[0] * 255).astype(np.uint8) for f in frames]
    return save_animation(images, path)
