"""Pre-flight checks refuse runs that cannot fit, with one line naming the knob,
before anything big is allocated or decoded; sensible configs pass."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from ebm_engine import preflight
from ebm_engine.config import RunConfig
from ebm_engine.data import load_dataset
from ebm_engine.errors import ConfigError
from ebm_engine.models import registry
from ebm_engine.preflight import (
    available_memory,
    check_data,
    check_resources,
    estimate_dataset_bytes,
    estimate_model,
    format_bytes,
)
from ebm_engine.presets import config_for

CPU = torch.device("cpu")
GB = 10**9


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.fixture
def png_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folder


def test_format_bytes() -> None:
    assert format_bytes(0) == "0 B"
    assert format_bytes(999) == "999 B"
    assert format_bytes(1500) == "1.5 kB"
    assert format_bytes(22_000_000_000) == "22 GB"
    assert format_bytes(1.2e12) == "1.2 TB"
    assert format_bytes(3e16) == "30 PB"


def test_available_memory_of_the_cpu_is_plausible() -> None:
    free = available_memory(CPU)
    assert 10**7 < free < 10**14


@pytest.mark.parametrize("source", ["digits", "8gaussians"])
def test_default_demo_configs_pass(source: str) -> None:
    cfg = config_for(source)
    check_data(cfg.data)
    dataset = load_dataset(cfg.data)
    check_resources(cfg, dataset.item_shape, CPU, dataset.items.nbytes)
    check_resources(cfg.with_value("train.device", "cpu"), dataset.item_shape, CPU)


def test_huge_width_is_refused_naming_model_width() -> None:
    cfg = config_for("digits", overrides=[("model.width", 100000)])
    start = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        check_resources(cfg, (1, 16, 16), CPU)
    assert time.perf_counter() - start < 10
    msg = one_line(exc)
    assert msg.startswith("model.width=100000 needs ≈ ")
    assert "TB for one iteration" in msg and "free" in msg


@pytest.mark.parametrize("key, value", [("train.batch_size", 10_000_000),
                                        ("sampler.buffer_size", 10**9)])
def test_other_knobs_are_named(key: str, value: int) -> None:
    cfg = config_for("digits", overrides=[(key, value)])
    with pytest.raises(ConfigError, match=f"^{key}={value} needs"):
        check_resources(cfg, (1, 16, 16), CPU)


def test_dataset_on_an_accelerator_counts(monkeypatch) -> None:
    monkeypatch.setattr(preflight, "available_memory", lambda device: 8 * GB)
    cfg = config_for("digits", overrides=[("data.image_size", 64)])
    check_resources(cfg, (1, 16, 16), torch.device("cuda"), dataset_bytes=1 * GB)
    with pytest.raises(ConfigError, match=r"^data\.image_size=64 needs .*cuda has 8\.0 GB free$"):
        check_resources(cfg, (1, 16, 16), torch.device("cuda"), dataset_bytes=20 * GB)
    # On the CPU the items are already in memory: not counted again.
    check_resources(cfg, (1, 16, 16), CPU, dataset_bytes=20 * GB)


def test_unknown_free_memory_skips_the_check(monkeypatch) -> None:
    monkeypatch.setattr(preflight, "available_memory", lambda device: 0)
    cfg = config_for("digits", overrides=[("model.width", 100000)])
    check_resources(cfg, (1, 16, 16), CPU)


def test_huge_image_size_on_a_folder_is_refused_before_decoding(png_folder: Path,
                                                                monkeypatch) -> None:
    import ebm_engine.data.files as files

    def no_decoding(*args, **kwargs):
        raise AssertionError("check_data decoded an image")

    monkeypatch.setattr(files, "read_image", no_decoding)
    cfg = RunConfig().with_value("data.source", str(png_folder)).with_value("data.image_size", 100000)
    start = time.perf_counter()
    with pytest.raises(ConfigError) as exc:
        check_data(cfg.data)
    assert time.perf_counter() - start < 2
    msg = one_line(exc)
    assert msg.startswith("data.image_size=100000 needs ≈ 90 GB to decode 3 images of 3x100000x100000")
    # A single picture too.
    with pytest.raises(ConfigError, match=r"^data\.image_size=100000 needs ≈ 30 GB .* 1 image "):
        check_data(cfg.with_value("data.source", str(png_folder / "0.png")).data)


def test_small_folder_passes_and_is_estimated(png_folder: Path) -> None:
    cfg = RunConfig().with_value("data.source", str(png_folder))
    check_data(cfg.data)
    assert estimate_dataset_bytes(cfg.data) == 3 * 3 * 12 * 10  # header size, RGB, 8-bit pixels
    sized = cfg.with_value("data.image_size", 8).with_value("data.grayscale", True)
    assert estimate_dataset_bytes(sized.data) == 3 * 8 * 8
    assert estimate_dataset_bytes(sized.with_value("data.max_items", 2).data) == 2 * 8 * 8
    assert estimate_dataset_bytes(sized.data) == load_dataset(sized.data).nbytes  # as held


def test_full_size_images_over_free_memory_name_the_knobs(png_folder: Path, monkeypatch) -> None:
    monkeypatch.setattr(preflight, "available_memory", lambda device: 1000)
    cfg = RunConfig().with_value("data.source", str(png_folder))
    with pytest.raises(ConfigError, match=r"^data\.max_items=0 needs ≈ 1\.1 kB to decode 3 images"):
        check_data(cfg.data)


@pytest.mark.parametrize("source, n", [("digits", 1797), ("texture-brick", 25)])
def test_huge_image_size_on_image_demos_is_refused(source: str, n: int) -> None:
    cfg = config_for(source, overrides=[("data.image_size", 100000)])
    with pytest.raises(ConfigError, match=rf"^data\.image_size=100000 needs ≈ .* to decode {n} "):
        check_data(cfg.data)
    small = config_for(source, overrides=[("data.image_size", 20)])
    assert estimate_dataset_bytes(small.data) == load_dataset(small.data).items.nbytes


def test_other_data_kinds_are_unknown(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((4, 2), np.float32))
    for source in ("8gaussians", str(tmp_path / "x.npy"), str(tmp_path / "missing")):
        cfg = RunConfig().with_value("data.source", source)
        assert estimate_dataset_bytes(cfg.data) is None
        check_data(cfg.data)


def measured_parameter_bytes(net: nn.Module) -> int:
    opt = torch.optim.Adam(net.parameters())
    net(torch.randn(4, *SHAPE)).sum().backward()
    opt.step()
    tensors = [*net.parameters(), *(p.grad for p in net.parameters()), *net.buffers()]
    tensors += [v for state in opt.state.values() for v in state.values() if v.dim() > 0]
    return sum(t.numel() * t.element_size() for t in tensors)


SHAPE = (1, 16, 16)


@pytest.mark.parametrize("name, sn", [("convnet", False), ("convnet", True), ("mlp", False)])
def test_meta_estimate_matches_a_real_model(name: str, sn: bool) -> None:
    cfg = (config_for("digits").with_value("model.name", name)
           .with_value("model.spectral_norm", sn).with_value("model.width", 16))
    est = estimate_model(cfg, SHAPE)
    assert est.exact
    torch.manual_seed(0)
    net = registry.build_model(cfg.model, SHAPE)
    assert est.parameters == sum(p.numel() for p in net.parameters())
    measured = measured_parameter_bytes(net)
    assert measured / 3 <= est.parameter_bytes <= measured * 3
    assert est.buffer_bytes == cfg.sampler.buffer_size * 256 * 4  # digits preset is persistent
    assert est.activation_bytes > 0
    noise = cfg.with_value("sampler.init", "noise")
    assert estimate_model(noise, SHAPE).buffer_bytes == 0
    double = estimate_model(cfg.with_value("train.batch_size", 2 * cfg.train.batch_size), SHAPE)
    if sn:  # spectral norm's computed weights do not grow with the batch
        assert est.activation_bytes < double.activation_bytes < 2 * est.activation_bytes
    else:
        assert double.activation_bytes == 2 * est.activation_bytes


class DataDependent(nn.Module):
    """A forward that needs real values (``.item()``): not runnable on meta."""

    def __init__(self, dim: int, width: int):
        super().__init__()
        self.lin = nn.Linear(dim, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.lin(x.flatten(1))
        return h.sum(1) * float(h.abs().max().item() > 0)


def test_models_that_do_not_run_on_meta_fall_back(monkeypatch) -> None:
    registry.available_models()  # load the real ones first
    monkeypatch.setitem(registry._BUILDERS, "data-dependent",
                        lambda cfg, shape: DataDependent(int(np.prod(shape)), cfg.width))

    def broken(cfg, shape):
        raise RuntimeError("cannot build on meta")

    monkeypatch.setitem(registry._BUILDERS, "broken", broken)
    cfg = config_for("8gaussians").with_value("model.width", 10)
    est = estimate_model(cfg.with_value("model.name", "data-dependent"), (2,))
    assert not est.exact and est.parameters == 2 * 10 + 10
    est = estimate_model(cfg.with_value("model.name", "broken"), (2,))
    assert not est.exact and est.parameters > 0
    check_resources(cfg.with_value("model.name", "broken"), (2,), CPU)
    with pytest.raises(ConfigError, match="^model.width=100000 needs"):
        check_resources(cfg.with_value("model.name", "broken").with_value("model.width", 100000),
                        (2,), CPU)
