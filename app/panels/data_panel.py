"""The data panel: built-in demo catalogue (thumbnail, kind, expected time), "Open…",
which reader a folder or file is read with ("read as: meshes (10 files)"), and for a
demo its "Load pretrained" (a zoo entry) and "About" buttons."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtGui import QFocusEvent, QIcon, QKeyEvent, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ebm_engine.data import applicable_readers, demos, describe, detect_reader, readers
from ebm_engine.data.detect import count_files, path_exists, reader_label
from ebm_engine.errors import ConfigError, DataError
from ebm_engine.presets import demo_minutes, demo_preset
from ebm_engine.resources import resources_dir
from ebm_engine.runs import zoo

# How long the demo list's current row must rest under the arrow keys before it loads.
KEY_SETTLE_MS = 350
ROWS_SHOWN = 3  # demo rows the list always has room for
# The keys that walk the list and load where they rest. Typing a name (Qt's type-ahead)
# only highlights a demo: a stray keystroke must not replace the user's opened folder.
WALK_KEYS = frozenset({Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp,
                       Qt.Key.Key_PageDown, Qt.Key.Key_Home, Qt.Key.Key_End})


def thumbnail_path(name: str) -> Path:
    return resources_dir() / "icons" / f"demo-{name}.png"


class DemoList(QListWidget):
    """The demo list; with the user's own data chosen it has no current demo.

    Qt makes the first row current when a list without one gains focus (the
    window activated, a Tab): "digits" would look chosen while a folder is.
    Arrow keys still move from the top.

    `sigWalked` is emitted when a walking key (`WALK_KEYS`) moved the current row.
    """

    sigWalked = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 (Qt's name)
        before = self.currentRow()
        super().keyPressEvent(event)
        if event.key() in WALK_KEYS and self.currentRow() != before:
            self.sigWalked.emit()

    def focusInEvent(self, event: QFocusEvent) -> None:  # noqa: N802 (Qt's name)
        none = self.currentRow() < 0
        super().focusInEvent(event)
        if none and self.currentRow() >= 0:
            self.setCurrentRow(-1)


class DataPanel(QWidget):
    """Choose a demo with one click, or open a folder/file the engine can read.

    For a path, the panel shows the reader its content calls for ("read as:
    meshes (10 files)") and a box to choose another one (or to choose one for
    a mixed folder).

    Signals
    -------
    sigSourceChosen(source)
        A demo name or a path was chosen (again, after a reader choice).
    sigReaderChosen(reader)
        The reader for the current path, for ``data.options.reader``: a name
        the user chose, or ``""`` (detect from the content) when a new path
        is opened, so the last folder's choice does not stick. It comes
        before the ``sigSourceChosen`` it belongs with.
    sigPretrainedChosen(path)
        "Load pretrained": the folder of the current demo's zoo entry
        (:func:`ebm_engine.runs.zoo.for_demo`).
    sigAboutChosen(kind, name)
        "About": the card to show, :meth:`about_card` (the demo's, or the method's
        when the method has a preset of its own for the demo).
    """

    sigSourceChosen = Signal(str)
    sigReaderChosen = Signal(str)
    sigPretrainedChosen = Signal(str)  # the zoo entry's folder, for the current demo
    sigAboutChosen = Signal(str, str)  # ("demo", name) or ("method", name): about_card()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.catalogue = demos()
        self.list = DemoList()
        self.list.setObjectName("demo_list")
        self.list.setIconSize(QSize(48, 48))
        self.list.setSpacing(1)
        self.zoo = zoo.entries()
        self.pretrained = {name: e for name, info in self.catalogue.items()
                           if (e := zoo.for_demo(name, info.preset, self.zoo)) is not None}
        self.method = ""  # the method chosen: its own zoo entry is loaded when there is one
        self.source = ""
        for name in self.catalogue:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, name)
            self._label(item)
            icon = thumbnail_path(name)
            if icon.is_file():
                item.setIcon(QIcon(QPixmap(str(icon))))
            self.list.addItem(item)
        # At least ROWS_SHOWN rows, on a short screen too (it had shown one and a half).
        rows = self.list.sizeHintForRow(0) + 2 * self.list.spacing()
        self.list.setMinimumHeight(ROWS_SHOWN * rows + 2 * self.list.frameWidth())
        self.list.itemClicked.connect(self._clicked)
        # The keyboard chooses too: Enter at once, arrow keys once they rest on a demo
        # (not each demo passed on the way, which would load every one of them).
        self.list.itemActivated.connect(self._activated)
        self._keyed = QTimer(self)
        self._keyed.setSingleShot(True)
        self._keyed.setInterval(KEY_SETTLE_MS)
        self._keyed.timeout.connect(self._key_settled)
        self.list.sigWalked.connect(self._keyed.start)
        self.open_button = QPushButton("Open folder/file…")
        self.open_button.setToolTip("Train on your own images, clips, meshes, voxels, point "
                                    "clouds or arrays")
        menu = QMenu(self.open_button)
        menu.addAction("&Folder…", self._open_folder)
        menu.addAction("&Data file…", self._open_file)
        self.open_button.setMenu(menu)
        self.current = QLabel()
        self.current.setWordWrap(True)
        # Three lines whatever the description: the buttons above stay put from demo to demo.
        self.current.setFixedHeight(3 * self.current.fontMetrics().lineSpacing() + 4)
        self.current.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.read_as = QLabel()
        self.read_as.setObjectName("read_as")
        self.read_as.setWordWrap(True)
        self.reader_box = QComboBox()
        self.reader_box.setObjectName("reader_choice")
        self.reader_box.setPlaceholderText("choose a reader")
        self.reader_box.setToolTip("How the files are read (data.options.reader). A folder is "
                                   "read as the kind of file that makes up two thirds of it.")
        # activated: only the user's choices, not the panel filling the box.
        self.reader_box.activated.connect(self._reader_activated)
        self.reader_row = QWidget()
        reader_layout = QHBoxLayout(self.reader_row)
        reader_layout.setContentsMargins(0, 0, 0, 0)
        reader_layout.addWidget(self.read_as, 1)
        reader_layout.addWidget(self.reader_box)
        self.reader_row.setVisible(False)
        # One broken picture stops a folder; this reads the others (data.options.skip_unreadable).
        self.skip_box = QCheckBox("skip pictures that cannot be read")
        self.skip_box.setObjectName("skip_unreadable")
        self.skip_box.setToolTip("data.options.skip_unreadable: leave out (and count) image files "
                                 "that cannot be decoded, instead of stopping at the first")
        self.skip_box.setVisible(False)
        self.skip_box.toggled.connect(self._skip_toggled)
        # What the CLI's --set data.options.KEY=VALUE says (per_file, key, kind,
        # value_range, labels, pairs …): the app had no way to say it for a user's data.
        self.options_edit = QLineEdit()
        self.options_edit.setObjectName("data_options")
        self.options_edit.setPlaceholderText("more data options: KEY=VALUE …, then Enter")
        self.options_edit.setToolTip(
            "data.options for your files, as with the CLI's --set data.options.KEY=VALUE, "
            "separated by spaces: e.g. per_file=item (one picture per array file), "
            "value_range=0,16, key=NAME (an .npz member), labels=folders pairs=labels "
            "(class-conditional), pairs=/path/to/targets. Enter applies them; a key the "
            "reader does not take is refused with the keys it takes.")
        self.options_edit.setVisible(False)
        self.options_edit.returnPressed.connect(lambda: self.sigSourceChosen.emit(self.source))
        self.pretrained_button = QPushButton("Load pretrained")
        self.pretrained_button.setObjectName("load_pretrained")
        self.pretrained_button.clicked.connect(self._load_pretrained)
        self.about_button = QPushButton("About")
        self.about_button.setObjectName("about_demo")
        self.about_button.clicked.connect(lambda: self.sigAboutChosen.emit(*self.about_card()))
        demo_row = QHBoxLayout()
        demo_row.addWidget(self.pretrained_button, 1)
        demo_row.addWidget(self.about_button)
        row = QHBoxLayout()
        row.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(QLabel("<b>Built-in demos</b> (one click, then ▶ Train)"))
        layout.addWidget(self.list, 1)
        layout.addLayout(demo_row)
        layout.addLayout(row)
        layout.addWidget(self.current)
        layout.addWidget(self.reader_row)
        layout.addWidget(self.skip_box)
        layout.addWidget(self.options_edit)
        self.reader = ""  # the user's choice of reader; "" = detected from the content
        self.detected = ""  # what the content calls for ("" = mixed or unreadable)
        self.counts: dict[str, int] = {}
        self._running = False
        self._show_pretrained()

    def _label(self, item: QListWidgetItem) -> None:
        """A demo's card text: kind, minutes, pretrained; for the current demo trained
        with a method that has a preset of its own, that method and its minutes."""
        name = item.data(Qt.ItemDataRole.UserRole)
        info = self.catalogue[name]
        method = self.method if name == self.source else ""
        preset = demo_preset(name, method)
        own = preset == info.preset
        minutes = info.expected_minutes if own else demo_minutes(name, method)
        entry = self.pretrained_entry() if name == self.source else self.pretrained.get(name)
        parts = [info.kind] + ([f"~{minutes:g} min"] if minutes else []) + (["pretrained"] if entry else [])
        item.setText(f"{name}\n{' · '.join(parts)}" + ("" if own else f"\nwith {method}"))
        about = f"about {minutes:g} min for good results on a 2-core CPU" if minutes else ""
        item.setToolTip(f"{info.description}\nPreset: {preset}" + (f"; {about}" if about else ""))

    def _relabel(self) -> None:
        for i in range(self.list.count()):
            self._label(self.list.item(i))

    def about_card(self) -> tuple[str, str]:
        """What About shows: ``("method", m)`` when the current demo trains with a method
        that has a preset of its own here (its card holds what it measured on this
        demo), else ``("demo", name)``."""
        info = self.catalogue.get(self.source)
        if info is not None and self.method and demo_preset(self.source, self.method) != info.preset:
            return "method", self.method
        return "demo", self.source

    def set_source(self, source: str, emit: bool = True) -> None:
        """Select ``source`` (demo name or path) and announce it.

        A path is looked at to show how it will be read; the reader choice
        goes back to automatic (``sigReaderChosen("")`` when ``emit``).
        """
        self.source = source
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == source:
                self.list.setCurrentItem(item)
                break
        else:  # the user's own data: no demo stays current (it was still drawn highlighted)
            self.list.setCurrentRow(-1)
            self.list.clearSelection()
        info = self.catalogue.get(source)
        self.current.setText(f"Data: <b>{source}</b>" + (f" — {info.description}" if info else ""))
        self.current.setToolTip(info.description if info else source)  # where 3 lines cut it
        self.reader = ""
        self.skip_box.blockSignals(True)  # a new source starts without skipping
        self.skip_box.setChecked(False)
        self.skip_box.blockSignals(False)
        if info is None:
            self._detect(source)
        self.reader_row.setVisible(info is None)
        self.options_edit.setVisible(info is None)
        self.options_edit.clear()  # a new source starts without the last one's options
        if info is not None:  # a demo reads its own data
            self.skip_box.setVisible(False)
        self._show_pretrained()
        if emit:
            if info is None:
                self.sigReaderChosen.emit("")
            self.sigSourceChosen.emit(source)

    def set_detected(self, reader: str, counts: dict[str, int], message: str = "") -> None:
        """Show how the current path is read.

        Parameters
        ----------
        reader : str
            Reader the content calls for (``""``: none, e.g. a mixed folder).
        counts : dict
            ``{reader: files}`` as :func:`ebm_engine.data.detect_reader` gives.
        message : str
            Shown instead of "read as …" (why no reader was found).
        """
        self.detected, self.counts = reader, dict(counts)
        names = applicable_readers(self.source) if self.source else []
        names += [n for n in [*counts, reader, self.reader] if n and n not in names]
        self.reader_box.clear()
        for name in names:
            n = counts.get(name)
            files = f" ({n} file{'s' if n != 1 else ''})" if n else ""
            self.reader_box.addItem(f"{reader_label(name)}{files} [{name}]", name)
        self._show_choice(message)

    def set_reader(self, reader: str, emit: bool = False) -> None:
        """Read the current path with ``reader`` (``""``: as detected), as if chosen in the box."""
        self.reader = reader
        if reader and self.reader_box.findData(reader) < 0:
            self.reader_box.addItem(f"{reader_label(reader)} [{reader}]", reader)
        self._show_choice()
        if emit:
            self.sigReaderChosen.emit(reader)
            self.sigSourceChosen.emit(self.source)

    def _detect(self, source: str) -> None:
        try:
            reader, counts = detect_reader(source)
        except DataError as exc:
            counts = count_files(source) if path_exists(Path(source)) else {}
            message = str(exc)
            if len(counts) > 1:  # a mixed folder: the box is the way to choose, not --set
                held = [f"{n} {reader_label(name)}" for name, n in counts.items()]
                message = f"{', '.join(held[:-1])} and {held[-1]} here: choose how to read them"
            self.set_detected("", counts, message)
        else:
            self.set_detected(reader, counts)

    def data_options(self) -> list[tuple[str, str]]:
        """The options typed for the current path, as ``("data.options.KEY", "VALUE")``.

        Raises
        ------
        ConfigError
            A word without ``=``.
        """
        if self.options_edit.isHidden():
            return []
        out = []
        for word in self.options_edit.text().split():
            key, sep, value = word.partition("=")
            if not sep or not key:
                raise ConfigError(f"data options are KEY=VALUE words, got {word!r}")
            out.append((f"data.options.{key.removeprefix('data.options.')}", value))
        return out

    @property
    def skip_unreadable(self) -> bool:
        """Whether unreadable pictures of the current folder are skipped."""
        return not self.skip_box.isHidden() and self.skip_box.isChecked()

    def _skip_toggled(self, _checked: bool) -> None:
        if not self.skip_box.isHidden():  # the config is chosen again, with the option
            self.sigSourceChosen.emit(self.source)

    def _show_choice(self, message: str = "") -> None:
        shown = self.reader or self.detected
        self.skip_box.setVisible(self.source not in self.catalogue and shown == "image-folder")
        self.reader_box.setCurrentIndex(self.reader_box.findData(shown) if shown else -1)
        if shown:
            what = describe(shown, self.counts) if self.counts.get(shown) else reader_label(shown)
            mine = ", your choice" if self.reader else ""
            self.read_as.setText(f"read as: {what}{mine}")
        else:
            self.read_as.setText(message or "choose how to read this data")
        self.read_as.setToolTip(message)

    def _reader_activated(self, index: int) -> None:
        name = self.reader_box.itemData(index)
        if not name or name == (self.reader or self.detected):
            return
        self.set_reader("" if name == self.detected else name, emit=True)

    def set_running(self, running: bool) -> None:
        """While a run is active, Load pretrained waits (the run must stop first)."""
        self._running = running
        self._show_pretrained()

    def set_method(self, method: str) -> None:
        """The learning method chosen: Load pretrained loads only an entry of that method."""
        self.method = method
        self._show_pretrained()

    def pretrained_entry(self) -> zoo.ZooEntry | None:
        """The zoo entry Load pretrained loads: the current demo's, of the chosen method
        (digits + coopnets → digits-coopnets); none when the zoo has this demo only with
        another method (rings + fce: loading rings-ml would swap the method unasked)."""
        mine = [e for e in self.zoo.values() if e.data == self.source and e.method == self.method]
        if mine:
            return mine[0]
        own = self.pretrained.get(self.source)
        return own if own is not None and self.method in ("", own.method) else None

    def _show_pretrained(self) -> None:
        """The demo buttons and cards follow the demo and method chosen."""
        self._relabel()
        entry = self.pretrained_entry()
        self.pretrained_button.setEnabled(entry is not None and not self._running)
        self.about_button.setEnabled(self.source in self.catalogue)
        kind, name = self.about_card()
        self.about_button.setToolTip(
            f"About {name}{f' on {self.source}' if kind == 'method' else ''}: what it shows, "
            "the knobs that matter, what to watch" + (", what it measured here"
                                                       if kind == "method" else ""))
        if entry is not None:
            self.pretrained_button.setToolTip(
                f"Load zoo:{entry.name} ({entry.method}, {entry.iterations_text()}; "
                f"{entry.metric_text()}): samples at once; Sample draws fresh chains, "
                "▶ Train (it then reads Continue) trains it further in a new run folder")
        elif (other := self.pretrained.get(self.source)) is not None:
            self.pretrained_button.setToolTip(
                f"No pretrained {self.method} model for {self.source}: zoo:{other.name} was "
                f"trained with {other.method} (choose {other.method} to load it)")
        else:
            self.pretrained_button.setToolTip("No pretrained model for this data "
                                              "(`ebm zoo` lists them)")

    def _load_pretrained(self) -> None:
        entry = self.pretrained_entry()
        if entry is not None:
            self.sigPretrainedChosen.emit(str(entry.path))

    def _clicked(self, item: QListWidgetItem) -> None:
        self._keyed.stop()
        self.set_source(item.data(Qt.ItemDataRole.UserRole))

    def _activated(self, item: QListWidgetItem) -> None:
        """Enter (or a double click, after its clicks chose it): that demo, once."""
        self._keyed.stop()
        if item.data(Qt.ItemDataRole.UserRole) != self.source:
            self.set_source(item.data(Qt.ItemDataRole.UserRole))

    def _key_settled(self) -> None:
        """The current row moved (arrow keys, Home/End) and rested: choose that demo
        (not while a run trains: it would only be refused)."""
        item = self.list.currentItem()
        if self._running:
            return
        if item is not None and item.data(Qt.ItemDataRole.UserRole) != self.source:
            self.set_source(item.data(Qt.ItemDataRole.UserRole))

    def _open_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(
            self, "Open a folder of images, meshes, point clouds, voxels, videos or arrays")
        if path:
            self.set_source(path)

    def _open_file(self) -> None:
        exts = sorted({e for r in readers() for e in r.extensions if e})
        path, _ = QFileDialog.getOpenFileName(
            self, "Open a data file", "", f"Data files ({' '.join('*' + e for e in exts)})")
        if path:
            self.set_source(path)
