"""Where decoded items go: into memory, or (``cachefile.CacheFileWriter``) a cache file.

A reader that can stream (the image folder reader: 100k pictures do not fit
in RAM as float32) decodes item by item into an :class:`ItemSink`; the
same code then fills an in-memory array or writes a cache file, so the two
hold bit-identical values.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import torch

from ebm_engine.data.dataset import Dataset


class ItemSink(Protocol):
    """Receives a dataset's stored items in order, then its description."""

    def begin(self, count: int, item_shape: tuple[int, ...], dtype: np.dtype) -> None:
        """``count`` items of ``item_shape`` and ``dtype`` will follow (at most)."""

    def put(self, items: np.ndarray) -> None:
        """The next ``(k, *item_shape)`` items."""

    def finish(self, name: str, kind: str, value_range: tuple[float, float] | None,
               meta: dict[str, Any], scale: float | None, offset: float) -> Dataset:
        """The dataset of the items put so far (``scale`` ``None``: float32 model values)."""


class MemorySink:
    """Collects items in one preallocated numpy array."""

    def __init__(self) -> None:
        self.array: np.ndarray | None = None
        self.count = 0

    def begin(self, count: int, item_shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.array = np.empty((count, *item_shape), dtype=dtype)
        self.count = 0

    def put(self, items: np.ndarray) -> None:
        assert self.array is not None, "begin() first"
        self.array[self.count : self.count + len(items)] = items
        self.count += len(items)

    def finish(self, name: str, kind: str, value_range: tuple[float, float] | None,
               meta: dict[str, Any], scale: float | None, offset: float) -> Dataset:
        assert self.array is not None, "begin() first"
        items = torch.from_numpy(self.array[: self.count])
        return Dataset(name, kind, items, value_range, meta, scale=scale, offset=offset)


def write_dataset(dataset: Dataset, sink: ItemSink) -> Dataset:
    """Put an in-memory dataset's stored items into ``sink``, as they are."""
    stored = dataset.stored.numpy()
    sink.begin(len(stored), tuple(stored.shape[1:]), stored.dtype)
    sink.put(stored)
    scale = dataset.scale if dataset.encoded else None
    return sink.finish(dataset.name, dataset.kind, dataset.value_range, dataset.meta, scale,
                       dataset.offset)
