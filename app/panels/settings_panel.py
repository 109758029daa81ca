"""Settings forms generated from the config dataclasses (model, sampler, training, data).

Each field gets a widget by its type, a tooltip from the dataclass docstring
(meaning, units), and inline validation: an invalid value turns the field red
and shows the engine's one-line :class:`ConfigError` under it, and the
last valid config stays in force. The method chooser shows only the chosen
learning method's knobs, generated from its ``option_defaults``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import Any

from PySide6.QtCore import Signal
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

from ebm_engine.config import (
    CHAIN_INITS,
    DEVICES,
    DataConfig,
    ModelConfig,
    RunConfig,
    SamplerConfig,
    TrainConfig,
)
from ebm_engine.errors import ConfigError

SECTIONS = (
    ("model", "Model (energy network)", ModelConfig),
    ("sampler", "Sampler (Langevin)", SamplerConfig),
    ("train", "Training", TrainConfig),
    ("data", "Data", DataConfig),
)
SKIPPED = {"data.source", "model.options", "train.options", "data.options", "train.method"}
# Fields that shape the networks, data or chain memory: fixed once a run started.
FIXED_DURING_RUN = {"train.device", "train.seed", "sampler.init", "sampler.buffer_size"}
UNITS = {
    "sampler.step_size": "δ, in data units",
    "sampler.reference_sigma": "in data units; 'inf' for no reference term",
    "sampler.init_scale": "in data units",
    "train.lr": "per optimiser step",
    "train.sample_every": "iterations",
    "train.checkpoint_every": "iterations",
    "train.record_every": "Langevin steps",
    "model.width": "units or channels",
}


def field_docs(cls: type) -> dict[str, str]:
    """``{field: description}`` from a numpydoc ``Attributes`` section."""
    doc = cls.__doc__ or ""
    out: dict[str, str] = {}
    current: list[str] = []
    for line in doc.splitlines():
        m = re.match(r"^    ([\w, ]+) : .+$", line)
        if m:
            current = [n.strip() for n in m.group(1).split(",")]
            for n in current:
                out[n] = ""
        elif line.startswith("        ") and current:
            for n in current:
                out[n] = (out[n] + " " + line.strip()).strip()
        elif line.strip() and not line.startswith("        "):
            current = []
    return out


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:g}"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


class FieldEditor:
    """A widget for one config value; ``value()`` returns what the user typed."""

    def __init__(self, key: str, value: Any, choices: tuple[str, ...] | None = None):
        self.key = key
        self.kind = type(value)
        if choices:
            self.widget = QComboBox()
            self.widget.addItems(list(choices))
        elif isinstance(value, bool):
            self.widget = QCheckBox()
        elif isinstance(value, int):
            self.widget = QSpinBox()
            self.widget.setRange(-1, 10**9)
            self.widget.setKeyboardTracking(False)
        else:
            self.widget = QLineEdit()
        self.widget.setObjectName(key)
        self.set_value(value)

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
        text = w.text().strip()
        if self.kind is float:
            try:
                return float(text)
            except ValueError:
                return text  # the engine names the bad field
        if self.kind in (list, dict):
            try:
                return json.loads(text)
            except json.JSONDecodeError:
                return text
        return text

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
    """Grouped config forms with inline validation.

    Signals
    -------
    sigKnobEdited(key, value)
        A field changed to a valid value (the controller forwards it mid-run).
    sigMethodChanged(name)
        Another learning method was chosen.
    """

    sigKnobEdited = Signal(str, object)
    sigMethodChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from ebm_engine.methods.base import available_methods
        from ebm_engine.models.registry import available_models

        self.methods = available_methods()
        self.models = available_models()
        self.cfg = RunConfig()
        self.editors: dict[str, FieldEditor] = {}
        self.errors: dict[str, QLabel] = {}
        self.running = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        method_box = QGroupBox("Learning method")
        form = QFormLayout(method_box)
        self.method = QComboBox()
        self.method.setObjectName("train.method")
        self.method.addItems(sorted(self.methods))
        self.method.setCurrentText(self.cfg.train.method)
        self.method.setToolTip("How the energy is learned (ml = maximum likelihood with Langevin "
                               "chains; others add generators, flows or multiple grids)")
        self.method.currentTextChanged.connect(self._method_changed)
        form.addRow("method", self.method)
        self.options_form = QFormLayout()
        form.addRow(self.options_form)
        layout.addWidget(method_box)
        for section, title, cls in SECTIONS:
            box = QGroupBox(title)
            box.setObjectName(f"group_{section}")
            form = QFormLayout(box)
            docs = field_docs(cls)
            for f in dataclasses.fields(cls):
                key = f"{section}.{f.name}"
                if key in SKIPPED:
                    continue
                editor = FieldEditor(key, getattr(getattr(self.cfg, section), f.name),
                                     self._choices(key))
                tip = docs.get(f.name, "")
                if key in UNITS:
                    tip += f" ({UNITS[key]})"
                if section == "sampler" and "energy" not in tip.lower():
                    tip += "\nEnergies: E(x) = −f(x) + |x|²/2σ², lower = more probable."
                editor.widget.setToolTip(f"{key}: {tip}".strip())
                self._add_row(form, f.name, editor)
            layout.addWidget(box)
        layout.addStretch(1)
        self._method_changed(self.method.currentText(), emit=False)

    # --- building ---------------------------------------------------------------
    def _choices(self, key: str) -> tuple[str, ...] | None:
        return {
            "sampler.init": CHAIN_INITS,
            "sampler.init_noise": ("gaussian", "uniform"),
            "train.device": DEVICES,
            "model.name": tuple(self.models),
        }.get(key)

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
        self.editors[editor.key] = editor
        self.errors[editor.key] = error
        editor.connect(self._edited)

    def _method_changed(self, name: str, emit: bool = True) -> None:
        while self.options_form.rowCount():
            self.options_form.removeRow(0)
        for key in [k for k in self.editors if k.startswith("train.options.")]:
            self.editors.pop(key)
            self.errors.pop(key)
        cls = self.methods.get(name)
        if cls is None:
            return
        options = {k: v for k, v in self.cfg.train.options.items() if k in cls.option_defaults}
        raw = self.cfg.to_dict()
        raw["train"]["method"] = name
        raw["train"]["options"] = options
        self.cfg = RunConfig.from_dict(raw)
        doc = (cls.__doc__ or "").strip().splitlines()
        for key, default in cls.option_defaults.items():
            editor = FieldEditor(f"train.options.{key}", options.get(key, default))
            editor.widget.setToolTip(f"{name} knob {key} (default {format_value(default)})"
                                     + (f"\n{doc[0]}" if doc else ""))
            self._add_row(self.options_form, key, editor)
        if not cls.option_defaults:
            self.options_form.addRow(QLabel(f"<i>{name} has no extra knobs</i>"))
        if emit:
            self.sigMethodChanged.emit(name)

    # --- config in and out --------------------------------------------------------
    def set_config(self, cfg: RunConfig) -> None:
        """Show ``cfg`` in the forms (no edit signals)."""
        self.cfg = cfg.copy()
        self.method.blockSignals(True)
        self.method.setCurrentText(cfg.train.method)
        self.method.blockSignals(False)
        self._method_changed(cfg.train.method, emit=False)
        for key, editor in self.editors.items():
            if key.startswith("train.options."):
                continue
            editor.set_value(self.cfg.get_value(key))
            self._show_error(key, None)

    def config(self) -> RunConfig:
        """The config as shown; raises :class:`ConfigError` if a field is still invalid."""
        bad = [k for k, label in self.errors.items() if not label.isHidden()]
        if bad:
            raise ConfigError(self.errors[bad[0]].text())
        return self.cfg.copy()

    def set_running(self, running: bool) -> None:
        """Lock the knobs that cannot change during a run."""
        self.running = running
        self.method.setEnabled(not running)
        for key, editor in self.editors.items():
            fixed = key.startswith(("model.", "data.")) or key in FIXED_DURING_RUN
            editor.widget.setEnabled(not (running and fixed))

    def set_value(self, key: str, value: Any) -> None:
        """Set one field as if the user typed it (validates and emits)."""
        editor = self.editors[key]
        editor.set_value(value)
        self._edited(editor)

    def _edited(self, editor: FieldEditor) -> None:
        key, value = editor.key, editor.value()
        try:
            new = self.cfg.with_value(key, value)
            if key.startswith("train.options."):
                cls = self.methods[new.train.method]
                default = cls.option_defaults[key.rsplit(".", 1)[1]]
                if isinstance(default, (int, float)) and not isinstance(default, bool) \
                        and not isinstance(value, (int, float)):
                    raise ConfigError(f"{key} must be a number, got {value!r}")
        except ConfigError as exc:
            self._show_error(key, str(exc))
            return
        self._show_error(key, None)
        if new.get_value(key) == self.cfg.get_value(key) if _has(self.cfg, key) else False:
            return
        self.cfg = new
        self.sigKnobEdited.emit(key, new.get_value(key))

    def _show_error(self, key: str, message: str | None) -> None:
        label = self.errors[key]
        label.setText(message or "")
        label.setVisible(bool(message))
        self.editors[key].widget.setStyleSheet("border: 1px solid #ff6b6b;" if message else "")


def _has(cfg: RunConfig, key: str) -> bool:
    try:
        cfg.get_value(key)
    except (KeyError, AttributeError):
        return False
    return True
