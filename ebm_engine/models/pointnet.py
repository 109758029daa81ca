"""Generative PointNet (Xie, Xu, Zheng, Zhu & Wu, CVPR 2021) for point clouds.

A point cloud ``X = {x_i}_{i=1..N}`` is an unordered set, so its energy must
not depend on the order of the points. The model is

    p(X; θ) = exp(f(X; θ)) p₀(X) / Z(θ),    f(X; θ) = g(POOL_{i=1..N} h(x_i)),

with ``h`` a shared per-point MLP, ``POOL`` a symmetric function over the
points and ``g`` an MLP to a scalar (PointNet's recipe). Every operation
before the pooling acts on each point alone (``Linear`` on the last axis),
so ``f`` is exactly invariant to permuting the points.

Pooling (``model.options.pooling``): ``"mean"`` (the default, as in the
authors' released code: every point receives a gradient at every Langevin
step), ``"max"`` (the original PointNet pooling; only the arg-max points of
each channel move) or ``"max+mean"`` (both, concatenated).

The energy is made *extensive* (``model.options.extensive``, default true):
``f`` is multiplied by ``N``. The reference term ``|X|²/2σ²`` sums over the
points, while a mean-pooled ``g`` gives each point a gradient of order
``1/N``; scaling by ``N`` lets the learned term compete with the reference
at every point count (at 2048 points an unscaled net must first grow its
weights 2048-fold before Langevin feels it). With ``false`` the model is
the paper's as written.

Options: ``pooling``, ``extensive``, ``head_depth`` (hidden layers of ``g``,
default 2). ``model.width`` is the width of ``h`` and ``model.depth`` its
layer count.
"""

from __future__ import annotations

import torch
from torch import nn

from ebm_engine.config import ModelConfig
from ebm_engine.errors import ConfigError
from ebm_engine.models.layers import maybe_sn, option
from ebm_engine.models.registry import register

POOLINGS = ("mean", "max", "max+mean")


class GenerativePointNet(nn.Module):
    """``(B, N, D)`` point clouds → ``f(X)`` of shape ``(B,)``.

    Parameters
    ----------
    point_dim : int
        Coordinates per point (3).
    width : int
        Width of the per-point MLP ``h`` (its last layer has ``2 · width`` units).
    depth : int
        Layers of ``h``.
    spectral_norm : bool
        Spectral normalisation on every weight layer.
    pooling : str
        ``"mean"``, ``"max"`` or ``"max+mean"``.
    head_depth : int
        Hidden layers of the global MLP ``g``.
    extensive : bool
        Multiply ``f`` by the number of points ``N``.
    """

    def __init__(
        self,
        point_dim: int = 3,
        width: int = 128,
        depth: int = 3,
        spectral_norm: bool = False,
        pooling: str = "mean",
        head_depth: int = 2,
        extensive: bool = True,
    ):
        super().__init__()
        self.extensive = extensive
        per_point: list[nn.Module] = []
        dim = point_dim
        for i in range(depth):
            out = 2 * width if i == depth - 1 else width
            # SiLU: smooth, so ∇ₓE is continuous and Langevin behaves (as in mlp.py).
            per_point += [maybe_sn(nn.Linear(dim, out), spectral_norm), nn.SiLU()]
            dim = out
        self.point_mlp = nn.Sequential(*per_point)
        self.pooling = pooling
        dim = 2 * dim if pooling == "max+mean" else dim
        head: list[nn.Module] = []
        for _ in range(head_depth):
            head += [maybe_sn(nn.Linear(dim, width), spectral_norm), nn.SiLU()]
            dim = width
        head.append(maybe_sn(nn.Linear(dim, 1), spectral_norm))
        self.head = nn.Sequential(*head)

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """The global feature ``POOL_i h(x_i)``, shape ``(B, K)``."""
        feats = self.point_mlp(x)  # (B, N, K): each point on its own
        if self.pooling == "mean":
            return feats.mean(1)
        if self.pooling == "max":
            return feats.amax(1)
        return torch.cat([feats.amax(1), feats.mean(1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.head(self.pool(x)).squeeze(1)
        return f * x.shape[1] if self.extensive else f


@register("pointnet")
def build_pointnet(cfg: ModelConfig, data_shape: tuple[int, ...]) -> nn.Module:
    """Build a :class:`GenerativePointNet` for ``(N, 3)`` point clouds."""
    if len(data_shape) != 2 or not 1 <= data_shape[1] <= 16:
        raise ConfigError(
            f"model 'pointnet' needs (N, 3) point clouds, got items of shape {data_shape}"
        )
    pooling = option(cfg.options, "pooling", "mean", str)
    if pooling not in POOLINGS:
        raise ConfigError(f"model.options.pooling must be one of {POOLINGS}, got {pooling!r}")
    head_depth = option(cfg.options, "head_depth", 2, int)
    if head_depth < 0:
        raise ConfigError(f"model.options.head_depth must be >= 0, got {head_depth}")
    extensive = option(cfg.options, "extensive", True, bool)
    return GenerativePointNet(
        data_shape[1], cfg.width, cfg.depth, cfg.spectral_norm, pooling, head_depth, extensive
    )
