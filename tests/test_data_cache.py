"""The decoded-data cache: bit-exact round trips, invalidation, damaged files,
several processes sharing one file, fallbacks, and training from a mapped file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ebm_engine.atomic import current_umask
from ebm_engine.config import DataConfig
from ebm_engine.data import cache, cachefile, load_dataset, progress
from ebm_engine.data.cache import DataCacheWarning
from ebm_engine.data.voxel_files import binvox_bytes


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch) -> Path:
    """Every test gets its own cache folder (never the user's)."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(folder))
    return folder


def make_pngs(folder: Path, n: int = 12, size: int = 10, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pics = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]
    for i, pic in enumerate(pics):
        Image.fromarray(pic).save(folder / f"{i:03d}.png")
    return pics


def load(source: Path, **kwargs) -> object:
    return load_dataset(DataConfig(source=str(source), **kwargs))


def cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{cache.SUFFIX}"))


def bits(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous().view(torch.int32)


def assert_same(a, b) -> None:
    """Same stored values and encoding, and bit-identical float items."""
    assert a.stored.dtype == b.stored.dtype and (a.scale, a.offset) == (b.scale, b.offset)
    assert torch.equal(a.stored, b.stored)
    assert torch.equal(bits(a.items), bits(b.items))
    assert (a.kind, a.value_range, a.item_shape) == (b.kind, b.value_range, b.item_shape)


# --------------------------------------------------------------------------- round trips


def test_image_cache_round_trips_bit_exactly(tmp_path: Path, cache_dir: Path) -> None:
    pics = make_pngs(tmp_path / "pics")
    memory = load(tmp_path / "pics", options={"cache": False})
    assert not cache_files(cache_dir)

    built = load(tmp_path / "pics")
    mapped = load(tmp_path / "pics")

    assert built.meta["cache"]["built"] and not mapped.meta["cache"]["built"]
    assert [f.name for f in cache_files(cache_dir)] == [Path(mapped.meta["cache"]["file"]).name]
    # The file has the mode a plain write gives (colleagues may share a cache folder).
    mode = stat.S_IMODE(os.stat(mapped.meta["cache"]["file"]).st_mode)
    assert mode == 0o666 & ~current_umask()
    assert not list(cache_dir.glob(".*"))  # no temporary or lock file left
    # The decoded pixels themselves, as 8-bit values, in a memory map.
    assert mapped.stored.dtype == torch.uint8
    expected = np.stack([p.transpose(2, 0, 1) for p in pics])
    assert np.array_equal(mapped.stored.numpy(), expected)
    assert isinstance(mapped.stored.numpy().base, np.memmap) or mapped.stored.numpy().base is not None
    for other in (built, memory):
        assert_same(mapped, other)
    assert mapped.meta["files"] == memory.meta["files"] and mapped.meta["reader"] == "image-folder"
    # Batches decode only their rows, bit-identical to the same rows of items.
    idx = torch.tensor([3, 0, 3, 11])
    assert torch.equal(bits(mapped.take(idx)), bits(memory.items[idx]))
    assert float(mapped.items.min()) >= -1.0 and float(mapped.items.max()) <= 1.0


def test_resized_grayscale_and_16_bit_images_round_trip(tmp_path: Path) -> None:
    make_pngs(tmp_path / "rgb", n=4, size=20)
    for kwargs in ({"image_size": 8}, {"image_size": 8, "grayscale": True, "crop": False}):
        memory = load(tmp_path / "rgb", options={"cache": False}, **kwargs)
        load(tmp_path / "rgb", **kwargs)
        assert_same(load(tmp_path / "rgb", **kwargs), memory)
    deep = tmp_path / "deep"
    deep.mkdir()
    arr = np.arange(0, 65536, 1024, dtype=np.uint16).reshape(8, 8)
    Image.fromarray(arr).save(deep / "a.png")
    memory = load(deep, options={"cache": False})
    load(deep)
    mapped = load(deep)
    assert mapped.stored.dtype == torch.int16  # 16-bit pictures keep their precision
    assert_same(mapped, memory)
    np.testing.assert_allclose(mapped.items[0, 0].numpy(), arr / 65535 * 2 - 1, atol=1e-6)


def _cube_off() -> str:
    v = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    lines = ["OFF", f"{len(v)} {len(quads)} 0", *(" ".join(map(str, p)) for p in v)]
    lines += [f"4 {' '.join(map(str, q))}" for q in quads]
    return "\n".join(lines) + "\n"


def _make_sources(root: Path) -> dict[str, tuple[Path, dict]]:
    rng = np.random.default_rng(1)
    vox = root / "vox"
    vox.mkdir(parents=True)
    for i in range(3):
        (vox / f"{i}.binvox").write_bytes(binvox_bytes(rng.random((8, 8, 8)) > 0.5))
    meshes = root / "meshes"
    meshes.mkdir()
    for i in range(2):
        (meshes / f"{i}.off").write_text(_cube_off())
    clouds = root / "clouds"
    clouds.mkdir()
    for i in range(2):
        pts = rng.normal(size=(50, 3))
        (clouds / f"{i}.xyz").write_text("\n".join(" ".join(f"{c:.6f}" for c in p) for p in pts))
    video = root / "clip.gif"
    frames = [Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)) for _ in range(6)]
    frames[0].save(video, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return {
        "voxels": (vox, {}),
        "mesh": (meshes, {"image_size": 8}),
        "mesh points": (meshes, {"options": {"as": "pointcloud", "points": 64}}),
        "pointcloud": (clouds, {"options": {"points": 32}}),
        "video": (video, {"options": {"frames": 3}}),
    }


def test_voxel_mesh_point_and_video_sources_use_the_cache(tmp_path: Path) -> None:
    for name, (source, kwargs) in _make_sources(tmp_path / "src").items():
        opts = kwargs.get("options", {})
        rest = {k: v for k, v in kwargs.items() if k != "options"}
        memory = load(source, options={**opts, "cache": False}, **rest)
        built = load(source, options=opts, **rest)
        mapped = load(source, options=opts, **rest)
        assert built.meta["cache"]["built"], name
        assert mapped.meta["cache"] == {"file": built.meta["cache"]["file"], "built": False}, name
        assert_same(mapped, memory)
    # Occupancy and 8-bit frames are stored compactly; point coordinates stay float32.
    assert load(tmp_path / "src" / "vox").stored.dtype == torch.uint8
    assert load(tmp_path / "src" / "clip.gif", options={"frames": 3}).stored.dtype == torch.uint8
    assert load(tmp_path / "src" / "clouds", options={"points": 32}).stored.dtype == torch.float32


# --------------------------------------------------------------------------- invalidation


def test_editing_adding_or_deleting_a_source_file_invalidates(tmp_path: Path,
                                                              cache_dir: Path) -> None:
    make_pngs(tmp_path / "pics", n=5)
    first = load(tmp_path / "pics")
    old_file = Path(first.meta["cache"]["file"])

    white = np.full((10, 10, 3), 255, dtype=np.uint8)
    Image.fromarray(white).save(tmp_path / "pics" / "002.png")  # same size in pixels, new data
    edited = load(tmp_path / "pics")
    assert edited.meta["cache"]["built"]
    assert torch.all(edited.stored[2] == 255) and not torch.all(first.stored[2] == 255)
    assert not old_file.exists()  # the stale version is removed when the new one is written
    assert len(cache_files(cache_dir)) == 1

    (tmp_path / "pics" / "004.png").unlink()
    assert len(load(tmp_path / "pics")) == 4
    Image.fromarray(white).save(tmp_path / "pics" / "new.png")
    assert len(load(tmp_path / "pics")) == 5
    # Files no reader reads, and hidden ones, change nothing.
    (tmp_path / "pics" / "README").write_text("hello")  # no extension: no reader reads it
    (tmp_path / "pics" / ".DS_Store").write_text("x")
    assert not load(tmp_path / "pics").meta["cache"]["built"]
    # Decoding settings are part of the key; the cache's own options are not.
    assert load(tmp_path / "pics", image_size=4).meta["cache"]["built"]
    assert not load(tmp_path / "pics", image_size=4, options={"cache_wait": 5}).meta["cache"][
        "built"]


def test_a_damaged_cache_file_is_detected_and_rebuilt(tmp_path: Path) -> None:
    make_pngs(tmp_path / "pics", n=40, size=16)
    good = load(tmp_path / "pics", options={"cache": False})
    path = Path(load(tmp_path / "pics").meta["cache"]["file"])
    size = path.stat().st_size

    def damaged(how) -> object:
        how(path)
        with pytest.warns(DataCacheWarning, match="not sound"):
            again = load(tmp_path / "pics")
        assert again.meta["cache"]["built"]
        assert_same(again, good)
        assert path.stat().st_size == size
        return again

    damaged(lambda p: os.truncate(p, size // 2))  # truncated
    damaged(lambda p: os.truncate(p, size + 10))  # grown
    damaged(lambda p: p.write_bytes(b"rubbish"))

    def flip(offset: int):
        def apply(p: Path) -> None:
            with open(p, "r+b") as fh:
                fh.seek(offset)
                byte = fh.read(1)
                fh.seek(offset)
                fh.write(bytes([byte[0] ^ 0xFF]))
        return apply

    damaged(flip(0))  # the magic
    damaged(flip(cachefile.DATA_OFFSET + 5))  # the first data block (always checked)
    damaged(flip(size - 3))  # the header
    # A file written for other settings under this name is not trusted either.
    other = load(tmp_path / "pics", image_size=8)
    os.replace(other.meta["cache"]["file"], path)
    damaged(lambda p: None)


# --------------------------------------------------------------------------- processes

_LOADER = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.01)
    from ebm_engine.config import DataConfig
    from ebm_engine.data import load_dataset
    ds = load_dataset(DataConfig(source=sys.argv[1]))
    st = os.stat(ds.meta["cache"]["file"])
    print(json.dumps({"built": ds.meta["cache"]["built"], "ino": st.st_ino,
                      "mtime": st.st_mtime_ns, "sum": int(ds.stored.sum())}))
""")


def test_two_processes_share_one_cache_file(tmp_path: Path, cache_dir: Path) -> None:
    import json

    make_pngs(tmp_path / "pics", n=150, size=16)
    go = tmp_path / "go"
    env = {**os.environ, cache.ENV_CACHE_DIR: str(cache_dir), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", _LOADER, str(tmp_path / "pics"), str(go)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    time.sleep(0.5)  # both have imported what they can before the race starts
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    # One decoded, the other mapped that very file.
    assert sorted(r["built"] for r in results) == [False, True]
    assert len({(r["ino"], r["mtime"]) for r in results}) == 1
    assert len({r["sum"] for r in results}) == 1
    assert len(cache_files(cache_dir)) == 1 and not list(cache_dir.glob("*.lock"))
    # A later run maps it as is: not rewritten.
    again = load(tmp_path / "pics")
    st = os.stat(again.meta["cache"]["file"])
    assert (st.st_ino, st.st_mtime_ns) == (results[0]["ino"], results[0]["mtime"])


def _lock_path(source: Path, cache_dir: Path) -> Path:
    entry = cache.entry_for(source, DataConfig(source=str(source)), cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    return entry.lock


def test_waiters_map_what_the_lock_holder_builds(tmp_path: Path, cache_dir: Path) -> None:
    import threading

    make_pngs(tmp_path / "pics", n=4)
    lock = _lock_path(tmp_path / "pics", cache_dir)
    token = cache._try_lock(lock)  # we are "the other process" building
    got: list = []
    waiter = threading.Thread(target=lambda: got.append(load(tmp_path / "pics")))
    waiter.start()
    time.sleep(0.5)
    assert not got  # waiting
    entry = cache.entry_for(tmp_path / "pics", DataConfig(source=str(tmp_path / "pics")),
                            cache_dir)
    from ebm_engine.data.catalogue import readers

    info = next(r for r in readers() if r.name == "image-folder")
    built = entry._build_locked(info, DataConfig(source=str(tmp_path / "pics")))
    cache._unlock(lock, token)
    waiter.join(timeout=30)
    assert got and not got[0].meta["cache"]["built"]
    assert_same(got[0], built)


def test_a_dead_builders_lock_is_broken_and_a_live_one_times_out(tmp_path: Path,
                                                                 cache_dir: Path) -> None:
    make_pngs(tmp_path / "pics", n=4)
    lock = _lock_path(tmp_path / "pics", cache_dir)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import socket

    lock.write_text(f"{socket.gethostname()} {dead.pid} 0 x")
    assert load(tmp_path / "pics").meta["cache"]["built"]
    assert not lock.exists()

    make_pngs(tmp_path / "more", n=3)
    lock = _lock_path(tmp_path / "more", cache_dir)
    lock.write_text(f"{socket.gethostname()} {os.getpid()} 0 x")  # alive: us
    start = time.monotonic()
    with pytest.warns(DataCacheWarning, match="waited 0 s for another process"):
        ds = load(tmp_path / "more", options={"cache_wait": 0.3})
    assert time.monotonic() - start < 10
    assert "cache" not in ds.meta and len(ds) == 3  # decoded into memory instead


# --------------------------------------------------------------------------- fallbacks


def test_a_cache_that_cannot_be_written_falls_back_to_memory(tmp_path: Path,
                                                             monkeypatch) -> None:
    make_pngs(tmp_path / "pics", n=3)
    good = load(tmp_path / "pics", options={"cache": False})
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.warns(DataCacheWarning, match="cannot create the cache folder"):
        ds = load(tmp_path / "pics", options={"cache_dir": str(blocker / "sub")})
    assert_same(ds, good)
    assert "cache" not in ds.meta

    class Tiny:
        free = 1024

    monkeypatch.setattr(cachefile.shutil, "disk_usage", lambda path: Tiny())
    with pytest.warns(DataCacheWarning, match="GB free"):
        ds = load(tmp_path / "pics")
    assert_same(ds, good)
    assert not list((tmp_path / "cache").glob("*.tmp"))  # nothing left behind


def test_cache_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(cache.ENV_CACHE_DIR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert cache.default_cache_dir() == tmp_path / "xdg" / "ebm-studio" / "datasets"
    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(tmp_path / "env"))
    assert cache.settings(DataConfig()).folder == tmp_path / "env"
    mine = cache.settings(DataConfig(options={"cache_dir": str(tmp_path / "opt")}))
    assert mine.folder == tmp_path / "opt" and mine.enabled
    assert not cache.settings(DataConfig(options={"cache": False})).enabled
    from ebm_engine.errors import DataError

    for bad in ({"cache": "yes"}, {"cache_dir": 3}, {"cache_wait": -1}):
        with pytest.raises(DataError, match="data.options.cache"):
            cache.settings(DataConfig(options=bad))


def test_a_long_decode_shows_a_progress_bar(tmp_path: Path, monkeypatch, capsys) -> None:
    make_pngs(tmp_path / "pics", n=6)
    monkeypatch.setattr(progress, "SHOW_AFTER_SECONDS", 0.0)
    load(tmp_path / "pics")
    err = capsys.readouterr().err
    assert "decoding pics (cached)" in err and "6 files in" in err
    load(tmp_path / "pics")  # mapped: nothing to show
    assert capsys.readouterr().err == ""


# --------------------------------------------------------------------------- training


def test_training_draws_float_batches_from_the_mapped_file(tmp_path: Path) -> None:
    from ebm_engine.learning.trainer import Trainer
    from ebm_engine.presets import config_for

    make_pngs(tmp_path / "pics", n=20, size=16)
    cfg = config_for(str(tmp_path / "pics"), overrides=[
        ("train.batch_size", 8), ("sampler.n_steps", 2), ("model.width", 8),
        ("sampler.buffer_size", 16), ("train.iterations", 2)])
    load_dataset(cfg.data)  # built once
    trainer = Trainer(cfg, None)
    assert not trainer.dataset.meta["cache"]["built"]
    assert trainer.items.dtype == torch.uint8  # the mapped bytes, not a float copy
    state = trainer.rng.get_state()
    batch = trainer._batch()
    trainer.rng.set_state(state)
    idx = torch.randint(len(trainer.dataset), (8,), generator=trainer.rng)
    assert batch.dtype == torch.float32
    assert torch.equal(bits(batch), bits(trainer.dataset.items[idx]))
    events = list(trainer.events())
    assert events[-1].reason == "completed"


def test_files_unused_for_a_month_are_removed_when_another_is_built(tmp_path: Path,
                                                                    cache_dir: Path) -> None:
    make_pngs(tmp_path / "old", n=2)
    make_pngs(tmp_path / "recent", n=2)
    old = Path(load(tmp_path / "old").meta["cache"]["file"])
    recent = Path(load(tmp_path / "recent").meta["cache"]["file"])
    month_ago = time.time() - 40 * 86400
    os.utime(old, ns=(int(month_ago * 1e9), old.stat().st_mtime_ns))
    os.utime(recent, ns=(int(month_ago * 1e9), recent.stat().st_mtime_ns))
    load(tmp_path / "recent")  # opening it marks it used
    make_pngs(tmp_path / "new", n=2)
    load(tmp_path / "new")
    assert not old.exists() and recent.exists()
