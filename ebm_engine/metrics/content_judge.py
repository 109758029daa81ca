"""A small classifier of a domain's content classes, trained on that domain.

Translation keeps the content when a judge trained only on real target
items reads the source's class in the translation. The judge is trained
afresh (fixed seed, a few seconds on a CPU) on 80 % of the target domain;
its accuracy on the other 20 % says how far the number can be trusted.

- images ``(C, H, W)``: two conv blocks, global pooling, a feature layer;
- sequences ``(T, D)``: the same in 1D over time;
- flat items: an MLP.

``features(x)`` (the feature layer) also serves the Fréchet distance to
the target domain where no shipped feature extractor applies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

FEATURES = 32


class JudgeNet(nn.Module):
    """Class logits of items of ``shape``; ``features`` is its last hidden layer."""

    def __init__(self, shape: tuple[int, ...], n_classes: int):
        super().__init__()
        self.shape = tuple(shape)
        if len(shape) == 3:
            conv, pool, ch, self.layout = nn.Conv2d, nn.AdaptiveAvgPool2d(2), shape[0], "image"
        elif len(shape) == 2:
            conv, pool, ch, self.layout = nn.Conv1d, nn.AdaptiveAvgPool1d(4), shape[1], "sequence"
        else:
            conv = None
            self.layout = "flat"
        if conv is None:
            self.body = nn.Sequential(nn.Flatten(), nn.Linear(int(np.prod(shape)), 64), nn.ReLU())
            width = 64
        else:
            self.body = nn.Sequential(
                conv(ch, 32, 3, padding=1), nn.ReLU(), conv(32, 32, 3, stride=2, padding=1),
                nn.ReLU(), conv(32, 64, 3, stride=2, padding=1), nn.ReLU(), pool, nn.Flatten())
            width = 64 * 4
        self.fc = nn.Sequential(nn.Linear(width, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if self.layout == "sequence":
            x = x.transpose(1, 2)
        return self.fc(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@dataclass
class Judge:
    """A trained content classifier and its held-out accuracy."""

    net: JudgeNet
    heldout_accuracy: float

    def predict(self, x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([self.net(c).argmax(1) for c in x.float().cpu().split(512)]).numpy()

    def features(self, x: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return torch.cat([self.net.features(c) for c in x.float().cpu().split(512)]).double().numpy()


def train_judge(items: torch.Tensor, labels: np.ndarray, steps: int = 300, seed: int = 0,
                augment_noise: float = 0.05) -> Judge:
    """Train a :class:`JudgeNet` on ``items`` (model space) with class ``labels``.

    A little input noise during training keeps it from reading the
    translator's pixel-level artefacts as a class.
    """
    items = items.float().cpu()
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(len(items), generator=gen)
    n_held = max(1, len(items) // 5)
    held, train = perm[:n_held], perm[n_held:]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = JudgeNet(tuple(items.shape[1:]), int(y.max()) + 1)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    scale = float(items.std()) or 1.0
    for _ in range(steps):
        pick = train[torch.randint(len(train), (64,), generator=gen)]
        x = items[pick] + augment_noise * scale * torch.randn(items[pick].shape, generator=gen)
        loss = F.cross_entropy(net(x), y[pick])
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    judge = Judge(net, 0.0)
    judge.heldout_accuracy = float((judge.predict(items[held]) == y[held].numpy()).mean())
    return judge
