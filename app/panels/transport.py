"""Transport buttons: Train, Pause/Resume, Step, Sample only, Stop, Reset."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QStyle, QWidget

SP = QStyle.StandardPixmap
BUTTONS = (
    ("train", "Train", SP.SP_MediaPlay,
     "Start a new run on the chosen data with these settings"),
    ("pause", "Pause", SP.SP_MediaPause, "Pause between iterations; press again to resume"),
    ("step", "Step", SP.SP_MediaSkipForward, "Run exactly one training iteration, then pause"),
    ("sample", "Sample only", SP.SP_FileDialogContentsView,
     "Draw samples from the current (or a saved) model without training"),
    ("stop", "Stop", SP.SP_MediaStop, "Finish the run: write a checkpoint and stop"),
    ("reset", "Reset", SP.SP_BrowserReload, "Forget the current run and show the data again, as before Train (your settings stay; an opened model's settings go with it)"),
)

# The keyboard's way to the same commands (the Run menu shows them; F-keys, so that
# no text field of the settings panel takes them first).
SHORTCUTS = {"train": "F5", "pause": "F6", "step": "F7", "sample": "F8", "stop": "Shift+F5"}

# The Run menu's texts, with Alt+letter mnemonics unique in that menu (Resume and Reset
# share the menu, hence Res&ume); the buttons keep plain texts: a mnemonic there would be
# an Alt+letter of the whole window, taken from the menu bar's &Run and the like.
MENU_TEXTS = {"Train": "&Train", "Continue": "&Continue", "Pause": "&Pause", "Resume": "Res&ume",
              "Step": "St&ep", "Sample only": "Sample &only", "Stop": "&Stop", "Reset": "&Reset"}

# Which buttons are enabled in each session state. While paused the Pause
# button reads "Resume": the only Resume (Train would start a new run).
ENABLED = {
    "idle": {"train", "step", "sample"},
    "running": {"pause", "step", "stop"},
    "paused": {"pause", "step", "stop"},
    "sampling": {"stop"},
    "following": {"stop", "reset"},
    "finished": {"train", "step", "sample", "reset"},
}


class TransportBar(QWidget):
    """A row of buttons; ``sigCommand(name)`` says which was pressed."""

    sigCommand = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 2, 4, 2)
        self.buttons: dict[str, QPushButton] = {}
        # The same commands as menu actions with shortcuts (enabled as the buttons are).
        self.actions_by_name: dict[str, QAction] = {}
        for name, text, icon, tip in BUTTONS:
            key = SHORTCUTS.get(name)
            button = QPushButton(self.style().standardIcon(icon), text)
            button.setObjectName(f"btn_{name}")
            button.setToolTip(f"{tip} ({key})" if key else tip)
            button.clicked.connect(lambda _=False, n=name: self.sigCommand.emit(n))
            self.buttons[name] = button
            layout.addWidget(button)
            action = QAction(self.style().standardIcon(icon), MENU_TEXTS[text], self)
            if key:
                action.setShortcut(QKeySequence(key))
            action.setToolTip(tip)
            action.triggered.connect(lambda _=False, n=name: self.sigCommand.emit(n))
            self.actions_by_name[name] = action
        layout.addStretch(1)
        self.set_state("idle")

    def set_state(self, state: str) -> None:
        on = ENABLED.get(state, {"train"})
        for name, button in self.buttons.items():
            button.setEnabled(name in on)
            self.actions_by_name[name].setEnabled(name in on)
        paused = state == "paused"
        icon = self.style().standardIcon(SP.SP_MediaPlay if paused else SP.SP_MediaPause)
        text = "Resume" if paused else "Pause"
        self.buttons["pause"].setText(text)
        self.actions_by_name["pause"].setText(MENU_TEXTS[text])
        for widget in (self.buttons["pause"], self.actions_by_name["pause"]):
            widget.setIcon(icon)

    def set_continues(self, name: str | None) -> None:
        """Train reads "Continue" while a loaded model is what it would train on (``name``:
        that model's; None: Train starts a new run from scratch)."""
        tip = dict((b[0], b[3]) for b in BUTTONS)["train"]
        text = "Train"
        if name:
            text = "Continue"
            tip = (f"Continue training {name} in a new run folder (its weights and chains "
                   "carry over, and its optimiser's state where it kept it: pretrained "
                   "models start fresh optimisers; the model you loaded is only read)")
        key = SHORTCUTS["train"]
        self.buttons["train"].setText(text)
        self.buttons["train"].setToolTip(f"{tip} ({key})")
        self.actions_by_name["train"].setText(MENU_TEXTS[text])
        self.actions_by_name["train"].setToolTip(tip)
