"""The main window: data and settings on the left, samples in the middle, curves on the right.

Composition only: it builds the panels, views and menus and wires them to
the :class:`~app.controller.Controller`. It owns no thread and decides no
knob (the session does); it draws what the controller's signals deliver.
Every user-facing error goes through :meth:`MainWindow.show_error` (one
sentence, non-modal), which tests intercept.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from PySide6.QtCore import QByteArray, QEvent, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QScrollArea,
    QSplitter,
    QTabWidget,
)

from app import settings as app_settings
from app import window_geometry
from app.controller import Controller
from app.export_menu import ExportMenu
from app.panels.data_panel import DataPanel
from app.panels.settings_panel import SettingsPanel
from app.panels.transport import TransportBar
from app.views.curves import CurvesView
from app.widgets.open_run import RecentRunsMenu, ask_open_mode
from app.widgets.run_summary import RunSummary
from app.widgets.samples_area import SamplesArea
from app.widgets.status_bar import RunStatus
from ebm_engine.config import RunConfig
from ebm_engine.data.detect import path_exists
from ebm_engine.errors import EBMError
from ebm_engine.learning.saved_config import saved_run_config
from ebm_engine.methods import method_class
from ebm_engine.presets import config_for, demo_minutes

MIN_PANE_WIDTH = 240  # pixels: samples and curves each keep at least this much
MAX_HISTORY_ROWS = 20000  # a reopened run's curves: longer histories are thinned to this
# What is going on while other data or settings cannot be chosen (the session's active states).
BUSY_WORDS = {"running": "A run is training", "paused": "A run is paused, not stopped",
              "sampling": "Samples are being drawn", "following": "A run is being followed"}


def model_name(path: Path) -> str:
    """A run's folder name, or ``RUN/iter_…`` for one checkpoint folder (say whose)."""
    from ebm_engine.runs.rundir import run_folder_of

    owner = run_folder_of(path)
    return f"{owner.name}/{path.name}" if owner is not None and owner != path else path.name


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
        self.errors: list[str] = []
        self._reader = ""  # the data panel's reader for the next path ("" = detected)
        self._continues: Path | None = None  # a loaded model: Train continues it (_pretrained)
        self._sampled: Path | None = None  # the run or checkpoint folder Sample only redraws
        # The settings in force before a model was opened to sample or a run followed (its
        # own replaced them): Reset forgets the model, and its settings with it; a quit
        # saves these, not the model's.
        # (settings, the first model opened)
        self._settings_before: tuple[RunConfig, Path] | None = None
        self._pause_box: QMessageBox | None = None  # a divergence pause's "press Resume"
        # The data preview Train replaced, shown again if the run is refused (memory, data).
        self._preview_before_train = None
        self._run_began = False  # a RunStarted came for the work in progress
        self._about = None  # the Help window, made on first use
        self._learn = None  # the Learn window, made on first use
        self._quit_asked: QMessageBox | None = None  # "Stop training and quit?" while shown
        self._quit_by_user = False  # File → Quit, as the window's close button: ask first
        self._quit_confirmed = False

        self.data_panel = DataPanel()
        self.settings_panel = SettingsPanel(self.controller)
        self.transport = TransportBar()
        self.samples = SamplesArea()
        self.scrubber, self.film, self.extras = self.samples.scrubber, self.samples.film, self.samples.extras
        self.curves = CurvesView()
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(2000)
        self.summary = RunSummary()
        self.status = RunStatus(self.statusBar())
        self.status_labels = self.status.labels
        self.export_menu = ExportMenu(lambda: self.controller.run_dir, lambda: self.film.picked, self)
        self._lay_out()
        self._build_menus()
        self._connect()
        self._restore_settings(demo)

    # --- what tests and the benchmarks look at ---------------------------------------
    @property
    def sample_view(self):
        return self.samples.view

    @property
    def snapshot(self):
        return self.samples.snapshot

    @property
    def snapshot_count(self) -> int:
        return self.samples.count

    @property
    def view_kind(self) -> str:
        return self.samples.kind

    def current_config(self) -> RunConfig:
        """The config the next run trains (the session's)."""
        return self.controller.config

    # --- construction -------------------------------------------------------------------
    @property
    def _pretrained(self) -> Path | None:
        """The model a loaded zoo entry, run or checkpoint: Train continues it (None: Train
        starts from scratch). Setting it relabels Train, so that what it does is seen."""
        return self._continues

    @_pretrained.setter
    def _pretrained(self, path: Path | None) -> None:
        self._continues = path
        if hasattr(self, "transport"):
            self.transport.set_continues(None if path is None else model_name(path))

    def _lay_out(self) -> None:
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.data_panel)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        # no Tab stop of its own (an invisible one); it still scrolls to the field Tab reaches
        scroll.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        scroll.setMinimumWidth(self.settings_panel.sizeHint().width() + 24)
        scroll.setWidget(self.settings_panel)
        left.addWidget(scroll)
        left.setSizes([260, 500])
        left.setObjectName("splitter_left")
        self.left_splitter = left
        dock = QDockWidget("Data and settings", self)
        dock.setObjectName("dock_left")
        dock.setWidget(left)
        # Closable: on a 1024-pixel screen it takes a third of the width from the samples;
        # View → Data and settings brings it back.
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        self.dock = dock
        toolbar = self.addToolBar("Transport")
        toolbar.setObjectName("toolbar_transport")
        toolbar.addWidget(self.transport)
        self.tabs = QTabWidget()
        self.tabs.addTab(self.curves, "Curves")
        self.tabs.addTab(self.log, "Log")
        self.tabs.addTab(self.summary, "Run summary")
        center = QSplitter(Qt.Orientation.Horizontal)
        center.addWidget(self.samples)
        center.addWidget(self.tabs)
        center.setSizes([620, 520])
        center.setObjectName("splitter_center")
        self.center_splitter = center
        # Explicit minimums: the splitter then ignores the panes' size hints, which
        # grow with new tick labels and captions and would move it while training
        # (a moved splitter re-renders every view on both sides).
        for pane in (self.samples, self.tabs):
            pane.setMinimumWidth(MIN_PANE_WIDTH)
        self.setCentralWidget(center)

    def _build_menus(self) -> None:
        file = self.menuBar().addMenu("&File")
        opening = file.addMenu("Open &data")  # the data panel's own Folder… / Data file… actions
        opening.addActions(self.data_panel.open_button.menu().actions())
        file.addAction("&Open run or checkpoint…", lambda: self._ask_open_run()).setShortcut(
            QKeySequence.StandardKey.Open)
        file.addAction("&Follow a run folder…", self._ask_follow)
        self.recent_menu = RecentRunsMenu(self.store, self)
        self.recent_menu.sigOpen.connect(self._open_recent)
        file.addMenu(self.recent_menu)
        file.addSeparator()
        quit_action = file.addAction("&Quit", self.quit_asking)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        # also with the Learn or Help window in front
        quit_action.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        self.menuBar().addMenu(self.export_menu)
        view = self.menuBar().addMenu("&View")
        view.setObjectName("view_menu")
        panel = self.dock.toggleViewAction()  # checked while the panel is shown
        panel.setObjectName("show_settings_panel")
        panel.setShortcut(QKeySequence("Ctrl+B"))
        # the dock's title, with a mnemonic (the dock renames it only when its title changes)
        panel.setText("&Data and settings")
        view.addAction(panel)
        view.addAction("&Run summary", self.show_run_summary)
        run = self.menuBar().addMenu("&Run")  # the transport buttons, with their keys
        run.setObjectName("run_menu")
        run.addActions(list(self.transport.actions_by_name.values()))
        self.help_menu = self.menuBar().addMenu("&Help")
        self.help_menu.setObjectName("help_menu")
        self.help_menu.addAction("&Getting started", lambda: self.show_about("guide"))
        self.help_menu.addAction("About this &method", lambda: self.show_about(
            "method", self.controller.config.train.method))
        self.help_menu.addAction("About this &demo", lambda: self.show_about(
            "demo", self.data_panel.source))
        self.learn_action = self.help_menu.addAction("&Learn…", lambda: self.show_learn())
        self.learn_action.setObjectName("learn_action")
        self.learn_action.setToolTip("Five ideas behind energy-based models, each with a live demo")
        self.help_menu.addSeparator()
        self.help_menu.addAction("&About EBM Studio", self._about_app)

    def _connect(self) -> None:
        c = self.controller
        self.transport.sigCommand.connect(self.command)
        self.data_panel.sigSourceChosen.connect(self._source_chosen)
        if hasattr(self.data_panel, "sigReaderChosen"):
            self.data_panel.sigReaderChosen.connect(self._reader_chosen)
        self.data_panel.sigPretrainedChosen.connect(self.load_pretrained)
        self.data_panel.sigAboutChosen.connect(self.show_about)
        self.settings_panel.sigKnobEdited.connect(self._knob_edited)
        c.sigStateChanged.connect(self._state_changed)
        c.sigRunStarted.connect(self._run_started)
        c.sigMetrics.connect(self.curves.add_rows)
        c.sigMetrics.connect(self.status.metrics)
        c.sigSnapshot.connect(self._show_snapshot)
        c.sigKnobApplied.connect(self._knob_applied)
        c.sigWarned.connect(self._warned)
        c.sigCheckpointed.connect(lambda ev: self.log_line(f"checkpoint at {ev.iteration}: {ev.path}"))
        c.sigDiverged.connect(self._diverged)
        c.sigRolledBack.connect(self._rolled_back)
        c.sigRewound.connect(lambda ev: self.curves.rewind(ev.iteration))
        c.sigTargetSet.connect(self._target_set)
        c.sigFinished.connect(self._finished)
        c.sigPreviewFailed.connect(self._preview_failed)
        c.sigError.connect(self._work_failed)
        self.export_menu.sigError.connect(lambda message: self.show_error(message))
        self.export_menu.sigExported.connect(self.log_line)
        self.export_menu.sigSampled.connect(self._show_snapshot)  # "Sample from my picture…"

    # --- errors and log ---------------------------------------------------------------
    def show_error(self, message: str) -> QMessageBox:
        """Tell the user one clear sentence (non-modal); the app keeps running."""
        self.errors.append(message)
        self.log_line(f"error: {message}")
        box = QMessageBox(QMessageBox.Icon.Warning, "EBM Studio", message,
                          QMessageBox.StandardButton.Ok, self)
        box.setObjectName("error_dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setModal(False)
        box.show()
        return box

    def _pause_said(self, message: str, back: list[tuple[int, str]] = ()) -> None:
        """A divergence pause's dialog: the one before it goes (no stack of the same
        advice), and it goes when the run leaves the pause (Resume, Stop, Reset).
        ``back``: the checkpoints "Go back" buttons return to, as ``(iteration, what)``."""
        self._close_pause_dialog()
        box = self.show_error(message)
        self._pause_box = box if isinstance(box, QMessageBox) else None  # tests record, not show
        if self._pause_box is None:
            return
        for n, (iteration, what) in enumerate(back):
            button = box.addButton(f"Go back to iteration {iteration}",
                                   QMessageBox.ButtonRole.ActionRole)
            button.setObjectName("roll_back" if n == 0 else f"roll_back_{n}")
            button.setToolTip(f"Iteration {iteration}: {what}, with the settings of then")
            button.clicked.connect(lambda _=False, at=iteration: self._go_back(at))

    def _go_back(self, iteration: int) -> None:
        """A Go back button: a choice made stale meanwhile (a Step pruned it) is one line."""
        try:
            self.controller.roll_back(iteration)
        except EBMError as exc:
            self.show_error(str(exc))

    def _close_pause_dialog(self) -> None:
        box, self._pause_box = self._pause_box, None
        if box is not None:
            try:
                box.close()
            except RuntimeError:  # the user closed it: Qt deleted it already
                pass

    def _work_failed(self, message: str) -> None:
        message = _in_app_words(message)
        self._restore_preview()  # a refused Train leaves the data on show, as it was
        if self.snapshot is None:  # nothing to show again: not "starting: loading…" for ever
            name = Path(self.controller.config.data.source).name
            what = "stopped" if self._run_began else "not started"
            self._say_in_title(f"<b>{name}</b> — {what}: {message}", message)
        self.show_error(message)

    def _say_in_title(self, text: str, full: str) -> None:
        """The samples area's title says ``text`` (clipped to its width: the whole
        message is its tooltip, and in the log)."""
        self.samples.title.setText(text)
        self.samples.title.setToolTip(full)

    def _preview_failed(self, ev) -> None:
        """The chosen data cannot be read: the view says so, not "loading its data…"."""
        name = Path(self.controller.config.data.source).name
        message = _in_app_words(ev.message)
        self.samples.show_message(f"<b>{name}</b> — its data cannot be shown", message)
        self.log_line(f"data preview: {message}")

    def _restore_preview(self) -> None:
        shown, self._preview_before_train = self._preview_before_train, None
        if shown is not None and self.snapshot is None:
            self._show_snapshot(shown)

    def log_line(self, text: str) -> None:
        self.log.appendPlainText(text)

    def _warned(self, ev) -> None:
        """A warning goes to the log and the status bar (the log is a tab away); a note
        only to the log."""
        if getattr(ev, "note", False):
            self.log_line(f"note: {ev.message}")
            return
        self.log_line(f"warning at iteration {ev.iteration}: {ev.message}")
        self.status.warned(ev.message)

    # --- data and settings: the choice sets the whole config -------------------------------
    def _reader_chosen(self, reader: str) -> None:
        self._reader = reader  # comes just before the sigSourceChosen it belongs with

    def _source_chosen(self, source: str) -> None:
        """A demo gets its preset, a path a fresh config for it: nothing carries over."""
        info = self.data_panel.catalogue.get(source)
        # A path gets the preset of its data kind and size (the reader chosen in
        # the data panel steers the choice); the log says which.
        reader = [("data.options.reader", self._reader)] if info is None and self._reader else []
        if info is None and self.data_panel.skip_unreadable:
            reader.append(("data.options.skip_unreadable", True))
        try:
            if info is None:  # the options typed for the user's files
                reader += self.data_panel.data_options()
            cfg = config_for(source, overrides=reader,
                             report=lambda line: self.log_line(_in_app_words(line)))
        except EBMError as exc:
            self.show_error(str(exc))
            return
        self._use_config(cfg, f"<b>{source}</b> — press ▶ Train"
                         + (f" (about {info.expected_minutes:g} min)" if info else ""))

    def _use_config(self, cfg: RunConfig, title: str) -> None:
        # Refused here while work goes on: the controller's refusal came as a failure of
        # that work, which titled a run just starting "not started" and put the data
        # preview back over it.
        busy = BUSY_WORDS.get(self.controller.session.state.value)
        if busy is not None:
            self.show_error(f"{busy}: press Stop first, then choose other data or settings.")
        if busy is not None or not self.controller.set_config(cfg):  # the panel goes back
            self.data_panel.set_source(self.controller.config.data.source, emit=False)
            self.data_panel.set_method(self.controller.config.train.method)
            return
        self._pretrained = self._sampled = None
        self._settings_before = None  # these are the settings now
        self.data_panel.set_method(cfg.train.method)
        self.summary.show_run(None)  # the last run is forgotten (as by Reset): not its scores
        self._show_fresh(cfg, title)

    def _show_fresh(self, cfg: RunConfig, title: str) -> None:
        """Empty views titled ``title``, then the data of ``cfg`` as before any Train."""
        self._name_window(Path(cfg.data.source).name)
        demo = cfg.data.source in self.data_panel.catalogue
        # A demo's data, or a path the data panel knows how to read, shows before Train.
        readable = demo or bool(self.data_panel.reader or self.data_panel.detected)
        if readable:
            self.clear_views(title + " · loading its data…")
            self.controller.preview(cfg, quiet=not demo)
        elif not path_exists(Path(cfg.data.source)):
            # gone since it was chosen (a launch restores the last data): no reader helps
            self.samples.show_message(
                title.replace("press ▶ Train", "not found"),
                f"{self.data_panel.read_as.text()}: open it again where it is now (File → "
                "Open data) or choose a demo")
        else:  # say what to do, not the last data kind's empty view
            self.samples.show_message(
                title.replace("press ▶ Train", "choose a reader first"),
                f"{self.data_panel.read_as.text()} (the “choose a reader” box on the left)")

    def _ready_title(self, cfg: RunConfig) -> str:
        """The samples area's title for ``cfg`` before Train: its data and how long it takes."""
        source = cfg.data.source
        if source not in self.data_panel.catalogue:
            return f"<b>{Path(source).name}</b> — press ▶ Train"
        minutes = demo_minutes(source, cfg.train.method)
        return f"<b>{source}</b> — press ▶ Train" + (f" (about {minutes:g} min)" if minutes else "")

    def _show_source(self, cfg: RunConfig) -> None:
        """The data panel shows ``cfg``'s data (an opened or followed run, restored settings)."""
        if cfg.data.source != self.data_panel.source:
            self.data_panel.set_source(cfg.data.source, emit=False)
        # and its method: the card's Load pretrained is the entry of that method (an
        # opened latent_seq model on "molecules" left it looking for an ml entry)
        self.data_panel.set_method(cfg.train.method)
        reader = str(cfg.data.options.get("reader") or "")
        if reader and hasattr(self.data_panel, "set_reader"):
            self.data_panel.set_reader(reader)

    def _knob_edited(self, key: str, value) -> None:
        """On a demo, another method loads the demo's preset for it (digits-recovery …)."""
        source = self.controller.config.data.source
        self._settings_before = None  # edited: the settings in force are the user's now
        if key == "train.method" and source in self.data_panel.catalogue:
            minutes = demo_minutes(source, value)
            self._use_config(config_for(source, method=value), f"<b>{source}</b> with {value}"
                             + (f" (about {minutes:g} min)" if minutes else ""))
            self.log_line(f"{value}: loaded the {source} preset for {value}")
        elif self.controller.state in ("running", "paused"):
            self.log_line(f"queued edit {key} = {value}")
        elif self._pretrained is not None:
            # a continuation goes on with the checkpoint's own settings: the edit would be
            # dropped without a word, so Train now starts a new run with these settings
            self.log_line(f"{key} edited: ▶ Train now starts a new run with these settings "
                          f"(to continue {self._pretrained.name}, open it again)")
            self._pretrained = None

    # --- transport -------------------------------------------------------------------
    def command(self, name: str) -> None:
        """Run a transport command (``train``, ``pause``, ``step``, ``sample``, ``stop``, ``reset``)."""
        c = self.controller
        if name == "train":
            self.start_training()
        elif name == "pause":
            c.resume_run() if c.state == "paused" else c.pause()
        elif name == "step":
            c.step() if c.state in ("running", "paused") else self.start_training(step=True)
        elif name == "sample":
            if c.run_dir is not None and (c.run_dir / "checkpoints").is_dir():
                # Train continues what the user opened, not a run trained here
                self.open_run(c.run_dir, "sample", opened=self._pretrained == c.run_dir)
            elif self._sampled is not None:  # a checkpoint folder opened to sample
                self.open_run(self._sampled, "sample")
            elif (entry := self.data_panel.pretrained_entry()) is not None:
                self.load_pretrained(entry.path)  # nothing trained or opened: the demo's model
            else:
                self._ask_sample_what()
        elif name == "stop":
            c.stop()
        elif name == "reset":
            stashed, self._settings_before = self._settings_before, None
            self._pretrained = self._sampled = None
            c.reset()
            if stashed is not None and c.set_config(stashed[0]):  # the opened model's go with it
                self._show_source(stashed[0])
                self.log_line(f"reset: the settings in force before {model_name(stashed[1])} "
                              "was opened are back")
            self.summary.show_run(None)  # the forgotten run's scores went with it
            self._show_fresh(c.config, self._ready_title(c.config))

    def start_training(self, step: bool = False) -> None:
        """A new run of the config in force (``step``: start paused, one iteration allowed).

        After "Load pretrained" (or opening a run or one checkpoint folder), Train and
        Step continue that model in a new run folder (weights, optimiser and chains carry
        over; the source is only read).
        """
        if not step and self._pretrained is None and self.controller.config.train.iterations == 0:
            self.show_error("train.iterations is 0, so there is nothing to train: set it above 0 "
                            "in the settings panel, then press ▶ Train.")
            return
        source = self.controller.config.data.source
        before = self.snapshot
        self._run_began = False
        self.clear_views(f"<b>{Path(source).name}</b> — starting: loading the data and building "
                         "the model…")
        self._preview_before_train = before if getattr(before, "origin", "") == "preview" else None
        if self._pretrained is not None:
            from ebm_engine.runs.fork import fork_run
            from ebm_engine.runs.rundir import RunDir

            try:
                source = RunDir(self._pretrained).read_config().data.source
            except EBMError:
                pass  # fork_run below says what is wrong with it
            run_dir = app_settings.new_run_dir(source, self.runs_root)
            try:
                fork_run(self._pretrained, run_dir)
            except EBMError as exc:
                self._restore_preview()
                self.show_error(str(exc))
                return
            self.log_line(f"continuing {model_name(self._pretrained)} in {run_dir}")
            self._pretrained = None
            self.controller.resume(run_dir, paused=step, steps=int(step))
            return
        run_dir = app_settings.new_run_dir(source, self.runs_root)
        self.log_line(f"a new run, from scratch, in {run_dir}")
        self.controller.train(run_dir, paused=step, steps=int(step))

    def load_pretrained(self, path: str | Path) -> None:
        """Sample a zoo entry (or any run) at once; then Sample redraws, Train continues it."""
        path = Path(path)
        self.open_run(path, "sample")  # it says what Sample only and Train then do
        self._pretrained = path

    def show_about(self, kind: str, name: str = "") -> None:
        """Open the Help window on the guide or on a method's or demo's About card."""
        from app.widgets.about_dialog import AboutDialog

        if self._about is None:
            self._about = AboutDialog(self)
        self._about.show_card(kind, name)

    def show_learn(self, name: str | None = None) -> None:
        """Open the Learn window (the Part I concepts with live demos), on ``name`` if given."""
        from app.widgets.learn_dialog import LearnDialog

        if self._learn is None:
            self._learn = LearnDialog(self)
        self._learn.show_concept(name)

    def _about_app(self) -> None:
        from ebm_engine import __version__

        QMessageBox.about(self, "About EBM Studio",
                          f"EBM Studio {__version__}: train, sample and understand "
                          "energy-based models. Help → Getting started for a first run.")

    def clear_views(self, title: str | None = None) -> None:
        """Empty samples, curves, film strip, scrubber, extras, export entries and status bar."""
        self.curves.clear()
        self.samples.clear(*(title,) if title else ())
        self.export_menu.set_snapshot(None)
        self.status.clear()

    # --- controller signals -------------------------------------------------------
    def _state_changed(self, state: str) -> None:
        if state != "paused":
            self._close_pause_dialog()  # its "press Resume" no longer applies
        self.transport.set_state(state)
        self.data_panel.set_running(state in ("running", "paused", "sampling", "following"))
        self.settings_panel.set_state(state)
        self.status.set_state(state)
        self.log_line(f"[{state}]")

    def _name_window(self, what: str) -> None:
        """The window's title names what it shows (a data set, a run): several windows,
        or a screenshot, tell which is which."""
        self.setWindowTitle(f"{what} — EBM Studio" if what else "EBM Studio")

    def _run_started(self, ev) -> None:
        self._name_window(Path(ev.run_dir).name if ev.run_dir else Path(ev.source).name)
        self._run_began = True  # an error from now on stopped a run that had begun
        self._preview_before_train = None  # the run is on: its samples replace the data
        self._show_history(ev)
        self.status.run_started(ev)
        start = (f", from iteration {ev.iteration} (its checkpoint)"
                 if ev.iteration and self.controller.state in ("running", "paused") else "")
        self.log_line(f"run {ev.run_dir or '(not saved)'} on {ev.device}: {ev.source}, "
                      f"{ev.method}, {ev.target} iterations{start}")
        self._show_source(self.controller.config)
        if ev.run_dir:
            self.recent_menu.add(ev.run_dir)
        self.summary.show_run(self.controller.run_dir)
        if self.controller.state == "running" and self.samples.snapshot is None:
            # The model is built; the first samples come after a whole iteration, which on
            # the 3D demos is most of the wait (64 Langevin steps of the points preset:
            # about 2 s on an idle core), not "loading the data" any more.
            words = first_iteration_words(self.controller.config, ev.iteration)
            self.samples.title.setText(f"<b>{Path(ev.source).name}</b> — {words}")
            self.samples.title.setToolTip("The model is built; the first samples show when "
                                          "this training iteration ends.")

    def _show_history(self, ev) -> None:
        """A reopened run's curves (resumed or sampled) start where the run began, not
        where it was reopened: its ``metrics.csv`` up to the checkpoint goes in first.
        A followed run replays its own rows; a new run has none."""
        if not ev.run_dir or ev.iteration <= 0 or self.controller.state == "following":
            return
        from ebm_engine.runs.rundir import RunDir, run_folder_of

        run = run_folder_of(ev.run_dir)  # a checkpoint folder: its run's history
        try:
            rows = [r for r in RunDir(run).read_metrics()
                    if r.get("iteration", 0) <= ev.iteration] if run is not None else []
        except (OSError, ValueError, EBMError):
            rows = []  # no history to show is no reason to refuse the run
        if rows:
            self.curves.add_rows(rows[::max(1, len(rows) // MAX_HISTORY_ROWS)])
        else:
            self.curves.set_note(f"No training curves: {(run or Path(ev.run_dir)).name} has no "
                                 "metrics.csv (pretrained models ship without their history).")

    def _show_snapshot(self, snap) -> None:
        started = time.perf_counter()
        if self.samples.show_snapshot(snap, *self._grid_words()):
            self.samples.paint_now()  # so the draw's cost includes its painting
            self.controller.frame_drawn(time.perf_counter() - started, started)
        self.export_menu.set_snapshot(snap)

    def _grid_words(self) -> tuple[str, str]:
        """What the current method's main grid shows and what each cell holds (its
        ``samples_are`` and ``cells_are``), or ``""``."""
        try:
            method = method_class(self.controller.config.train.method)
        except EBMError:  # a config being edited may name no method yet
            return "", ""
        return method.samples_are, method.cells_are

    def _knob_applied(self, ev) -> None:
        new = f"{ev.new:g}" if isinstance(ev.new, float) else ev.new  # 1e+06, not 1000000.0
        self.curves.add_marker(ev.iteration, f"{ev.key.split('.')[-1]}={new}")
        self.log_line(f"iteration {ev.iteration}: {ev.key} {ev.old} → {ev.new}")
        if ev.key == "train.iterations":  # the run's new total
            self.status.target = int(ev.new)
            self.status.show_iteration(ev.iteration)

    def _target_set(self, ev) -> None:
        self.status.target = ev.target
        self.status.show_iteration(max(ev.iteration, self.controller.iteration))

    def _diverged(self, ev) -> None:
        from ebm_engine.learning.advice import divergence_advice, failed_iteration

        if self.controller.following_run:  # another process's run: nothing here to resume
            self.curves.add_marker(failed_iteration(ev.iteration), "diverged", "diverged")
            self.log_line(f"iteration {failed_iteration(ev.iteration)} of the followed run "
                          f"diverged ({ev.message}); its job decides what follows")
            return
        advice = divergence_advice(self.controller.config.train.method, ev.iteration)
        if getattr(ev, "final", False):  # the retries are spent: there is no Resume
            self._close_pause_dialog()
            self.show_error(f"Training stopped: iteration {failed_iteration(ev.iteration)} "
                            f"diverged again ({ev.message}), and the run ended there. "
                            f"{advice[0].upper() + advice[1:]}, then press ▶ Train for a new "
                            f"run (or resume this one from a checkpoint, if it has one).")
            return
        if ev.iteration == 0:  # no update has been made: the rate cannot be the cause
            self._pause_said(f"Training paused at its first iteration, before any update: "
                            f"{ev.message}. The chains' start or step is out of scale: "
                            f"{advice}, then press Resume.")
            return
        back = self.controller.roll_back_choices()
        undo = (" If an edit broke the run, Resume diverges again: go back instead, to "
                + " or ".join(f"iteration {i} ({what})" for i, what in back)
                + ", with the settings of then." if back else "")
        self._pause_said(f"Training paused: iteration {failed_iteration(ev.iteration)} diverged "
                         f"({ev.message}); the run stands at iteration {ev.iteration}. "
                         f"{advice[0].upper() + advice[1:]}, then press Resume.{undo}", back)

    def _rolled_back(self, ev) -> None:
        from ebm_engine.learning.advice import failed_iteration

        followed = self.controller.following_run
        self.curves.truncate(ev.iteration, rows=not followed)
        self.curves.add_marker(ev.iteration, "rolled back", "rollback")
        if not followed:  # a followed run's rows after it may be shown already
            self.status.show_iteration(ev.iteration)
        changes = ", ".join(f"{k} {old} → {new}" for k, (old, new) in ev.changes.items())
        self.log_line(f"iteration {failed_iteration(ev.diverged_at)} diverged ({ev.message}); "
                      f"rolled back to {ev.iteration}" + (f" with {changes}" if changes else ""))

    def _finished(self, ev) -> None:
        unsaved = getattr(ev, "unsaved", "")  # the final checkpoint failed: an error, as in the CLI
        self.log_line(f"finished: {ev.reason}")
        self.status.finished(ev.iteration, "not saved" if unsaved else ev.reason)
        self.summary.show_run(self.controller.run_dir)
        if unsaved:
            self.show_error(f"Training ended at iteration {ev.iteration}, but {unsaved}.")

    # --- runs: open, follow, recent ----------------------------------------------------------
    def open_run(self, path: str | Path, mode: str = "sample", opened: bool = True) -> None:
        """Open a run or checkpoint folder, or a pretrained model (``zoo:NAME``):
        ``sample`` (no training) or ``resume`` training. ``opened``: the user opened
        it (then Train continues it); False for Sample only of a run trained here."""
        from ebm_engine.runs import zoo

        try:
            path = zoo.resolve(path)  # zoo:NAME → its folder, as everywhere a run is taken
        except EBMError as exc:  # an unknown name: one line with a hint
            self.show_error(str(exc))
            return
        if self._pretrained != path:  # another run: Train no longer continues the pretrained one
            self._pretrained = None
        if mode == "resume" and not (path / "config.json").is_file():
            self.show_error(f"{path} is not a run folder (no config.json), so it cannot be resumed.")
            return
        if mode == "resume" and zoo.is_zoo(path):  # read-only: continue it in a new folder
            self._pretrained = path
            self.start_training()
            return
        if mode == "sample" and opened:
            # a zoo entry (--open zoo:NAME), a run or one checkpoint opened to sample:
            # Train continues it in a new run folder, as after Load pretrained (it trained
            # a new model from scratch beside it, without a word)
            if self._settings_before is None:  # not the opened model's own (Sample again)
                self._settings_before = (self.controller.config, path)
            self._pretrained = path
            self.log_line(f"{path.name}: press Sample only for fresh chains, ▶ Continue to "
                          "train it further in a new run folder")
        elif mode == "sample":
            self._pretrained = None
        from ebm_engine.runs.rundir import run_folder_of

        name = (run_folder_of(path) or path).name  # a checkpoint folder: its run's name
        self.clear_views(f"<b>{name}</b> — " + ("resuming: loading the checkpoint and the data…"
                                               if mode == "resume" else
                                               "drawing samples: they appear when the chains end…"))
        if mode == "resume":
            self.controller.resume(path)
        else:
            from app.samples_shown import samples_to_draw

            self._sampled = path
            self.controller.sample(path, samples_to_draw(path))

    def follow_run(self, path: str | Path) -> None:
        """Show a run folder another process is still writing, live, until it finishes
        (``zoo:NAME`` is resolved as by :meth:`open_run`; a pretrained model is refused in
        one line: nothing trains it)."""
        from ebm_engine.runs import zoo

        try:
            path = zoo.resolve(path)
        except EBMError as exc:  # an unknown name: one line with a hint
            self.show_error(str(exc))
            return
        self._pretrained = self._sampled = None
        before = self.controller.config
        self.clear_views()
        if self.controller.follow(path) and self._settings_before is None:
            # the followed run's settings are its writer's: Reset (and the next launch)
            # gives back the user's, as after opening a model to sample
            self._settings_before = (before, path)

    def _runs_folder(self) -> str:
        """Where the open dialogs start: the folder the app's runs are written to."""
        return str(self.runs_root) if self.runs_root.is_dir() else ""

    def _ask_sample_what(self) -> None:
        """Sample only with no model: say so, and offer to open a run folder."""
        answer = QMessageBox.question(
            self, "Nothing to sample yet",
            "There is no model to sample yet: press ▶ Train to train one, or open a run "
            "folder you trained before.\n\nOpen a run folder now?",
            QMessageBox.StandardButton.Open | QMessageBox.StandardButton.Cancel)
        if answer == QMessageBox.StandardButton.Open:
            self._ask_open_run(mode="sample")

    def _ask_open_run(self, mode: str | None = None) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a run folder or a checkpoint folder",
                                                self._runs_folder())
        if path:
            if mode is None and (Path(path) / "state.json").is_file():
                # a checkpoint folder: it can be sampled; training resumes a run folder
                # (from its latest checkpoint), so Resume is not offered for it
                mode = "sample"
                self.log_line(f"{path}: a checkpoint folder, sampled (Resume training "
                              "continues run folders in place)")
            mode = mode or ask_open_mode(self)
            if mode is not None:
                self.open_run(path, mode)

    def _ask_follow(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Follow a run folder", self._runs_folder())
        if path:
            self.follow_run(path)

    def _open_recent(self, path: str, mode: str) -> None:
        self.follow_run(path) if mode == "follow" else self.open_run(path, mode)

    def show_run_summary(self) -> dict | None:
        """Show the run's ``eval.json`` (if present) in the Run summary tab."""
        data = self.summary.show_run(self.controller.run_dir)
        self.tabs.setCurrentWidget(self.summary)
        return data

    def export(self, what: str, path: str | Path) -> Path | None:
        """Export through the Export menu (``grid``, ``chain``, ``turntable``, ``metrics``, ``checkpoint``)."""
        return self.export_menu.export(what, path)

    # --- persistence -------------------------------------------------------------------
    def _restore_settings(self, demo: str | None) -> None:
        window_geometry.restore(self, self.store)
        state = self.store.value("window_state")
        if isinstance(state, QByteArray):
            self.restoreState(state)
        self._restore_view_choices()
        source = str(demo or self.store.value("source") or "8gaussians")
        self.data_panel.set_source(source, emit=False)
        saved = self.store.value("config")
        try:
            cfg = RunConfig.from_json(saved) if not demo and isinstance(saved, str) else None
            cfg = saved_run_config(cfg) if cfg is not None else None  # last session's settings
        except EBMError:
            cfg = None
        if cfg is not None and cfg.data.source == source:
            # as when chosen: its minutes, a file by its name (not its whole path)
            self._use_config(cfg, self._ready_title(cfg))
            self._show_source(cfg)
        else:
            self._source_chosen(source)

    def _restore_view_choices(self) -> None:
        """The panes' sizes and the curves' choices (also plot, smoothing, x axis) of the
        last launch; a value that is missing or of another type is skipped."""
        for splitter in (self.left_splitter, self.center_splitter):
            state = self.store.value(splitter.objectName())
            if isinstance(state, QByteArray):
                splitter.restoreState(state)
        picked = self.store.value("curves_also_plot")
        if isinstance(picked, str):
            self.curves.picked = picked
        for key, set_value, top in (("curves_smoothing", self.curves.smooth.setValue,
                                     self.curves.smooth.maximum()),
                                    ("curves_x_axis", self.curves.xaxis.setCurrentIndex,
                                     self.curves.xaxis.count() - 1)):
            try:  # an INI file gives the number back as text
                value = int(self.store.value(key))
            except (TypeError, ValueError):
                continue
            if 0 <= value <= top:
                set_value(value)

    def save_settings(self) -> None:
        """Keep the window's layout and the user's settings for the next launch.

        A model opened to sample (or a followed run) lent the panel its own settings;
        they go with it, as Reset takes them back: the next launch restores the
        settings in force before it was opened, not another run's recipe as if the
        user's (with no model left to continue).
        """
        window_geometry.save(self, self.store)
        self.store.setValue("window_state", self.saveState())
        # the panes' sizes and the curves' choices, as the user left them
        for splitter in (self.left_splitter, self.center_splitter):
            self.store.setValue(splitter.objectName(), splitter.saveState())
        self.store.setValue("curves_also_plot", self.curves.picked)
        self.store.setValue("curves_smoothing", self.curves.smooth.value())
        self.store.setValue("curves_x_axis", self.curves.xaxis.currentIndex())
        if self._settings_before is not None:
            cfg = self._settings_before[0]
            self.store.setValue("source", cfg.data.source)
        else:
            cfg = self.controller.config
            self.store.setValue("source", self.data_panel.source)
        self.store.setValue("config", cfg.to_json())
        self.store.sync()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange:  # un-minimised: draw what came
            self.samples.window_state_changed()

    def quit_asking(self) -> None:
        """File → Quit: close as the window's close button does (asking first while
        a run trains)."""
        self._quit_by_user = True
        try:
            self.close()
        finally:
            self._quit_by_user = False

    def _ask_before_quitting(self) -> None:
        """While a run trains, a close the user asked for asks first (non-blocking):
        the run stops there; nothing is lost where it has a run folder."""
        self.raise_()  # Ctrl+Q from the Learn or Help window: the question comes in front
        self.activateWindow()
        if self._quit_asked is not None:
            self._quit_asked.raise_()
            return
        c = self.controller
        # no iteration number: the run goes on while the question is open
        where = ("It writes a checkpoint of the iteration it stops at, so File → Open run "
                 "continues it later." if c.session.run_dir is not None else
                 "This run has no run folder: what it learnt so far is lost.")
        box = QMessageBox(QMessageBox.Icon.Question, "EBM Studio",
                          f"Training is running ({c.session.target} iterations in all). Stop it "
                          f"and quit? {where}", QMessageBox.StandardButton.NoButton, self)
        box.setObjectName("quit_dialog")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        quit_button = box.addButton("Stop and quit", QMessageBox.ButtonRole.AcceptRole)
        quit_button.setObjectName("quit_anyway")
        box.setDefaultButton(box.addButton("Keep training", QMessageBox.ButtonRole.RejectRole))
        self._quit_asked = box

        def answered(button) -> None:
            self._quit_asked = None
            if button is quit_button:
                self._quit_confirmed = True
                self.close()

        box.buttonClicked.connect(answered)
        box.rejected.connect(lambda: setattr(self, "_quit_asked", None))  # Esc
        box.open()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        """Stop the worker cleanly (it writes a final checkpoint), then close. A close
        the user asked for (close button, File → Quit) while a run trains asks first."""
        training = self.controller.session.state.value in ("running", "paused")
        if (training and not self._quit_confirmed
                and (event.spontaneous() or self._quit_by_user)):
            event.ignore()
            self._ask_before_quitting()
            return
        self.save_settings()
        if self.controller.busy:
            self.statusBar().showMessage("Stopping: writing a checkpoint…")
        self.controller.shutdown()
        if self._learn is not None:
            self._learn.runner.stop()  # a live Learn demo ends with the window
        self.export_menu.join_picture()  # a "Sample from my picture…" worker ends too
        self.samples.release()  # VTK views release their render windows
        super().closeEvent(event)


def first_iteration_words(cfg: RunConfig, done: int = 0) -> str:
    """What a run that has just started is doing until its first samples come: iteration
    ``done + 1``, and for a method that learns from Langevin chains how many steps of how
    many chains that is (the 3D demos' first picture waits one whole iteration, seconds)."""
    from ebm_engine.methods.base import LearningMethod

    words = f"iteration {done + 1}"
    try:
        method = method_class(cfg.train.method)
    except EBMError:  # a method this version lacks: the run says so itself
        method = LearningMethod
    if method.learns_from_chains and cfg.sampler.n_steps > 0:
        if method.sample_steps is LearningMethod.sample_steps:  # sampler.n_steps, one stage
            words += (f": {cfg.sampler.n_steps} Langevin steps of {cfg.train.batch_size} "
                      f"chain{'s' if cfg.train.batch_size != 1 else ''}")
        else:  # per grid or level: the method's own options say how many
            words += ": its Langevin chains"
    return words + ", then samples…"  # short: the title is one elided line


def _in_app_words(message: str) -> str:
    """An engine message with its CLI advice put as the app's control that does it."""
    from ebm_engine.data.files import SKIP_HINT

    message = message.replace(SKIP_HINT, "(tick “skip pictures that cannot be read” in the data "
                                         "panel to leave such files out)")
    # a run another process trains: the app continues a copy by opening it, then Train
    message = re.sub(r"continue a copy of it with --resume \S+ --out NEW",
                     "open it to sample (File → Open run) and press ▶ Continue to train a copy "
                     "of it in a new run folder", message)
    # the CLI's --set data.options.KEY=VALUE is typed in the data panel's options field
    return re.sub(r"--set data\.options\.([\w.]+=[^\s;)]+)", r"\1 in the data options field",
                  message)
