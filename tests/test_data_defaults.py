"""A user's own data without --preset: the preset of its kind, sized for it, said in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ebm_engine.cli import main
from ebm_engine.data import cache
from ebm_engine.data.voxel_files import binvox_bytes
from ebm_engine.presets import choose_preset, config_for


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_CACHE_DIR, str(folder))
    return folder


def pngs(folder: Path, n: int, w: int, h: int, mode: str = "RGB") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        shape = (h, w, 3) if mode == "RGB" else (h, w)
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(folder / f"{i}.png")
    return folder


def test_a_folder_of_images_with_no_preset_trains_a_convnet(tmp_path: Path, capsys) -> None:
    data = pngs(tmp_path / "faces", 24, 16, 16)
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--steps", "2", "--out", str(run),
                 "--set", "model.width=8", "--set", "sampler.n_steps=2",
                 "--set", "sampler.buffer_size=32"]) == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["model"]["name"] == "convnet" and cfg["model"]["depth"] == 2
    assert cfg["data"]["image_size"] == 16
    assert cfg["sampler"]["clamp"] and cfg["sampler"]["init"] == "persistent"  # digits' Langevin
    err = capsys.readouterr().err
    line = next(ln for ln in err.splitlines() if "preset" in ln)
    assert line == ("ebm: 24 images of 16×16 RGB → preset digits: Generative ConvNet for 16×16 "
                    "(depth 2, batch 32) (choose another with --preset or --config)")


def test_image_presets_are_sized_for_the_images(tmp_path: Path) -> None:
    big = choose_preset(str(pngs(tmp_path / "big", 3, 100, 80)))
    assert big.preset == "digits"
    assert big.patch == {"data": {"image_size": 64}, "model": {"name": "convnet", "depth": 4},
                         "train": {"batch_size": 16}}
    assert big.line.endswith("centre-cropped to a square and resized from 100×80")
    mid = choose_preset(str(pngs(tmp_path / "mid", 3, 32, 32, mode="L")))
    assert mid.patch["data"] == {"image_size": 32, "grayscale": True}
    assert mid.patch["model"]["depth"] == 3 and "grayscale" in mid.line
    one = choose_preset(str(pngs(tmp_path / "one", 1, 64, 64) / "0.png"))
    assert one.preset == "texture" and one.patch["model"]["depth"] == 4
    assert choose_preset(str(tmp_path / "mid"), method="coopnets").preset == "digits-coopnets"
    # The choice ends up in the config; --set still wins.
    lines: list[str] = []
    cfg = config_for(str(tmp_path / "big"), overrides=[("data.image_size", 32)], report=lines.append)
    assert cfg.model.name == "convnet" and cfg.data.image_size == 32
    # the line says the user's own size, which comes after the chosen one and wins
    assert cfg.sampler.grad_scale == 200000.0 and lines == [big.line + ", then "
                                                            "data.image_size=32 as set"]
    # A demo, or a preset named, is not re-chosen (and nothing is reported).
    assert config_for("digits", report=lines.append).model.name == "convnet"
    assert config_for(str(tmp_path / "big"), preset="toy2d", report=lines.append).model.name == "mlp"
    assert len(lines) == 1


def _cube_off() -> str:
    v = [(x, y, z) for x in (0, 1) for y in (0, 1) for z in (0, 1)]
    faces = [(0, 1, 3), (0, 3, 2), (4, 6, 7), (4, 7, 5)]
    return "\n".join(["OFF", f"8 {len(faces)} 0", *(" ".join(map(str, p)) for p in v),
                      *(f"3 {a} {b} {c}" for a, b, c in faces)]) + "\n"


def test_each_kind_gets_its_preset(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vox = tmp_path / "vox"
    vox.mkdir()
    (vox / "a.binvox").write_bytes(binvox_bytes(rng.random((16, 16, 16)) > 0.5))
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    (meshes / "a.off").write_text(_cube_off())
    clouds = tmp_path / "clouds"
    clouds.mkdir()
    (clouds / "a.xyz").write_text("0 0 0\n1 0 0\n0 1 0\n")
    gif = tmp_path / "v.gif"
    frames = [Image.new("RGB", (8, 8), (i * 30, 0, 0)) for i in range(4)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    np.save(tmp_path / "xy.npy", rng.normal(size=(100, 2)).astype(np.float32))
    np.save(tmp_path / "digits.npy", rng.random((10, 28, 28)).astype(np.float32))

    def chosen(path: Path, **options) -> tuple:
        c = choose_preset(str(path), options=options)
        return c.preset, c.patch.get("model", {}).get("name"), c.patch.get("data")

    assert chosen(vox) == ("shapes-voxels", "voxelnet", {"image_size": 16})
    assert chosen(meshes) == ("shapes-voxels", "voxelnet", {"image_size": 32})
    assert chosen(meshes, **{"as": "pointcloud"})[0] == "shapes-points"
    assert chosen(clouds)[0] == "shapes-points"
    assert chosen(gif)[0] == "dynamic-texture"
    assert chosen(tmp_path / "xy.npy")[0] == "toy2d"
    # Image arrays are used as stored: the net is sized, the data is not resized.
    assert chosen(tmp_path / "digits.npy") == ("digits", "convnet", None)
    assert choose_preset(str(tmp_path / "digits.npy")).patch["model"]["depth"] == 3
    # A forced reader is honoured: a folder of pictures read as one video.
    frames_dir = pngs(tmp_path / "frames", 4, 8, 8)
    assert chosen(frames_dir, reader="video-frames")[0] == "dynamic-texture"
    assert config_for(str(frames_dir), overrides=[("data.options.reader", "video-frames")]
                      ).model.name == "stgconvnet"
    for line in (choose_preset(str(vox)).line, choose_preset(str(meshes)).line):
        assert "→ preset shapes-voxels: Generative VoxelNet" in line


def test_data_that_cannot_be_told_gets_no_preset_and_a_reason(tmp_path: Path) -> None:
    missing = choose_preset(str(tmp_path / "nothing"))
    assert missing.preset is None and "no such file or folder" in missing.line
    mixed = tmp_path / "mixed"
    pngs(mixed, 2, 8, 8)
    for i in range(2):
        (mixed / f"{i}.off").write_text(_cube_off())
    choice = choose_preset(str(mixed))
    assert choice.preset is None and "data.options.reader" in choice.line
    assert config_for(str(mixed)).model.name == "mlp"  # the plain defaults; loading will say why


def test_a_folder_is_judged_by_more_than_three_files(tmp_path: Path) -> None:
    """Red pictures between grey first, middle and last files keep their colour, and
    a folder of many sizes says so instead of the first file's size."""
    folder = tmp_path / "mostly_grey"
    folder.mkdir()
    for i in range(7):
        grey = i in (0, 3, 6)
        pixels = np.full((32, 32) if grey else (32, 32, 3), 120, np.uint8)
        Image.fromarray(pixels, "L" if grey else "RGB").save(folder / f"{i}.png")
    assert not choose_preset(str(folder)).patch["data"].get("grayscale")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, (w, h) in enumerate([(48, 64), (60, 40), (50, 50), (30, 30), (90, 90)]):
        Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(mixed / f"{i}.png")
    choice = choose_preset(str(mixed))
    assert "5 images of 5 sizes, 30×30 to 90×90 (median 50×50) RGB" in choice.line
    assert choice.patch["data"]["image_size"] == 50
    assert "each image centre-cropped to a square and resized to it" in choice.line
    # --set data.crop=false: the line says what happens (squashed), not the crop it switched off
    from ebm_engine.presets import config_for

    said: list[str] = []
    config_for(str(mixed), overrides=[("data.crop", False)], report=said.append)
    assert "each image squashed to a square (data.crop=false: not cropped)" in said[0]
    assert "centre-cropped" not in said[0] and "as set" not in said[0]


def test_the_line_says_what_reading_does_to_clips_and_clouds(tmp_path: Path) -> None:
    """A folder of 64×80 movies became 32×32 clips of 16 frames, and clouds of 300–550
    points were resampled and rescaled, without a word: the line now says so."""
    movies = tmp_path / "movies"
    movies.mkdir()
    frames = [Image.new("RGB", (80, 64), (i * 10, 0, 0)) for i in range(20)]
    frames[0].save(movies / "a.gif", save_all=True, append_images=frames[1:])
    clouds = tmp_path / "clouds"
    clouds.mkdir()
    rng = np.random.default_rng(0)
    for i, n in enumerate((300, 550)):
        np.savetxt(clouds / f"{i}.xyz", rng.normal(size=(n, 3)))
    meshes = tmp_path / "meshes"
    meshes.mkdir()
    (meshes / "a.off").write_text(_cube_off())

    def said(path: Path, overrides=()) -> tuple:
        lines: list[str] = []
        cfg = config_for(str(path), overrides=list(overrides), report=lines.append)
        assert len(lines) == 1
        return lines[0], cfg

    line, cfg = said(movies)
    side = cfg.data.image_size
    assert (f"each video cut into clips of 16 frames, frames centre-cropped to a square and "
            f"resized to {side}×{side}") in line
    line, _ = said(movies, [("data.options.frames", 8), ("data.crop", False)])
    assert "clips of 8 frames, frames squashed to" in line
    line, cfg = said(clouds)
    n = cfg.data.options.get("points", 2048)
    assert f"each cloud resampled to {n} points, centred and scaled into [-1, 1]³" in line
    line, _ = said(clouds, [("data.options.points", 256), ("data.options.normalize", False)])
    assert line.endswith("each cloud resampled to 256 points")
    line, _ = said(meshes, [("data.options.as", "pointcloud")])
    assert "points drawn on each mesh's surface" in line
