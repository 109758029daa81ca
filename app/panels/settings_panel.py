"""Settings forms built from the knob metadata (config sections and the method's ``Options``).

Each knob gets an editor by its declared type (check box, combo box for
choices, spin box bounded by the knob's bounds, text for numbers and
lists), and a tooltip from its documentation, unit, bounds and whether it
may change during a run. The panel decides nothing: every edit goes to
:meth:`Controller.edit <app.controller.Controller.edit>` (the session). An
accepted edit shows the parsed value; a refused one puts the value in
force back in the field and the session's reason in red beside it. Which
editors are locked during a run comes from the knobs' ``live`` flag.

Number and choice fields react to the mouse wheel only when they have the
keyboard focus, so scrolling the panel never edits a knob.
"""

from __future__ import annotations

import json
import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ebm_engine.config import SECTIONS, is_live
from ebm_engine.options import KnobInfo, knobs_of
from ebm_engine.session import Refused

TITLES = {"model": "Model (energy network)", "sampler": "Sampler (Langevin)",
          "train": "Training", "data": "Data"}
ORDER = ("model", "sampler", "train", "data")
SKIPPED = {"data.source", "train.method"}  # the data panel and the method chooser set these
INT_LIMIT = 2**31 - 1  # QSpinBox holds 32-bit ints; wider bounds get a text field
ENERGY_NOTE = "\nEnergies: E(x) = −f(x) + |x|²/2σ², lower = more probable."


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


class _FocusWheel:
    """Take the wheel only with the keyboard focus; else let it scroll the panel."""

    def _focus_wheel_init(self) -> None:
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

    def wheelEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # goes on to the scroll area


class SpinBox(_FocusWheel, QSpinBox):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._focus_wheel_init()


class ComboBox(_FocusWheel, QComboBox):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._focus_wheel_init()


def tooltip(key: str, info: KnobInfo) -> str:
    """Meaning, unit, bounds and liveness of one knob."""
    spec = info.spec
    text = f"{key}: {info.doc}".rstrip(": ")
    if spec.unit:
        text += f" ({spec.unit})"
    if spec.describe():
        text += f"\nAllowed: {spec.describe()}"
    text += f"\nDefault: {format_value(info.default)}"
    text += "\nMay change during a run." if spec.live else "\nFixed once a run starts."
    if key.startswith("sampler.") and "energy" not in info.doc.lower():
        text += ENERGY_NOTE
    return text


class FieldEditor:
    """The widget for one knob; ``value()`` is what the user typed or picked.

    Text fields hand their text to the session as typed (it parses
    ``1e-3``, ``inf`` and JSON lists and names a bad value).
    """

    def __init__(self, key: str, info: KnobInfo, choices: tuple[Any, ...] | None = None):
        self.key = key
        self.info = info
        spec = info.spec
        choices = choices or spec.choices
        lo = spec.ge if spec.ge is not None else (spec.gt + 1 if spec.gt is not None else -INT_LIMIT)
        hi = spec.le if spec.le is not None else (spec.lt - 1 if spec.lt is not None else INT_LIMIT)
        if choices:
            self.widget = ComboBox()
            self.widget.addItems([str(c) for c in choices])
        elif info.type is bool:
            self.widget = QCheckBox()
        elif info.type is int and -INT_LIMIT <= lo and hi <= INT_LIMIT:
            self.widget = SpinBox()
            self.widget.setRange(int(math.ceil(lo)), int(math.floor(hi)))
            self.widget.setKeyboardTracking(False)  # one edit when typing is done
        else:
            self.widget = QLineEdit()
        self.widget.setObjectName(key)
        self.widget.setToolTip(tooltip(key, info))

    def set_value(self, value: Any) -> None:
        w = self.widget
        w.blockSignals(True)
        if isinstance(w, QComboBox):
            w.setCurrentText(str(value))
        elif isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        elif isinstance(w, QSpinBox):
            w.setValue(int(value))
        else:
            w.setText(format_value(value))
        w.blockSignals(False)

    def value(self) -> Any:
        w = self.widget
        if isinstance(w, QComboBox):
            return w.currentText()
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QSpinBox):
            return w.value()
        return w.text().strip()

    def connect(self, slot) -> None:
        w = self.widget
        if isinstance(w, QComboBox):
            w.currentTextChanged.connect(lambda _=None: slot(self))
        elif isinstance(w, QCheckBox):
            w.toggled.connect(lambda _=None: slot(self))
        elif isinstance(w, QSpinBox):
            w.valueChanged.connect(lambda _=None: slot(self))
        else:
            w.editingFinished.connect(lambda: slot(self))


class SettingsPanel(QWidget):
    """Grouped knob editors; every edit goes through the controller's session.

    Parameters
    ----------
    controller : app.controller.Controller
        Decides on edits (``edit``), holds the config (``config``) and
        announces a new one (``sigConfigChanged``).

    Signals
    -------
    sigKnobEdited(key, value)
        The session accepted an edit (``value`` as parsed).
    """

    sigKnobEdited = Signal(str, object)

    def __init__(self, controller, parent: QWidget | None = None):
        super().__init__(parent)
        from ebm_engine.methods import available_methods
        from ebm_engine.models.registry import available_models

        self.controller = controller
        self.methods = available_methods()
        self.editors: dict[str, FieldEditor] = {}
        self.rows: dict[str, QWidget] = {}  # each editor's row (its field widget), to hide
        self.forms: dict[str, QFormLayout] = {}  # each section's form (model rows are hidden)
        self.errors: dict[str, QLabel] = {}
        self._busy = False  # a run or a sampling is going (set_state)
        self._shown_method: str | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        method_box = QGroupBox("Learning method")
        form = QFormLayout(method_box)
        method = next(k for k in knobs_of(SECTIONS["train"]) if k.name == "method")
        self._add_row(form, "method", FieldEditor("train.method", method,
                                                  tuple(sorted(self.methods))))
        self.method = self.editors["train.method"].widget
        self.method_summary = QLabel()
        self.method_summary.setWordWrap(True)
        form.addRow(self.method_summary)
        self.options_form = QFormLayout()
        form.addRow(self.options_form)
        layout.addWidget(method_box)
        for section in ORDER:
            box = QGroupBox(TITLES[section])
            box.setObjectName(f"group_{section}")
            form = QFormLayout(box)
            self.forms[section] = form
            for info in knobs_of(SECTIONS[section]):
                key = f"{section}.{info.name}"
                if key in SKIPPED or info.type is dict:
                    continue
                choices = tuple(available_models()) if key == "model.name" else None
                self._add_row(form, info.name, FieldEditor(key, info, choices))
            layout.addWidget(box)
        layout.addStretch(1)
        controller.sigConfigChanged.connect(self.show_config)
        self.show_config(controller.config)

    # --- building ---------------------------------------------------------------
    def _add_row(self, form: QFormLayout, label: str, editor: FieldEditor) -> None:
        error = QLabel()
        error.setObjectName(f"error_{editor.key}")
        error.setStyleSheet("color: #ff6b6b;")
        error.setWordWrap(True)
        error.setVisible(False)
        box = QWidget()
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(0)
        v.addWidget(editor.widget)
        v.addWidget(error)
        name = QLabel(label)
        name.setToolTip(editor.widget.toolTip())
        form.addRow(name, box)
        self.rows[editor.key] = box
        self.editors[editor.key] = editor
        self.errors[editor.key] = error
        editor.connect(self._edited)

    def _build_options(self, method: str) -> None:
        """Editors for ``method``'s own knobs (``train.options.*``)."""
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        for key in [k for k in self.editors if k.startswith("train.options.")]:
            self.editors.pop(key)
            self.errors.pop(key)
            self.rows.pop(key)
        cls = self.methods[method]
        self.method_summary.setText(f"<i>{cls.summary()}</i>")
        before = self.method  # Tab goes from the method to its knobs, shown under it
        for info in cls.knobs():
            self._add_row(self.options_form, info.name, FieldEditor(f"train.options.{info.name}", info))
            # made after the other sections, these would come last in the Tab chain; a spin
            # box's own line edit moves with it
            field = self.editors[f"train.options.{info.name}"].widget
            for part in [field, *field.findChildren(QLineEdit)]:
                QWidget.setTabOrder(before, part)
                before = part
        if not cls.knobs():
            self.options_form.addRow(QLabel(f"<i>{method} has no extra knobs</i>"))
        self._shown_method = method

    # --- config in and out --------------------------------------------------------
    @property
    def cfg(self):
        """The config in force (the session's)."""
        return self.controller.config

    def show_config(self, cfg) -> None:
        """Show ``cfg`` in the forms (no edits are sent)."""
        if cfg.train.method != self._shown_method:
            self._build_options(cfg.train.method)
        for key, editor in self.editors.items():
            if key.startswith("train.options."):
                value = cfg.train.options.get(key.rsplit(".", 1)[1], editor.info.default)
            else:
                value = cfg.get_value(key)
            editor.set_value(value)
            self._show_error(key, None)
        self._show_relevant()

    def _show_relevant(self) -> None:
        """Hide the knobs the current choices do not read (a saliency run's n_classes,
        an inpainting run's output_channels, FRAME's width …)."""
        from ebm_engine.models.registry import SIZING, model_reads

        reads = model_reads(self.cfg.model.name)
        for name in SIZING:
            if f"model.{name}" in self.rows:
                self.forms["model"].setRowVisible(self.rows[f"model.{name}"], name in reads)
        given = self.cfg.train.options
        options = {editor.info.name: given.get(editor.info.name, editor.info.default)
                   for key, editor in self.editors.items() if key.startswith("train.options.")}
        for key, editor in self.editors.items():
            if key.startswith("train.options.") and editor.info.spec.when:
                self.options_form.setRowVisible(self.rows[key], editor.info.spec.applies(options))

    def set_config(self, cfg) -> bool:
        """Ask the controller to use ``cfg`` as a whole (shown when it announces it)."""
        return self.controller.set_config(cfg)

    def set_state(self, state: str) -> None:
        """Lock what cannot change now: knobs not ``live`` during a run, all while watching one."""
        running = state in ("running", "paused")
        watching = state in ("sampling", "following")
        busy = running or watching
        if busy and not self._busy:  # a new run: old refusals are history
            for key in self.errors:
                self._show_error(key, None)
        self._busy = busy
        for key, editor in self.editors.items():
            editor.widget.setEnabled(not watching and not (running and not self._live(key)))

    def _live(self, key: str) -> bool:
        editor = self.editors[key]
        return editor.info.spec.live if key.startswith("train.options.") else is_live(key)

    # --- edits ------------------------------------------------------------------------
    def set_value(self, key: str, value: Any):
        """Edit ``key`` as if typed (any key, also ones without an editor); the session's verdict."""
        return self.edit(key, value)

    def edit(self, key: str, value: Any):
        """Send one edit to the session and show its verdict; return it."""
        result = self.controller.edit(key, value)
        editor = self.editors.get(key)
        if isinstance(result, Refused):
            if editor is not None:
                editor.set_value(result.current)
                self._show_error(key, result.reason)
            return result
        if editor is not None:
            editor.set_value(result.value)
            self._show_error(key, None)
        if self._busy and not result.pending:  # the value in force again (a refocused field)
            return result
        if key == "train.method":
            self.show_config(self.controller.config)  # the new method's knobs
        elif key.startswith("train.options."):
            self._show_relevant()  # e.g. condition: which knobs it reads
        self.sigKnobEdited.emit(key, result.value)
        return result

    def _edited(self, editor: FieldEditor) -> None:
        self.edit(editor.key, editor.value())

    def _show_error(self, key: str, message: str | None) -> None:
        label = self.errors[key]
        label.setText(message or "")
        label.setVisible(bool(message))
        self.editors[key].widget.setStyleSheet("border: 1px solid #ff6b6b;" if message else "")
