"""EBM Studio's headless engine: energy-based generative models in PyTorch.

The engine never imports Qt, VTK or the app. Training and sampling are
generators that yield small, detached numpy snapshots.
"""

from __future__ import annotations

__version__ = "0.1.0"
