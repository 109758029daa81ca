"""The Learn window: the Part I concepts, each a short page and a one-click live demo.

Pages are ``resources/learn/<name>.md``; demos are the engine's generators
(:mod:`ebm_engine.learn`), run by a :class:`~app.learn_runner.LearnRunner`
and drawn by a :class:`~app.widgets.learn_plots.LearnCanvas`. Choosing
another concept or closing the window stops the demo.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QListWidget,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.learn_runner import LearnRunner
from app.style import fit_screen
from app.views import steady_label
from app.widgets.learn_plots import LearnCanvas
from ebm_engine.learn import CONCEPTS, Concept


class LearnDialog(QDialog):
    """Concept list on the left; the page, Run/Stop and the demo's plots on the right."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("learn_dialog")
        self.setWindowTitle("Learn: energy-based models in five ideas")
        # at most the screen: at 1280×720 the Learn window's Close button was off-screen
        self.resize(fit_screen(self, 1100, 760))
        self.list = QListWidget()
        self.list.setObjectName("learn_list")
        for c in CONCEPTS:
            self.list.addItem(c.title)
        self.list.setFixedWidth(self.list.sizeHintForColumn(0) + 16)  # whole titles, no scroll bar
        self.text = QTextBrowser()
        self.text.setObjectName("learn_text")
        self.run_button = QPushButton("▶ Run demo")
        self.run_button.setObjectName("learn_run")
        self.run_button.setToolTip("Train a small model on 8gaussians here, live (6–30 s on a free CPU "
                                   "core; slower while the main window trains)")
        self.stop_button = QPushButton("■ Stop")
        self.stop_button.setObjectName("learn_stop")
        self.stop_button.setEnabled(False)
        self.caption = steady_label("Press Run to watch it happen.", 200)
        self.caption.setObjectName("learn_caption")
        self.caption.setWordWrap(True)  # a long status wraps instead of losing its end
        self.canvas = LearnCanvas()
        self.runner = LearnRunner(self)
        self.run_button.clicked.connect(self.run_demo)
        self.stop_button.clicked.connect(self.stop_demo)
        self.runner.sigFrame.connect(self._frame)
        self.runner.sigStateChanged.connect(self._state)
        self.runner.sigError.connect(self.caption.setText)
        self.list.currentRowChanged.connect(self._chosen)
        self._lay_out()
        self.concept: Concept | None = None
        self.list.setCurrentRow(0)

    def _lay_out(self) -> None:
        bar = QHBoxLayout()
        bar.addWidget(self.run_button)
        bar.addWidget(self.stop_button)
        bar.addWidget(self.caption, 1)
        demo = QWidget()
        column = QVBoxLayout(demo)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(bar)
        column.addWidget(self.canvas, 1)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.text)
        right.addWidget(demo)
        right.setSizes([330, 430])  # the page to its equations (the rest scrolls); the plots get the most
        row = QHBoxLayout()
        row.addWidget(self.list)
        row.addWidget(right, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.setObjectName("learn_buttons")
        buttons.rejected.connect(self.close)  # as the About window: a button, not only Esc
        layout = QVBoxLayout(self)
        layout.addLayout(row, 1)
        layout.addWidget(buttons)

    # --- what the menu and tests use -------------------------------------------------
    def show_concept(self, name: str | None = None) -> None:
        """Show concept ``name`` (default: the current one) and raise the window."""
        if name is not None:
            self.list.setCurrentRow([c.name for c in CONCEPTS].index(name))
        self.show()
        self.raise_()
        self.activateWindow()

    def run_demo(self) -> None:
        """Start the current concept's demo (a running one is stopped first)."""
        if self.concept is None:
            return
        self.canvas.clear_frames()
        self.caption.setText("starting…")
        self.runner.start(self.concept.demo)

    def stop_demo(self) -> None:
        self.runner.stop()

    # --- signals ------------------------------------------------------------------
    def _chosen(self, row: int) -> None:
        self.runner.stop()
        self.concept = CONCEPTS[row] if 0 <= row < len(CONCEPTS) else None
        self.canvas.clear_frames()
        if self.concept is not None:
            self.text.setMarkdown(self.concept.text())
            self.caption.setText("Press Run to watch it happen.")

    def _frame(self, frame) -> None:
        self.canvas.show_frame(frame)
        self.caption.setText(f"{frame.caption}  ({frame.iteration}/{frame.total})")

    def _state(self, state: str) -> None:
        running = state == "running"
        self.run_button.setEnabled(not running)
        self.stop_button.setEnabled(running)
        if state in ("stopped", "finished") and self.canvas.frame is not None:
            self.caption.setText(f"{self.canvas.frame.caption}  ({state})")

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        self.runner.stop()
        super().closeEvent(event)

    def done(self, result: int) -> None:  # Esc closes a dialog through done(), not closeEvent
        self.runner.stop()
        super().done(result)
