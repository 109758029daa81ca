"""Apply a trained conditional model to the user's own picture (or class label).

Training on a user's pairs lives in :mod:`ebm_engine.data.labelled`; this is
the other half: a model trained on anything (a demo, a zoo entry) answers a
condition it has never seen. :func:`load_condition` reads and checks the
condition for the run's method, :func:`sample_condition` yields the method's
snapshots (:class:`~ebm_engine.sampling.ChainFrame`), the same pictures its
own sampling draws. The CLI (``ebm sample --condition``) and the app share both.

=====================  =============================  ====================================
method (condition)     ``condition``                  each sample
=====================  =============================  ====================================
conditional_coop mask  a picture (+ optional mask)    picture | masked | initializer |
                                                      after Langevin (visible pixels kept)
conditional_coop image a picture (saliency: RGB)      picture | initializer | after Langevin
                                                      (one-channel maps as heat overlays)
conditional_coop label a class number, e.g. ``3``     glyph | initializer | after Langevin
cycle_coop (images)    a picture, ``direction`` ab/ba the translation (``extras``: source,
                                                      reconstructed)
=====================  =============================  ====================================

How a picture becomes a condition (the rule of ``data.image_size`` for a
user's folder, :func:`ebm_engine.data.files.read_image`): centre-cropped to
a square, resized to the model's side ``S`` with Lanczos, luma for a
grayscale model (a colour picture is converted, with a note), values
``[0, 1]`` mapped linearly onto the model's value range (``2v − 1``, as the
digits and every picture folder). A colour model refuses a grayscale file.
``invert`` takes ``1 − v`` first: the digits are white on black, a scan is
usually black on white.

A mask (inpainting) is white where pixels are to be filled. It is either the
picture's own size (then cropped and resized by the same rule) or already
the model's ``S × S``, read as luma and thresholded at one half. Without a
mask, one random box of the run's ``mask_min``..``mask_max`` (the demo's own
kind of mask) is drawn. Every problem is one :class:`~ebm_engine.errors.EBMError` line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import torch
from PIL import Image

from ebm_engine.errors import ConfigError, DataError
from ebm_engine.sampling import ChainFrame, frozen
from ebm_engine.sampling.langevin import langevin

#: Pillow modes of one-channel files (a colour model refuses them).
GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
#: Mask values above this are "to fill".
MASK_THRESHOLD = 0.5
_OPEN_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)


@dataclasses.dataclass(frozen=True)
class UserCondition:
    """A checked condition, in model space, for one loaded model.

    Attributes
    ----------
    task : str
        ``inpainting``, ``image``, ``label`` or ``translation``.
    picture : torch.Tensor or None
        ``(1, C, S, S)`` the user's picture in model space (not for ``label``).
    keep : torch.Tensor or None
        ``(1, 1, S, S)``: 1 where visible, 0 where to fill (``inpainting``).
    label : int or None
        The class (``label``).
    direction : str
        ``ab`` or ``ba`` (``translation``).
    notes : tuple of str
        What was done to the input (conversions, the mask drawn), one line each.
    """

    task: str
    picture: torch.Tensor | None = None
    keep: torch.Tensor | None = None
    label: int | None = None
    direction: str = "ab"
    notes: tuple[str, ...] = ()


def task_of(loaded) -> str | None:
    """The kind of condition a loaded model takes (see :class:`UserCondition`), or ``None``."""
    name = loaded.cfg.train.method
    if name == "conditional_coop":
        return {"mask": "inpainting"}.get(loaded.method.opts.condition, loaded.method.opts.condition)
    if name == "cycle_coop" and loaded.spec.kind == "image":
        return "translation"
    return None


def _no_condition(loaded) -> str:
    """Why a model takes no ``--condition``, and what steers it instead where something does."""
    method, kind = loaded.cfg.train.method, loaded.spec.kind
    if method == "cycle_coop":
        return (f"this model translates {kind} items, not pictures (--condition is for image "
                "translation); ebm sample translates its own held-out sources")
    symbols = loaded.spec.symbols
    if method == "latent_seq" and symbols is not None and symbols.attribute_values:
        from ebm_engine.methods.latent_seq import attribute_list

        return ("this model's sentences are steered by an attribute class: --option "
                f"sample_attribute=K ({attribute_list(symbols)})")
    return (f"this run's method {method!r} takes no condition; conditional models are "
            "conditional_coop (inpainting, saliency, class labels) and cycle_coop on images "
            "(translation)")


def load_condition(loaded, condition: str | Path, mask: str | Path | None = None,
                   direction: str | None = None, invert: bool = False) -> UserCondition:
    """Read and check ``condition`` (and ``mask``) for the model ``loaded``.

    Parameters
    ----------
    loaded : LoadedModel
        From :func:`ebm_engine.learning.loading.load_model`; its method's
        ``rng`` draws the default mask (seed it first for a repeatable one).
    condition : str or Path
        A picture file, or a class number for a label-conditional model.
    mask : str or Path, optional
        Inpainting only: white = the pixels to fill (default: a random box).
    direction : str, optional
        Translation only: ``ab`` (default) or ``ba``.
    invert : bool
        Use ``1 − v`` of the picture's values (black-on-white digits).

    Returns
    -------
    UserCondition

    Raises
    ------
    ConfigError
        A method without conditions, a bad label, an option of another task.
    DataError
        A missing or unreadable file, a grayscale picture for a colour model,
        a mask larger than the picture or of another size.
    """
    task = task_of(loaded)
    method = loaded.cfg.train.method
    if task is None:
        raise ConfigError(f"--condition: {_no_condition(loaded)}")
    if mask is not None and task != "inpainting":
        raise ConfigError(f"--mask is for inpainting models; this one ({method}) "
                          f"takes {'a label' if task == 'label' else 'a picture'} only")
    if direction is not None and task != "translation":
        raise ConfigError(f"--direction is for translation models (cycle_coop), not {method}")
    if task == "label":
        from ebm_engine.runs.data_record import class_names
        from ebm_engine.runs.rundir import run_folder_of

        if invert:  # a label has no pixels to invert: said, not ignored
            raise ConfigError(f"--invert is for a picture; this model ({method}) takes a "
                              "class label")
        names = class_names(run_folder_of(loaded.checkpoint.path))
        return UserCondition("label", label=_label(str(condition), loaded.method.opts.n_classes,
                                                   names))
    if not Path(condition).exists() and not Path(condition).suffix:
        raise DataError(f"{condition}: no such picture file (this {task} model takes a "
                        "picture, not a label)")
    channels, side = loaded.spec.item_shape[0], loaded.spec.item_shape[-2]
    notes: list[str] = []
    picture, size = _read_picture(Path(condition), side, channels, invert, notes,
                                  loaded.spec.value_range)
    if task == "translation":
        direction = direction or "ab"
        if direction not in ("ab", "ba"):
            raise ConfigError(f"--direction must be ab or ba, got {direction!r}")
        notes.append(f"translating {_domains(loaded, direction)}")
        return UserCondition(task, picture, direction=direction, notes=tuple(notes))
    if task == "image":
        return UserCondition(task, picture, notes=tuple(notes))
    if mask is None:
        o = loaded.method.opts
        keep = loaded.method.masks(1, side, side).cpu()
        notes.append(f"no mask given: one random box of {o.mask_min:g}-{o.mask_max:g} of the side "
                     "is filled (the demo's kind of mask)")
    else:
        keep = _read_mask(Path(mask), size, side)
    return UserCondition(task, picture, keep=keep, notes=tuple(notes))


def sample_condition(loaded, cond: UserCondition, n: int, n_steps: int | None = None,
                     record_every: int = 0, n_record: int = 8) -> Iterator[ChainFrame]:
    """``n`` draws of the model given ``cond``: the Langevin chain's frames, composed.

    The arguments after ``n`` are those of the methods' ``sample``; the last
    frame holds all ``n`` draws (see the module docstring for their layout).
    """
    m = loaded.method
    if cond.task == "translation":
        yield from _translate(m, cond, n, n_steps, record_every, n_record)
        return
    if cond.task == "label":
        labels = torch.full((n,), cond.label, dtype=torch.long)
        c = m.label_planes(labels)
        from ebm_engine.data.conditional_demos import glyph_bank

        glyph = glyph_bank(m.opts.n_classes, *m.y_shape[1:])[labels]
        shown = glyph.expand(-1, loaded.spec.item_shape[0], -1, -1).to(m.device)
    else:
        shown = cond.picture.to(m.device).expand(n, -1, -1, -1)
        c = m.picture_condition(shown) if cond.task == "image" else shown
        if cond.task == "inpainting":
            keep = cond.keep.to(m.device).expand(n, -1, -1, -1)
            masked = shown * keep  # hidden pixels grey (0), as in training
            c = torch.cat([masked, keep * 2 - 1], 1)
    with torch.no_grad():
        init = m.initialize(c)
    with frozen(m.net, m.gen):
        for frame in langevin(m.energy_given(c), init, loaded.cfg.sampler, n_steps=n_steps,
                              record_every=record_every, n_record=n_record,
                              value_range=loaded.spec.value_range, generator=m.rng):
            if cond.task == "inpainting":
                yield _inpainted(frame, shown.cpu(), keep.cpu(), init.cpu())
            else:
                yield m.compose_frame(frame, shown, init)


def _inpainted(frame: ChainFrame, picture: torch.Tensor, keep: torch.Tensor,
               init: torch.Tensor) -> ChainFrame:
    """``picture | masked | initializer | after Langevin``, the visible pixels pasted back
    (they are known: only the hidden ones are the model's answer)."""
    k = frame.x.shape[0]
    pic, kp = picture[:k], keep[:k]
    fill = lambda y: kp * pic + (1 - kp) * y.to(pic)  # noqa: E731
    x = torch.cat([pic, pic * kp, fill(init[:k]), fill(torch.from_numpy(frame.x))], -1)
    raw = {"output": fill(torch.from_numpy(frame.x)).numpy(), "initializer": fill(init[:k]).numpy()}
    return dataclasses.replace(frame, x=x.numpy(), extras={**frame.extras, **raw})


def _translate(m, cond: UserCondition, n: int, n_steps: int | None, record_every: int,
               n_record: int) -> Iterator[ChainFrame]:
    """The picture translated ``n`` times (the revision's noise differs), then read back."""
    src = cond.picture.to(m.device).expand(n, -1, -1, -1)
    gen = m.gen_ab if cond.direction == "ab" else m.gen_ba
    energy = m.energy_b if cond.direction == "ab" else m.energy_a
    with torch.no_grad():
        x0 = m._in_range(gen(src))
    last = None
    with frozen(m.net_a, m.net_b, m.gen_ab, m.gen_ba):
        for frame in langevin(energy, x0, m.cfg.sampler, n_steps=n_steps,
                              record_every=record_every, n_record=n_record,
                              value_range=m.spec.value_range, generator=m.rng):
            if last is not None:
                yield last
            last = frame
    out = torch.as_tensor(last.x, device=m.device)
    rec = m.reconstruct(out, cond.direction).cpu().numpy()
    extras = {"source": src.cpu().numpy(), "reconstructed": rec}
    yield dataclasses.replace(last, extras={**last.extras, **extras})


# --- reading the user's files -------------------------------------------------------
def _label(text: str, n_classes: int, names: list[str] = ()) -> int:
    """A class given by its name (a user's labels) or, where no class has that name, its
    index. Class folders named 1..10 have names that are numbers: "1" is class 0's name."""
    classes = (", ".join(f"{i} = {name}" for i, name in enumerate(names)) if names
               else f"0..{n_classes - 1}")
    if text.strip() in names:
        return list(names).index(text.strip())
    try:
        label = int(text.strip())
    except ValueError:
        raise ConfigError(f"--condition: this model takes a class ({classes}), "
                          f"got {text!r}") from None
    if not 0 <= label < n_classes:
        raise ConfigError(f"--condition: label {label} is out of range; this model has classes "
                          f"{classes}")
    return label


def _probe(path: Path, what: str) -> tuple[int, int, str]:
    """``(width, height, mode)`` of an image file from its header."""
    if not path.is_file():
        raise DataError(f"{path}: no such {what} file")
    try:
        with Image.open(path) as img:
            return img.size[0], img.size[1], img.mode
    except _OPEN_ERRORS as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a readable image ({reason})") from None


def _read_picture(path: Path, side: int, channels: int, invert: bool, notes: list[str],
                  value_range: tuple[float, float] | None) -> tuple[torch.Tensor, tuple[int, int]]:
    """The picture as ``(1, channels, side, side)`` in model space, and its file's size."""
    from ebm_engine.data.files import read_image

    w, h, mode = _probe(path, "picture")
    grey = mode in GREY_MODES
    if channels == 3 and grey:
        raise DataError(f"{path}: this model expects an RGB picture, got grayscale "
                        f"(mode {mode}); give a colour picture")
    if channels not in (1, 3):
        raise DataError(f"{path}: a model of {channels}-channel images cannot take a picture")
    if channels == 1 and not grey:
        notes.append(f"{path.name}: colour picture converted to grayscale (luma), "
                     "as the model is grayscale")
    if (w, h) != (side, side):
        how = "centre-cropped to a square and resized" if w != h else "resized"
        notes.append(f"{path.name}: {w}x{h} {how} to {side}x{side} (the model's size)")
    values = torch.from_numpy(read_image(path, side, channels == 1, True))
    if invert:
        values = 1 - values
    elif channels == 1 and float(values.mean()) > 0.5:
        notes.append(f"{path.name}: mostly bright; if the model's pictures are light on dark "
                     "(the digits are), try --invert")
    lo, hi = value_range if value_range is not None else (-1.0, 1.0)
    return (lo + values * (hi - lo))[None], (w, h)


def _read_mask(path: Path, size: tuple[int, int], side: int) -> torch.Tensor:
    """``keep`` ``(1, 1, side, side)`` from a mask file (white = fill) of the picture's or the
    model's size."""
    from ebm_engine.data.files import read_image

    w, h, _ = _probe(path, "mask")
    if (w, h) == size:
        values = read_image(path, side, True, True)  # the picture's crop and resize
    elif (w, h) == (side, side):
        values = read_image(path, 0, True)
    elif w > size[0] or h > size[1]:
        raise DataError(f"{path}: the mask is {w}x{h}, larger than the picture "
                        f"({size[0]}x{size[1]}); make it the picture's size or {side}x{side}")
    else:
        raise DataError(f"{path}: the mask is {w}x{h}; it must be the picture's size "
                        f"({size[0]}x{size[1]}) or the model's ({side}x{side})")
    fill = torch.from_numpy(values[:1]) > MASK_THRESHOLD
    if not fill.any():
        raise DataError(f"{path}: the mask has no white pixels (white = the pixels to fill)")
    return (~fill).float()[None]


def _domains(loaded, direction: str) -> str:
    names = ("A", "B")
    if loaded.cfg.data.source == "digits-handwritten-typeset":
        from ebm_engine.data.typeset import DOMAINS

        names = DOMAINS
    src, dst = (names[0], names[1]) if direction == "ab" else (names[1], names[0])
    return f"{direction}: {src} → {dst}"
