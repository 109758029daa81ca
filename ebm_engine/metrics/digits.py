"""The digits Fréchet distance: the project's sample-quality metric for digits.

Samples of the ``digits`` demo (``(N, 1, 16, 16)`` in ``[-1, 1]``, the layout
of :mod:`ebm_engine.data.image_demos`) are mapped to the 64-d penultimate
features ``φ(x)`` of a small classifier trained once on the sklearn digits
(``resources/models/digits_classifier.safetensors``, trained by
``resources/models/train_digits_classifier.py``; its test accuracy is in
``digits_classifier.json``). Then, as in FID (Heusel et al. 2017),

    FD = |μ_s − μ_d|² + tr(Σ_s + Σ_d − 2 (Σ_s Σ_d)^{1/2}),

with ``(μ_d, Σ_d)`` the feature statistics of all 1797 digits and
``(μ_s, Σ_s)`` those of the samples. Lower is better; 0 means the same
Gaussian feature statistics. The kernel variant (KID, Bińkowski et al.
2018) is the unbiased MMD² with the cubic polynomial kernel
``k(a, b) = (a·b/d + 1)³`` on the same features.

Numbers are comparable across runs only for the same number of samples
(FD is biased upwards for small ``n``): compare at ``n = 500``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ebm_engine.errors import CheckpointError, DataError
from ebm_engine.metrics.frechet import frechet_distance, gaussian_stats, polynomial_mmd
from ebm_engine.resources import resources_dir

#: Item shape the classifier takes (the digits demo's layout).
DIGITS_SHAPE = (1, 16, 16)
FEATURE_DIM = 64
WEIGHTS_NAME = "digits_classifier.safetensors"


class DigitsClassifier(nn.Module):
    """Two conv blocks and a 64-unit feature layer; 10 logits.

    ``features(x)`` are the ReLU activations of the 64-unit layer.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # 8×8
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # 4×4
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(64 * 16, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def weights_path() -> Path:
    return resources_dir() / "models" / WEIGHTS_NAME


def classifier_test_accuracy() -> float:
    """The shipped classifier's accuracy on the 360 digits held out of its training
    (``digits_classifier.json``)."""
    import json

    record = weights_path().with_name("digits_classifier.json")
    return float(json.loads(record.read_text(encoding="utf-8"))["test_accuracy"])


@functools.lru_cache(maxsize=1)
def classifier() -> DigitsClassifier:
    """The shipped classifier (loaded once, eval mode, no gradients)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = weights_path()
    net = DigitsClassifier()
    try:
        net.load_state_dict(load_file(str(path)))
    except (OSError, SafetensorError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot load the digits classifier ({exc})") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def reference_digits() -> torch.Tensor:
    """All 1797 sklearn digits at 16×16 in ``[-1, 1]`` (the demo's items)."""
    from ebm_engine.config import DataConfig
    from ebm_engine.data.image_demos import load_digits

    return load_digits(DataConfig(source="digits")).items


def digits_features(x: np.ndarray | torch.Tensor, batch: int = 1024) -> np.ndarray:
    """64-d classifier features of ``(N, 1, 16, 16)`` samples in ``[-1, 1]``.

    Values outside ``[-1, 1]`` are clipped (samples are compared as images).
    """
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    t = t.detach().to("cpu", torch.float32)
    if t.ndim == 3:
        t = t[:, None]
    if tuple(t.shape[1:]) != DIGITS_SHAPE:
        raise DataError(f"digits metrics need (N, 1, 16, 16) samples, got {tuple(t.shape)}")
    if t.shape[0] < 2:
        raise DataError(f"digits metrics need at least 2 samples, got {t.shape[0]}")
    t = torch.nan_to_num(t, nan=0.0).clamp(-1.0, 1.0)
    net = classifier()
    with torch.no_grad():
        return torch.cat([net.features(c) for c in t.split(batch)]).double().numpy()


@functools.lru_cache(maxsize=1)
def _reference_features() -> np.ndarray:
    return digits_features(reference_digits())


@functools.lru_cache(maxsize=1)
def reference_stats() -> tuple[np.ndarray, np.ndarray]:
    """``(μ_d, Σ_d)`` of the features of all 1797 digits (computed once)."""
    return gaussian_stats(_reference_features())


def digits_fd(samples_model_space: np.ndarray | torch.Tensor) -> float:
    """Digits Fréchet distance of samples to the sklearn digits (lower is better).

    Parameters
    ----------
    samples_model_space : array ``(N, 1, 16, 16)``
        Samples in model space ``[-1, 1]`` (the ``digits`` demo's layout);
        ``N ≥ 2``, use ``N = 500`` for numbers that compare across runs.

    Returns
    -------
    float
        ``|μ_s − μ_d|² + tr(Σ_s + Σ_d − 2(Σ_s Σ_d)^{1/2})`` on the shipped
        classifier's 64-d features. 500 real digits score about 5.4,
        uniform noise about 1290 (``resources/models/digits_classifier.json``).
    """
    mu, sigma = gaussian_stats(digits_features(samples_model_space))
    mu_d, sigma_d = reference_stats()
    return frechet_distance(mu, sigma, mu_d, sigma_d)


def digits_kid(samples_model_space: np.ndarray | torch.Tensor, max_ref: int = 1000) -> float:
    """Kernel (MMD², KID) variant of :func:`digits_fd`; unbiased, lower is better.

    Uses the cubic polynomial kernel on the same features, scaled so the
    reference features have unit root-mean-square, and ``max_ref`` reference
    digits drawn at random with a fixed seed (a fixed subset keeps it fast; the
    first ``max_ref`` would be some writers' digits, not a sample of all).
    """
    ref = _reference_features()
    scale = float(np.sqrt(np.mean(ref**2))) or 1.0
    feats = digits_features(samples_model_space)
    subset = np.random.default_rng(0).permutation(len(ref))[:max_ref]
    return polynomial_mmd(feats / scale, ref[subset] / scale)
