"""TensorBoard scalars for a run, written only when ``tensorboard`` is installed
(``pip install 'ebm-studio[tensorboard]'``); otherwise this does nothing.

``metrics.csv`` stays the run's record; this is a convenience for people who
already watch their jobs in TensorBoard (``tensorboard --logdir RUN/tensorboard``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


class TensorBoardScalars:
    """Write each iteration's metrics as scalars under ``folder``.

    Parameters
    ----------
    folder : path
        Event-file folder (created by TensorBoard's writer when enabled).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._writer: Any = None
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # tensorboard is an optional extra
            return
        self._writer = SummaryWriter(log_dir=str(self.folder))

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def add(self, iteration: int, metrics: dict[str, float]) -> None:
        """Log finite numeric ``metrics`` at step ``iteration``."""
        if self._writer is None:
            return
        for key, value in metrics.items():
            if isinstance(value, (int, float)) and math.isfinite(value):
                self._writer.add_scalar(key, float(value), iteration)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
