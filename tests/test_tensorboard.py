"""Optional TensorBoard scalars: written when tensorboard is importable, else nothing."""

from __future__ import annotations

import sys
import types

from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for
from ebm_engine.runs.tensorboard import TensorBoardScalars


class FakeWriter:
    instances: list[FakeWriter] = []

    def __init__(self, log_dir: str):
        self.log_dir = log_dir
        self.scalars: list[tuple[str, float, int]] = []
        self.closed = False
        FakeWriter.instances.append(self)

    def add_scalar(self, key: str, value: float, step: int) -> None:
        self.scalars.append((key, value, step))

    def close(self) -> None:
        self.closed = True


def tiny():
    return config_for("8gaussians", overrides=[
        ("model.width", 16), ("sampler.n_steps", 2), ("train.batch_size", 8),
        ("train.checkpoint_every", 0)])


def test_trainer_writes_scalars_when_tensorboard_is_installed(tmp_path, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = FakeWriter
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    FakeWriter.instances.clear()
    list(Trainer(tiny(), tmp_path / "run").events(3))
    (writer,) = FakeWriter.instances
    assert writer.log_dir == str(tmp_path / "run" / "tensorboard") and writer.closed
    losses = [(step, value) for key, value, step in writer.scalars if key == "loss"]
    assert [step for step, _ in losses] == [1, 2, 3]
    assert {"energy_data", "energy_sample", "grad_norm", "its"} <= {k for k, _, _ in writer.scalars}


def test_without_tensorboard_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    scalars = TensorBoardScalars(tmp_path / "tb")
    assert not scalars.enabled
    scalars.add(1, {"loss": 0.5})
    scalars.close()
    list(Trainer(tiny(), tmp_path / "run").events(2))
    assert not (tmp_path / "tb").exists() and not (tmp_path / "run" / "tensorboard").exists()
