"""Export → "Sample from my picture…": the current run's conditional model applied to the user's
own picture (inpainting, saliency, translation) or to a class label.

The engine does the work (:mod:`ebm_engine.sampling.user_condition`, the same
as ``ebm sample --condition``); this module only asks for the inputs with
the standard dialogs and turns the draws into a :class:`SamplesReady` for
the sample view. :func:`ask` runs on the GUI thread (dialogs);
:func:`picture_snapshot` is the sampling, which the Export menu runs on a
worker thread (about a second of Langevin steps).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QInputDialog, QWidget

from ebm_engine.data.files import IMAGE_EXTENSIONS
from ebm_engine.errors import EBMError
from ebm_engine.learning.events import SamplesReady

#: Draws per picture (rows in the sample view).
DRAWS = 8
# every picture the data readers take (TIFF and WebP were missing here)
PICTURES = f"Pictures ({' '.join('*' + e for e in IMAGE_EXTENSIONS)})"


@dataclass(frozen=True)
class PictureRequest:
    """What the user chose: the loaded model and its condition, for :func:`picture_snapshot`."""

    loaded: object
    condition: str
    mask: str | None = None
    direction: str | None = None


def picture_snapshot(run, condition: str, mask: str | None = None,
                     direction: str | None = None, n: int = DRAWS,
                     seed: int = 0) -> tuple[SamplesReady, tuple[str, ...]]:
    """``n`` draws of ``run``'s model given ``condition``, as a snapshot, and the notes.

    ``run`` is a run folder, ``zoo:NAME`` or an already loaded model.

    Raises
    ------
    EBMError
        As :func:`ebm_engine.sampling.user_condition.load_condition`, or a run
        that cannot be loaded.
    """
    import torch

    from ebm_engine.learning.loading import load_model
    from ebm_engine.sampling.user_condition import load_condition, sample_condition

    loaded = run if hasattr(run, "method") else load_model(run, "cpu")
    loaded.method.rng.manual_seed(seed)
    torch.manual_seed(seed)
    cond = load_condition(loaded, condition, mask, direction)
    steps = loaded.method.sample_steps
    frames = list(sample_condition(loaded, cond, n, record_every=max(1, steps // 30)))
    last, spec = frames[-1], loaded.spec
    snap = SamplesReady(int(loaded.checkpoint.iteration), spec.kind, spec.value_range, last.x,
                        last.energy, tuple(frames[:-1]), {**spec.display_extras(), **last.extras},
                        origin="picture")
    return snap, cond.notes


def ask(parent: QWidget | None, run: Path | None) -> PictureRequest | None:
    """Ask for the condition (and mask or direction) that ``run``'s model takes.

    Returns ``None`` when the user cancels.

    Raises
    ------
    EBMError
        No run, a run without conditions, or bad input (one sentence each).
    """
    from ebm_engine.learning.loading import load_model
    from ebm_engine.sampling.user_condition import task_of

    if run is None:
        raise EBMError("Open or train a conditional run first (a zoo entry such as "
                       "digits-inpainting works), then sample it from your picture.")
    loaded = load_model(run, "cpu")
    task = task_of(loaded)
    if task is None:
        raise EBMError(f"This run's method ({loaded.cfg.train.method}) takes no condition; "
                       "open an inpainting, saliency, class-conditional or translation run.")
    mask = direction = None
    if task == "label":
        from ebm_engine.runs.data_record import class_names
        from ebm_engine.runs.rundir import run_folder_of

        n = loaded.method.opts.n_classes
        names = class_names(run_folder_of(loaded.checkpoint.path))
        choices = [f"{k} = {names[k]}" if k < len(names) else str(k) for k in range(n)]
        picked, ok = QInputDialog.getItem(parent, "Sample a class", "Class:", choices, 0, False)
        if not ok:
            return None
        k = choices.index(picked)
        condition = names[k] if k < len(names) else str(k)  # a name is never read as a number
    else:
        condition, _ = QFileDialog.getOpenFileName(parent, "Choose your picture", "", PICTURES)
        if not condition:
            return None
        if task == "inpainting":  # Cancel here: a random box, as in the demo
            mask, _ = QFileDialog.getOpenFileName(
                parent, "Choose a mask (white = pixels to fill), or Cancel for a random box",
                str(Path(condition).parent), PICTURES)
            mask = mask or None
        elif task == "translation":
            ways = ["ab (A → B)", "ba (B → A)"]
            way, ok = QInputDialog.getItem(parent, "Translate", "Direction:", ways, 0, False)
            if not ok:
                return None
            direction = way[:2]
    return PictureRequest(loaded, condition, mask, direction)
