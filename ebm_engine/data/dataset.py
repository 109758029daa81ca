"""The dataset every learning method consumes: items as stored, read as float32."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

# Data kinds and their item layouts (model space):
#   points      (D,)            raw coordinates, unbounded
#   image       (C, H, W)       values in [-1, 1]
#   video       (C, T, H, W)    values in [-1, 1]
#   voxel       (1, D, H, W)    occupancy in [-1, 1] (-1 empty, 1 full)
#   pointcloud  (N, 3)          coordinates in [-1, 1]
#   text        (T,)            int64 token ids (ebm_engine.data.tokens)
#   molecule    (T,)            int64 token ids of a SMILES string
#   trajectory  (T, 2)          float32 positions in scene coordinates, unbounded; what
#                               conditions each item (scene: start, goal, obstacles; or
#                               the observed history) lives in meta arrays aligned with
#                               the items, named by meta["conditions"] (ebm_engine.data.scenes)
KINDS = ("points", "image", "video", "voxel", "pointcloud", "text", "molecule", "trajectory")
# Kinds whose items are symbols: kept as int64 ids, never converted to float.
TOKEN_KINDS = ("text", "molecule")

# Compact dtypes items may be stored in (model value = stored * scale + offset).
STORED_DTYPES = (torch.uint8, torch.int16, torch.float16, torch.float32)


class Dataset:
    """Training items plus what is needed to show them.

    Items are kept the way they were decoded: either float32 model-space
    values, or a compact encoding (8-bit pixels, 16-bit pixels, occupancy
    bits as ``uint8``) with ``value = stored * scale + offset``. An encoded
    dataset may be a memory-mapped cache file (:mod:`ebm_engine.data.cache`)
    larger than the RAM: only the items asked for are converted to float.

    Parameters
    ----------
    name : str
        Demo name or the path it was read from.
    kind : str
        One of ``points``, ``image``, ``video``, ``voxel``, ``pointcloud``.
    items : torch.Tensor or numpy.ndarray
        ``(N, *item_shape)``: model-space values (converted to float32), or
        the stored values when ``scale`` is given (kept as they are).
    value_range : (float, float) or None
        Bounds of model space (used by clamping and display); ``None`` if unbounded.
    meta : dict, optional
        Free-form facts (labels, source files, frame rate, ``cache`` …).
    scale, offset : float, optional
        The encoding: ``items`` holds stored values of one of
        :data:`STORED_DTYPES`, and model values are ``items * scale + offset``.
    """

    def __init__(
        self,
        name: str,
        kind: str,
        items: torch.Tensor | np.ndarray,
        value_range: tuple[float, float] | None = None,
        meta: dict[str, Any] | None = None,
        *,
        scale: float | None = None,
        offset: float = 0.0,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown data kind {kind!r}")
        self.name = name
        self.kind = kind
        self.value_range = value_range
        self.meta: dict[str, Any] = meta if meta is not None else {}
        self._store(items, scale, offset)

    def _store(self, items: torch.Tensor | np.ndarray, scale: float | None, offset: float) -> None:
        tensor = torch.from_numpy(items) if isinstance(items, np.ndarray) else items.detach()
        self._mapped = isinstance(items, np.memmap)
        if self.kind in TOKEN_KINDS:  # ids index embeddings: exact integers
            self._stored = tensor.to(torch.int64).contiguous()
            self.scale, self.offset, self._encoded = 1.0, 0.0, False
            return
        if scale is None:
            self._stored = tensor.to(torch.float32).contiguous()
            self.scale, self.offset, self._encoded = 1.0, 0.0, False
            return
        if tensor.dtype not in STORED_DTYPES:
            raise ValueError(f"items stored as {tensor.dtype}; expected one of {STORED_DTYPES}")
        # No copy: a memory-mapped file stays mapped, not read into RAM.
        self._stored = tensor if tensor.is_contiguous() else tensor.contiguous()
        self.scale, self.offset, self._encoded = float(scale), float(offset), True

    # --- what the items are ------------------------------------------------------------
    @property
    def stored(self) -> torch.Tensor:
        """The items as held (encoded, possibly memory-mapped); see :meth:`decode`."""
        return self._stored

    @property
    def encoded(self) -> bool:
        """Whether :attr:`stored` needs :meth:`decode` to be model-space float32."""
        return self._encoded

    @property
    def items(self) -> torch.Tensor:
        """All items in model space, ``(N, *item_shape)`` float32.

        For an encoded dataset this converts every item (4 bytes each value):
        code that needs a few items should call :meth:`take` instead.
        """
        return self.decode(self._stored)

    @items.setter
    def items(self, value: torch.Tensor) -> None:
        self._store(value, None, 0.0)

    def decode(self, stored: torch.Tensor) -> torch.Tensor:
        """Model-space float32 values of ``stored`` (a slice of :attr:`stored`, on any device).

        The same two operations for a batch and for the whole dataset, so a
        batch is bit-identical to the same rows of :attr:`items`.
        """
        if not self._encoded:
            return stored
        # copy=True: a float32-stored encoding must not be scaled in place.
        return stored.to(torch.float32, copy=True).mul_(self.scale).add_(self.offset)

    def take(self, index: torch.Tensor | np.ndarray | slice | int) -> torch.Tensor:
        """Items ``index`` in model space; only those are converted (and read from disk)."""
        if isinstance(index, np.ndarray):
            index = torch.from_numpy(index)
        return self.decode(self._stored[index])

    def evenly_spaced(self, at_most: int) -> torch.Tensor:
        """Evenly spaced items, at most ``at_most`` of them, in model space: a fit's
        sample of the data; only those are decoded (and read from disk), not the whole
        dataset, which may be larger than the RAM."""
        return self.take(slice(None, None, -(-len(self) // at_most)))

    def keep_first(self, n: int) -> None:
        """Drop all but the first ``n`` items (a mapped file stays mapped; memory is freed)."""
        first = self._stored[:n]
        self._stored = first if self._mapped else first.clone()

    @property
    def item_shape(self) -> tuple[int, ...]:
        return tuple(self._stored.shape[1:])

    @property
    def nbytes(self) -> int:
        """Bytes the items take as stored (mapped files count, though the OS shares them)."""
        return self._stored.element_size() * self._stored.nelement()

    def __len__(self) -> int:
        return self._stored.shape[0]

    def describe(self) -> str:
        shape = "×".join(str(s) for s in self.item_shape)
        return f"{self.name}: {len(self)} {self.kind} items of shape {shape}"

    def __repr__(self) -> str:
        how = f"{self._stored.dtype} ×{self.scale:g} {self.offset:+g}" if self._encoded else "float32"
        return f"Dataset({self.describe()}, stored as {how})"


def to_display(x: np.ndarray, kind: str, value_range: tuple[float, float] | None) -> np.ndarray:
    """Map model-space samples to what views draw.

    Images, videos and voxels go to ``[0, 1]``; points, point clouds and
    trajectories are returned unchanged, token ids (text, molecules) as int64.
    """
    if kind in TOKEN_KINDS:
        return np.asarray(x).astype(np.int64)
    if kind in ("image", "video", "voxel") and value_range is not None:
        lo, hi = value_range
        return np.clip((np.asarray(x, dtype=np.float32) - lo) / (hi - lo), 0.0, 1.0)
    return np.asarray(x, dtype=np.float32)
