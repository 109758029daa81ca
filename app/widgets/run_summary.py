"""The run summary tab: ``RUN/eval.json`` (from ``ebm eval``) as a tree, and the run's disk use."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from ebm_engine.metrics.direction import hint, label_of
from ebm_engine.runs.rundir import RunDir


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{int(size)} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def fill_tree(parent: QTreeWidgetItem, data) -> None:
    """Nested dicts and lists as tree rows (floats to 4 significant digits)."""
    items = (data.items() if isinstance(data, dict)
             else enumerate(data) if isinstance(data, list) else [])
    for key, value in items:
        if isinstance(value, (dict, list)):
            fill_tree(QTreeWidgetItem(parent, [str(key), ""]), value)
        else:
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            QTreeWidgetItem(parent, [str(key), text])


class RunSummary(QWidget):
    """``show_run(path)`` fills the tree from ``path/eval.json`` and says how much disk the run takes."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.disk = QLabel("")
        self.disk.setObjectName("run_disk_use")
        self.disk.setWordWrap(True)  # a long run name: the size was cut at a narrow panel
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["metric", "value", "which way"])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.disk)
        layout.addWidget(self.tree, 1)

    def show_run(self, run_dir: str | Path | None) -> dict | None:
        """Show ``run_dir``'s evaluation; return it (``None`` if there is none yet)."""
        self.tree.clear()
        run = RunDir(run_dir) if run_dir else None
        if run is not None and run.path.is_dir():
            self.disk.setText(f"run folder {run.path.name}: {human_bytes(run.disk_usage())} on disk")
        else:
            self.disk.setText("no run yet")
        path = run.path / "eval.json" if run is not None else None
        if path is None or not path.is_file():
            QTreeWidgetItem(self.tree, ["no evaluation yet", "run `ebm eval --run RUN`"])
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            QTreeWidgetItem(self.tree, ["eval.json", "unreadable (being written?)"])
            return None
        if isinstance(data, dict) and isinstance(data.get("metrics"), dict):
            self._fill_scores(data)
        else:
            fill_tree(self.tree.invisibleRootItem(), data)
        self.tree.expandAll()
        for column in (0, 1):  # whole names (logp_data_mean), not "logp_…"
            self.tree.resizeColumnToContents(column)
        return data

    def _fill_scores(self, data: dict) -> None:
        """The metrics first, each with which way it improves (from ``better``), then
        the facts of the evaluation (samples, checkpoint, …)."""
        better = data.get("better") if isinstance(data.get("better"), dict) else {}
        scores = QTreeWidgetItem(self.tree, ["metrics", ""])
        for name, value in data["metrics"].items():
            text = f"{value:.4g}" if isinstance(value, float) else str(value)
            way = hint(label_of(better, str(name)))
            item = QTreeWidgetItem(scores, [str(name), text, way])
            item.setToolTip(2, way)  # the column is cut at a narrow panel ("higher is b")
        fill_tree(self.tree.invisibleRootItem(),
                  {k: v for k, v in data.items() if k not in ("metrics", "better")})
