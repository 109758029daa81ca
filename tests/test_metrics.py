"""Quality metrics: best for identical sets, monotonically worse as one set is corrupted."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from ebm_engine.metrics import (
    chamfer_matrix,
    digits_fd,
    digits_kid,
    frechet_distance,
    gram_distance,
    grid_divergences,
    pointcloud_metrics,
    video_metrics,
    voxel_metrics,
)
from ebm_engine.metrics.digits import reference_digits


def increasing(values: list[float]) -> bool:
    return all(b > a for a, b in zip(values, values[1:]))


def test_frechet_distance_of_gaussians_matches_closed_form():
    # Diagonal covariances: FD = |Δμ|² + Σ (√a − √b)².
    mu1, mu2 = np.zeros(3), np.array([1.0, 0.0, 2.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 4.0, 1.0])
    fd = frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert fd == pytest.approx(5.0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum(), rel=1e-9)
    assert frechet_distance(mu1, np.diag(a), mu1, np.diag(a)) == pytest.approx(0.0, abs=1e-9)


def test_digits_fd_zero_for_the_digits_and_grows_with_noise():
    digits = reference_digits()
    assert digits_fd(digits) == pytest.approx(0.0, abs=1e-6)
    gen = torch.Generator().manual_seed(0)
    subset = digits[torch.randperm(len(digits), generator=gen)[:500]]
    noise = torch.randn(subset.shape, generator=gen)
    t0 = time.perf_counter()
    fds = [digits_fd((subset + s * noise).clamp(-1, 1)) for s in (0.0, 0.2, 0.5, 1.0)]
    per_call = (time.perf_counter() - t0) / 4
    assert increasing(fds), fds
    assert fds[0] < 15.0 < fds[-1], fds  # 500 real digits ≈ 5; heavy noise is far off
    assert per_call < 6.0  # < 2 s on an idle 2-core CPU; generous for a shared one
    kids = [digits_kid((subset + s * noise).clamp(-1, 1)) for s in (0.0, 0.5, 1.0)]
    assert increasing(kids) and abs(kids[0]) < 0.05 * kids[-1], kids


def test_digits_fd_refuses_other_layouts():
    from ebm_engine.errors import DataError

    with pytest.raises(DataError, match="16, 16"):
        digits_fd(np.zeros((10, 1, 8, 8), np.float32))


def test_gram_distance_zero_for_same_texture_and_grows_with_blur_and_noise():
    gen = torch.Generator().manual_seed(0)
    tex = torch.sin(torch.arange(32.0) / 1.5)[None, None, :, None] * torch.ones(8, 1, 32, 32)
    tex = tex + 0.3 * torch.randn(tex.shape, generator=gen)
    assert gram_distance(tex, tex) == pytest.approx(0.0, abs=1e-9)
    noise = torch.randn(tex.shape, generator=gen)
    values = [gram_distance(tex + s * noise, tex) for s in (0.0, 0.3, 0.6, 1.2)]
    assert increasing(values), values


def test_grid_divergences_zero_for_data_and_grow_as_samples_spread():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4000, 2)) * 0.3 + np.array([[2.0, 0.0]]) * rng.choice([-1, 1], (4000, 1))
    same = grid_divergences(data, data, bins=32)
    assert same["kl_samples"] == pytest.approx(0.0, abs=1e-9)
    assert same["js_samples"] == pytest.approx(0.0, abs=1e-9)
    noise = rng.normal(size=data.shape)
    js = [grid_divergences(data, data + s * noise, bins=32)["js_samples"] for s in (0, 0.2, 0.5, 1.0)]
    kl = [grid_divergences(data, data + s * noise, bins=32)["kl_samples"] for s in (0, 0.2, 0.5, 1.0)]
    assert increasing(js) and increasing(kl) and js[-1] <= np.log(2)

    # The model term: exp(-E) of the true mixture beats a broadened one.
    def energy(scale):
        def fn(x):
            d1 = ((x - torch.tensor([2.0, 0.0])) ** 2).sum(1)
            d2 = ((x + torch.tensor([2.0, 0.0])) ** 2).sum(1)
            return -torch.logsumexp(torch.stack([-d1, -d2]) / (2 * scale**2), 0)
        return fn

    model = [grid_divergences(data, energy_fn=energy(s), bins=32)["js_model"] for s in (0.3, 0.6, 1.2)]
    assert increasing(model), model


def test_grid_divergences_count_samples_that_leave_the_grid():
    # Samples far outside the data's box must not vanish from the score: a model
    # whose draws all lie far away is the worst, and strays make a good one worse.
    rng = np.random.default_rng(1)
    data = rng.normal(size=(4000, 2)) * 0.3 + np.array([[2.0, 0.0]]) * rng.choice([-1, 1], (4000, 1))
    good = data[rng.permutation(len(data))]
    strays = good.copy()
    strays[::5] = rng.normal(size=(len(data[::5]), 2)) * 3 + 15.0  # a fifth, far away
    far = good + 12.0  # everything off the grid, the shape kept
    kl = [grid_divergences(data, x, bins=32)["kl_samples"] for x in (good, strays, far)]
    js = [grid_divergences(data, x, bins=32)["js_samples"] for x in (good, strays, far)]
    assert increasing(kl) and increasing(js), (kl, js)
    assert kl[1] - kl[0] >= 0.9 * -np.log(0.8)  # at least the mass the strays took away
    assert js[2] == pytest.approx(np.log(2), abs=5e-3)  # nothing in common with the data


def _clouds(n: int, points: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, points, 3, generator=gen)
    x = x / x.norm(dim=2, keepdim=True)  # spheres …
    radius = 0.3 + 0.6 * torch.rand(n, 1, 1, generator=gen)  # … of different sizes
    return x * radius


def test_chamfer_distance_zero_on_the_diagonal_and_symmetric():
    a = _clouds(5, 64, 0)
    d = chamfer_matrix(a, a)
    assert np.allclose(np.diag(d), 0.0, atol=1e-6)
    assert np.allclose(d, d.T, atol=1e-6)


def test_chamfer_distance_is_the_brute_force_one():
    a, b = _clouds(6, 50, 4), _clouds(4, 70, 5)
    d = ((a[:, None, :, None] - b[None, :, None]) ** 2).sum(-1)  # (6, 4, 50, 70)
    brute = (d.min(3).values.mean(2) + d.min(2).values.mean(2)).double().numpy()
    assert np.allclose(chamfer_matrix(a, b), brute, rtol=1e-5, atol=1e-7)
    d = ((a[:, None, :, None] - a[None, :, None]) ** 2).sum(-1)  # a against itself: halved
    brute = (d.min(3).values.mean(2) + d.min(2).values.mean(2)).double().numpy()
    assert np.allclose(chamfer_matrix(a, a), brute, rtol=1e-5, atol=1e-7)


def test_pointcloud_metrics_best_for_identical_sets_and_worsen_with_noise():
    ref = _clouds(24, 64, 1)
    best = pointcloud_metrics(ref, ref)
    assert best["mmd_cd"] == pytest.approx(0.0, abs=1e-6)
    assert best["cov_cd"] == 1.0
    gen = torch.Generator().manual_seed(2)
    noise = torch.randn(ref.shape, generator=gen)
    runs = [pointcloud_metrics(ref + s * noise, ref) for s in (0.02, 0.1, 0.3)]
    assert increasing([best["mmd_cd"]] + [r["mmd_cd"] for r in runs])
    # 1-NNA: a fresh draw from the same law is near 0.5; noisy clouds are told apart.
    fresh = pointcloud_metrics(_clouds(24, 64, 3), ref)
    assert 0.25 <= fresh["1nna_cd"] <= 0.75
    assert runs[-1]["1nna_cd"] > 0.7
    # Mode collapse: every generated cloud the same → coverage drops.
    collapsed = pointcloud_metrics(ref[:1].repeat(24, 1, 1), ref)
    assert collapsed["cov_cd"] == pytest.approx(1 / 24)


def _voxels(n: int, seed: int, side: int = 12) -> torch.Tensor:
    """Distinct blobby shapes: smoothed noise thresholded at 0."""
    gen = torch.Generator().manual_seed(seed)
    field = torch.randn(n, 1, side, side, side, generator=gen)
    smooth = torch.nn.functional.avg_pool3d(field, 5, stride=1, padding=2)
    return torch.where(smooth > 0, 1.0, -1.0)


def test_voxel_metrics_best_for_identical_sets_and_worsen_with_flipped_voxels():
    ref = _voxels(20, 0)
    best = voxel_metrics(ref, ref)
    assert best["mmd_iou"] == pytest.approx(0.0) and best["iou_nearest"] == pytest.approx(1.0)
    assert best["cov_iou"] == 1.0
    gen = torch.Generator().manual_seed(1)
    u = torch.rand(ref.shape, generator=gen)
    mmds = [voxel_metrics(torch.where(u < p, -ref, ref), ref)["mmd_iou"] for p in (0.01, 0.05, 0.2)]
    assert increasing([0.0] + mmds), mmds
    collapsed = voxel_metrics(ref[:1].repeat(20, 1, 1, 1, 1), ref)
    assert collapsed["cov_iou"] == pytest.approx(1 / 20)


def test_video_metrics_zero_for_same_videos_and_grow_with_noise():
    gen = torch.Generator().manual_seed(0)
    t = torch.arange(6.0)[None, None, :, None, None]
    y = torch.arange(16.0)[None, None, None, :, None]
    vid = torch.sin(y / 2 + t).expand(4, 1, 6, 16, 16).clone()
    same = video_metrics(vid, vid)
    assert same["gram_appearance"] == pytest.approx(0.0, abs=1e-9)
    assert same["gram_motion"] == pytest.approx(0.0, abs=1e-9)
    noise = torch.randn(vid.shape, generator=gen)
    motion = [video_metrics(vid + s * noise, vid)["gram_motion"] for s in (0.0, 0.2, 0.5)]
    assert increasing(motion), motion
