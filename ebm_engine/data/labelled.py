"""Users' labels and paired targets for a folder of pictures.

Conditional learning (``conditional_coop``) and semi-supervised learning
(``symbol_vector``) need more than pictures. For a user's image folder,
``data.options`` says where the rest comes from:

- ``labels``: ``"folders"`` (an item's class is its first subfolder under the
  data folder: ``cats/a.png``, ``dogs/b.png``) or a CSV file of ``file,label``
  rows (relative to the data folder, else to the current folder; a ``file,label`` header
  is allowed; ``file`` is the path under the data folder or, where that is
  unambiguous, the bare file name). An empty label marks an unlabelled item
  (semi-supervised learning). Sets ``meta["labels"]`` (``-1`` = unlabelled),
  ``meta["class_names"]`` and ``meta["n_classes"]``.
- ``pairs``: ``"labels"`` makes each item ``glyph | picture`` (the layout of
  the ``digits-class-conditional`` demo, what ``condition=label`` learns);
  a folder path makes each item ``picture | target`` with the target the
  picture of the same relative path (any image extension) in that folder,
  e.g. saliency maps for ``condition=image``. Pictures must be square
  (``data.image_size`` makes them so); a grey target next to colour
  pictures is repeated to three channels (learn it with
  ``train.options.output_channels=1``).

Every problem is one :class:`~ebm_engine.errors.DataError` line naming the
file (and the CSV line).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data.conditional_demos import label_glyphs
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.files import IMAGE_EXTENSIONS, read_image
from ebm_engine.errors import DataError

UNLABELLED = -1
OPTIONS = ("labels", "pairs")
# Largest per-channel difference (in [0, 1]) a grey picture stored as RGB may have.
_GREY_TOLERANCE = 2.0 / 255.0


def wanted(cfg: DataConfig) -> bool:
    """Whether ``cfg`` asks for labels or pairs."""
    return any(cfg.options.get(key) not in (None, "") for key in OPTIONS)


def attach(dataset: Dataset, root: Path, cfg: DataConfig) -> Dataset:
    """Apply ``data.options.labels`` / ``pairs`` to a folder's image dataset.

    Parameters
    ----------
    dataset : Dataset
        What the image-folder reader made of ``root`` (``meta["files"]``
        lists the pictures in item order).
    root : Path
        The data folder.
    cfg : DataConfig
        Its ``options`` say what to attach.

    Returns
    -------
    Dataset
        ``dataset`` with labels in ``meta``, or a new dataset of pairs.

    Raises
    ------
    DataError
        Not an image folder, a missing or malformed label file, a picture
        without a label, a missing target, or mismatched sizes or channels.
    """
    labels_opt, pairs_opt = cfg.options.get("labels"), cfg.options.get("pairs")
    if dataset.kind != "image" or not root.is_dir() or "files" not in dataset.meta:
        raise DataError(f"{root}: data.options.labels/pairs need a folder of pictures")
    # the reader records absolute files; --data may be relative (photos/). Lexically, not
    # resolved: a folder of symlinked pictures would resolve out of itself.
    base = Path(os.path.abspath(root))
    files = [Path(f) for f in dataset.meta["files"]]
    keys = [PurePosixPath(Path(os.path.abspath(f)).relative_to(base).as_posix()) for f in files]
    if labels_opt not in (None, ""):
        labels, names = _labels(str(labels_opt), root, keys)
        dataset.meta.update(labels=labels, class_names=names, n_classes=len(names))
    if pairs_opt in (None, ""):
        return dataset
    if not isinstance(pairs_opt, str):
        raise DataError(f"data.options.pairs must be \"labels\" or a folder, got {pairs_opt!r}")
    side = dataset.item_shape[-2]
    if dataset.item_shape[-1] != side:
        raise DataError(f"{root}: pairs need square pictures, these are "
                        f"{dataset.item_shape[-1]}x{side}; set data.image_size")
    x = dataset.items
    if pairs_opt == "labels":
        if "labels" not in dataset.meta:
            raise DataError("data.options.pairs=labels needs data.options.labels")
        labels = np.asarray(dataset.meta["labels"])
        if (labels == UNLABELLED).any():
            first = files[int(np.flatnonzero(labels == UNLABELLED)[0])]
            raise DataError(f"{first}: no label; conditional learning needs every picture labelled")
        glyphs = label_glyphs(labels, side, side).expand(-1, x.shape[1], -1, -1)
        left, right = glyphs, x
    else:
        left, right = x, _targets(Path(pairs_opt).expanduser(), root, keys, files, x.shape[1:],
                                  cfg)
    meta = dict(dataset.meta)
    meta["paired"] = pairs_opt
    return Dataset(dataset.name, "image", torch.cat([left, right], dim=-1), dataset.value_range,
                   meta)


def check_class_count(dataset: Dataset, n_classes: int, method: str) -> None:
    """Refuse ``train.options.n_classes`` other than the data's own number of classes.

    More classes than the model has are merged without a word (a label condition read
    back from its glyph takes the nearest of ``n_classes``); fewer leave classes that
    sampling draws but nothing trained. Data without ``meta["n_classes"]`` passes.

    Parameters
    ----------
    dataset : Dataset
        The training data.
    n_classes : int
        The method's ``train.options.n_classes``.
    method : str
        Its name, for the message.

    Raises
    ------
    DataError
        The counts differ; the message names the data's classes and the fix.
    """
    k = dataset.meta.get("n_classes")
    if k is None or int(k) == n_classes:
        return
    names = dataset.meta.get("class_names") or []
    named = f" ({', '.join(map(str, names[:12]))}{', …' if len(names) > 12 else ''})" \
        if names else ""
    raise DataError(f"{dataset.name}: the data has {int(k)} classes{named}, but {method}'s "
                    f"train.options.n_classes is {n_classes}; set train.options.n_classes={int(k)}")


def _labels(option: str, root: Path, keys: list[PurePosixPath]) -> tuple[np.ndarray, list[str]]:
    """Per-item label indices (``-1`` unlabelled) and the sorted class names."""
    if option == "folders":
        raw = []
        for key in keys:
            if len(key.parts) < 2:
                raise DataError(f"{root / key}: not in a class subfolder (data.options.labels=folders)")
            raw.append(key.parts[0])
    else:
        raw = _read_label_file(option, root, keys)
    names = sorted({r for r in raw if r}, key=_class_order)
    if not names:
        raise DataError(f"{option}: no labels")
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[r] if r else UNLABELLED for r in raw], dtype=np.int64), names


def _class_order(name: str) -> tuple[int, float, str]:
    """Numeric labels in numeric order (2 before 10), then words."""
    try:
        return (0, float(name), "")
    except ValueError:
        return (1, 0.0, name)


def _read_label_file(option: str, root: Path, keys: list[PurePosixPath]) -> list[str]:
    path = Path(option).expanduser()
    if not path.is_absolute():  # in the data folder first, then the current one (as pairs)
        path = root / path if (root / path).is_file() or not path.is_file() else path
    if not path.is_file():
        raise DataError(f"{path}: no such label file (data.options.labels)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(f"{path}: not a UTF-8 text file of file,label rows") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror})") from None
    by_path = {str(k): i for i, k in enumerate(keys)}
    names: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        names.setdefault(k.name, []).append(i)
    found: list[str | None] = [None] * len(keys)
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
            continue
        if number == 1 and [c.strip().lower() for c in row[:2]] == ["file", "label"]:
            continue
        if len(row) != 2:
            raise DataError(f"{path} line {number}: expected file,label, got {len(row)} fields")
        name, label = row[0].strip(), row[1].strip()
        key = str(PurePosixPath(name.replace("\\", "/")))
        if key in by_path:
            item = by_path[key]
        elif len(names.get(key, ())) == 1:
            item = names[key][0]
        elif key in names:
            raise DataError(f"{path} line {number}: {name} is ambiguous "
                            f"({len(names[key])} pictures have that name); give its path")
        else:
            raise DataError(f"{path} line {number}: {name} is not a picture in {root}")
        if found[item] is not None:
            raise DataError(f"{path} line {number}: {name} is labelled twice")
        found[item] = label
    missing = [str(keys[i]) for i, v in enumerate(found) if v is None]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"{path}: no row for {missing[0]}{more}; "
                        "give every picture a row (an empty label = unlabelled)")
    return [v or "" for v in found]


def _targets(folder: Path, root: Path, keys: list[PurePosixPath], files: list[Path],
             shape: torch.Size, cfg: DataConfig) -> torch.Tensor:
    """Target pictures matched to ``keys`` (the pictures ``files``), as ``(N, C, S, S)``
    in ``[-1, 1]``."""
    if not folder.is_absolute():
        folder = root / folder if (root / folder).is_dir() else folder
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder of targets (data.options.pairs)")
    channels, side = shape[0], shape[-1]
    out = torch.empty((len(keys), *shape))
    for i, key in enumerate(keys):
        target = _find_target(folder, key)
        _same_aspect(files[i], target)
        values = torch.from_numpy(read_image(target, cfg.image_size, False, cfg.crop))
        if tuple(values.shape[1:]) != (side, side):
            raise DataError(f"{target}: target is {values.shape[2]}x{values.shape[1]}, its picture "
                            f"{side}x{side}; set data.image_size to resize both")
        grey = float((values - values.mean(0, keepdim=True)).abs().max()) <= _GREY_TOLERANCE
        if channels == 1 and not grey:
            raise DataError(f"{target}: a colour target for grayscale pictures; "
                            "set data.grayscale=false or make the targets grey")
        values = values[:1] if channels == 1 else values
        out[i] = values * 2 - 1
    return out


def _same_aspect(picture: Path, target: Path) -> None:
    """Refuse a target whose shape is not its picture's: each is cropped or resized on
    its own to the square size, so they would no longer line up, pixel for pixel."""
    from PIL import Image

    try:
        with Image.open(picture) as a, Image.open(target) as b:
            (pw, ph), (tw, th) = _upright_size(a), _upright_size(b)
    except (OSError, ValueError):
        return  # read_image says what is wrong with the file
    if abs(pw * th - tw * ph) > 0.01 * pw * th:
        raise DataError(f"{target}: target is {tw}x{th}, its picture {picture.name} {pw}x{ph}; "
                        "a target must have its picture's shape (each is cropped and resized "
                        "on its own, so they would no longer line up)")


def _upright_size(img) -> tuple[int, int]:
    """``(width, height)`` as the picture is read: turned by its EXIF orientation."""
    turned = img.getexif().get(0x0112) in (5, 6, 7, 8)  # 90° or 270°: sides swap
    return (img.size[1], img.size[0]) if turned else img.size


def _find_target(folder: Path, key: PurePosixPath) -> Path:
    stem = folder / key.with_suffix("")
    for ext in (key.suffix, *IMAGE_EXTENSIONS, *(e.upper() for e in IMAGE_EXTENSIONS)):
        candidate = stem.with_name(stem.name + ext)
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder / key}: no target for picture {key} (data.options.pairs)")
