"""`ebm sample` / `ebm eval` refuse an --n or --scale that cannot fit, before
drawing, with one line; an allocation that still fails is one line too."""

from __future__ import annotations

import pytest

from ebm_engine.cli import main
from ebm_engine.errors import out_of_memory
from ebm_engine.learning.loading import load_model
from ebm_engine.sampling_preflight import chain_bytes, grid_bytes

RUN = "zoo:digits-ml"


def _refused(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ebm: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_too_many_samples_are_refused_before_drawing(tmp_path, capsys, monkeypatch):
    from ebm_engine.methods.ml import MaximumLikelihood

    def never(*_args, **_kwargs):
        raise AssertionError("sampled before the check")

    monkeypatch.setattr(MaximumLikelihood, "sample", never)
    out = tmp_path / "grid.png"
    err = _refused(["sample", "--run", RUN, "--n", "100000000", "--out", str(out)], capsys)
    assert "--n 100000000 needs" in err and "free" in err and "--seed" in err
    err = _refused(["sample", "--run", RUN, "--n", "4", "--scale", "100000", "--out", str(out)],
                   capsys)
    assert "--scale 100000 makes a grid of 4 cells of 1600000 × 1600000 px" in err
    err = _refused(["eval", "--run", RUN, "--n", "100000000", "--no-write"], capsys)
    assert "--n 100000000 needs" in err
    assert not out.exists()


def test_a_draw_that_fits_is_drawn(tmp_path, capsys):
    out = tmp_path / "grid.png"
    assert main(["sample", "--run", RUN, "--n", "8", "--steps", "2", "--scale", "8",
                 "--out", str(out)]) == 0
    assert out.exists()


def test_the_estimates_grow_with_what_is_asked():
    loaded = load_model(RUN, "cpu")
    one = chain_bytes(loaded.cfg, loaded.spec.item_shape, 1)
    assert one > 256 * 4  # at least the digit itself
    assert chain_bytes(loaded.cfg, loaded.spec.item_shape, 1000) == 1000 * one
    assert chain_bytes(loaded.cfg, loaded.spec.item_shape, 10, frames=21) > 10 * one
    assert grid_bytes(64, (64, 64)) == 2 * grid_bytes(32, (64, 64))


def test_an_allocation_that_fails_anyway_is_one_line(tmp_path, capsys, monkeypatch):
    from ebm_engine.commands import sample

    monkeypatch.setattr(sample, "_check_memory", lambda *a, **k: None)  # an estimate too short

    def allocate(*_args, **_kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: "
                           "can't allocate memory: you tried to allocate 102400000000 bytes.")
        yield

    from ebm_engine.methods.ml import MaximumLikelihood

    monkeypatch.setattr(MaximumLikelihood, "sample", allocate)
    err = _refused(["sample", "--run", RUN, "--n", "8", "--out", str(tmp_path / "x.npz")], capsys)
    assert err.startswith("ebm: error: out of memory (102 GB asked for)")
    # Windows' allocator and MPS say it otherwise; CUDA's long first line is cut
    windows = RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not "
                           "enough memory: you tried to allocate 102400000000 bytes.")
    assert out_of_memory(windows).startswith("out of memory (102 GB asked for)")
    assert out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"))
    assert len(out_of_memory(MemoryError("x" * 500))) < 250
    # a bug that is not about memory keeps its traceback
    assert out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None
    with pytest.raises(RuntimeError, match="shapes"):
        monkeypatch.setattr(MaximumLikelihood, "sample", lambda *a, **k: (_ for _ in ()).throw(
            RuntimeError("mat1 and mat2 shapes cannot be multiplied")))
        main(["sample", "--run", RUN, "--n", "8", "--out", str(tmp_path / "x.npz")])
