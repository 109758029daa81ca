"""Train the digits classifier behind ``ebm_engine.metrics.digits_fd``.

Run from the repository root::

    .venv/bin/python resources/models/train_digits_classifier.py

It trains :class:`ebm_engine.metrics.digits.DigitsClassifier` on 80% of the
sklearn digits at 16×16 in [-1, 1] (the ``digits`` demo's layout; split
stratified, seed 0) with ±1 px shifts and light pixel noise, then writes
``digits_classifier.safetensors`` and ``digits_classifier.json`` (test
accuracy on the held-out 20% and reference digits-FD values) next to this
file (``--report-only`` keeps the weights and rewrites the JSON). CPU,
about half a minute on an idle machine; deterministic for a given torch version.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from sklearn.model_selection import train_test_split

from ebm_engine.atomic import write_text, write_with
from ebm_engine.config import DataConfig
from ebm_engine.data.image_demos import load_digits
from ebm_engine.metrics import digits as dm

HERE = Path(__file__).resolve().parent
EPOCHS = 40
SEED = 0


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random ±1 px shifts (with -1 = background padding) and N(0, 0.05²) noise."""
    pad = F.pad(x, (1, 1, 1, 1), value=-1.0)
    dx, dy = torch.randint(0, 3, (2,), generator=gen).tolist()
    shifted = pad[:, :, dy : dy + 16, dx : dx + 16]
    return (shifted + 0.05 * torch.randn(shifted.shape, generator=gen)).clamp(-1, 1)


def train(x: torch.Tensor, y: torch.Tensor, idx_train: np.ndarray) -> None:
    """Train on ``idx_train`` and write the weights."""
    net = dm.DigitsClassifier()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    gen = torch.Generator().manual_seed(SEED)
    for _ in range(EPOCHS):
        net.train()
        perm = torch.from_numpy(idx_train)[torch.randperm(len(idx_train), generator=gen)]
        for batch in perm.split(64):
            loss = F.cross_entropy(net(augment(x[batch], gen)), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    state = {k: v.contiguous() for k, v in net.state_dict().items()}
    write_with(HERE / dm.WEIGHTS_NAME, lambda p: save_file(state, str(p)))
    (HERE / dm.WEIGHTS_NAME).chmod(0o644)


def main() -> None:
    torch.manual_seed(SEED)
    ds = load_digits(DataConfig(source="digits"))
    x, y = ds.items, torch.from_numpy(ds.meta["labels"])
    idx_train, idx_test = train_test_split(
        np.arange(len(x)), test_size=0.2, random_state=SEED, stratify=y.numpy()
    )
    t0 = time.time()
    if "--report-only" not in sys.argv:  # recompute the JSON for the shipped weights
        train(x, y, idx_train)
    train_seconds = time.time() - t0
    # Reference values with the weights on disk (what a perfect model scores).
    dm.classifier.cache_clear()
    dm.reference_stats.cache_clear()
    dm._reference_features.cache_clear()
    net = dm.classifier()
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        test_acc = float((net(x[idx_test]).argmax(1) == y[idx_test]).float().mean())
        train_acc = float((net(x[idx_train]).argmax(1) == y[idx_train]).float().mean())
    rng = np.random.default_rng(SEED)
    real500 = [dm.digits_fd(x[rng.choice(len(x), 500, replace=False)]) for _ in range(5)]
    noise = dm.digits_fd(torch.rand(500, 1, 16, 16, generator=gen) * 2 - 1)
    report = {
        "architecture": "conv3x3(32)-relu-pool, conv3x3(64)-relu-pool, fc(64)-relu [features], fc(10)",
        "input": "(N, 1, 16, 16) in [-1, 1], sklearn digits bilinearly upsampled from 8x8",
        "train_items": int(len(idx_train)),
        "test_items": int(len(idx_test)),
        "epochs": EPOCHS,
        "seed": SEED,
        "torch": torch.__version__,
        "train_accuracy": round(train_acc, 4),
        "test_accuracy": round(test_acc, 4),
        "digits_fd_real_500_mean": round(float(np.mean(real500)), 3),
        "digits_fd_uniform_noise_500": round(float(noise), 3),
        "train_seconds": None if "--report-only" in sys.argv else round(train_seconds, 1),
    }
    write_text(HERE / "digits_classifier.json", json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
