"""PNG grids and GIF/MP4 animations: round trips and failures."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ebm_engine.errors import ExportError
from ebm_engine.export import (
    chain_to_frames,
    make_grid,
    read_animation,
    save_animation,
    save_grid_png,
)


def flat_images(n: int, c: int = 3, h: int = 4, w: int = 5) -> np.ndarray:
    """Image ``i`` is a flat colour of value ``(i + 1) / (n + 1)`` in every channel."""
    values = (np.arange(n) + 1.0) / (n + 1.0)
    return np.broadcast_to(values[:, None, None, None], (n, c, h, w)).copy()


def tile_pixel(i: int, nrow: int, h: int, w: int, pad: int = 2) -> tuple[int, int]:
    return pad + (i // nrow) * (h + pad), pad + (i % nrow) * (w + pad)


# --------------------------------------------------------------------------- grids


def test_make_grid_layout() -> None:
    x = flat_images(5)

    grid = make_grid(x)

    # 5 images of 4 × 5 → 2 per row, 3 rows (10 × 12 px of tiles: the squarest);
    # 2 px padding around every tile.
    assert grid.shape == (3 * 6 + 2, 2 * 7 + 2, 3) and grid.dtype == np.uint8
    for i in range(5):
        top, left = tile_pixel(i, 2, 4, 5)
        assert (grid[top : top + 4, left : left + 5] == int(255 * (i + 1) / 6 + 0.5)).all()
    assert (grid[:2] == 0).all() and (grid[:, :2] == 0).all()  # padding
    top, left = tile_pixel(5, 2, 4, 5)
    assert (grid[top : top + 4, left : left + 5] == 0).all()  # the missing 6th tile


def test_make_grid_fills_its_rows_where_it_can() -> None:
    # 32 samples (a training snapshot) as 8 × 4, not 6 columns with a last row of 2;
    # the app's click-to-tile agrees with the layout.
    from app.views.image_grid import PAD, tile_at

    # (tiles, tile height, tile width) → (rows, columns); wide tiles such as saliency's
    # 3:1 triptychs stack into a squarer grid, not one strip three times as wide as tall
    for n, h, w, shape in ((32, 5, 5, (4, 8)), (64, 5, 5, (8, 8)), (12, 5, 5, (3, 4)),
                           (24, 5, 5, (4, 6)), (7, 5, 5, (3, 3)), (64, 4, 12, (16, 4)),
                           (16, 4, 12, (8, 2)), (32, 4, 5, (8, 4)), (8, 12, 4, (2, 4)),
                           (2, 64, 4, (1, 2)), (1, 100, 1, (1, 1)), (3, 2, 90, (3, 1))):
        grid = make_grid(flat_images(n, h=h, w=w), pad=PAD)
        rows, cols = (grid.shape[0] - PAD) // (h + PAD), (grid.shape[1] - PAD) // (w + PAD)
        assert (rows, cols) == shape, (n, h, w)
        top, left = tile_pixel(n - 1, cols, h, w, PAD)
        assert tile_at(left + 1, top + 1, n, h, w) == n - 1


def test_make_grid_grey_nrow_and_bad_values() -> None:
    x = flat_images(4, c=1)
    x[0, 0, 0, 0] = np.nan
    x[1, 0, 0, 0] = 7.0

    grid = make_grid(x, nrow=4, pad=0)

    assert grid.shape == (4, 20, 3)
    assert (grid[..., 0] == grid[..., 1]).all() and (grid[..., 1] == grid[..., 2]).all()
    assert grid[0, 0, 0] == 0 and grid[0, 5, 0] == 255  # NaN → black, 7 → clipped to white
    with pytest.raises(ValueError, match="N, C, H, W"):
        make_grid(np.zeros((3, 3)))


def test_grid_png_round_trip(tmp_path: Path) -> None:
    x = flat_images(4, h=3, w=3)
    x[2, :, 1, 1] = [1.0, 0.0, 0.0]  # a red pixel in tile 2's centre
    path = tmp_path / "grid.png"

    save_grid_png(x, path, upscale=3)

    with Image.open(path) as img:
        assert img.format == "PNG"
        back = np.asarray(img.convert("RGB"))
    assert back.shape == (3 * (2 * 5 + 2), 3 * (2 * 5 + 2), 3)
    top, left = tile_pixel(2, 2, 3, 3)
    assert tuple(back[3 * (top + 1) + 1, 3 * (left + 1) + 1]) == (255, 0, 0)
    assert tuple(back[3 * top, 3 * left]) == (153,) * 3  # (2 + 1) / 5 of white
    assert os.listdir(tmp_path) == ["grid.png"]  # no temporary file left behind


def test_grid_png_errors(tmp_path: Path) -> None:
    x = flat_images(2)
    with pytest.raises(ExportError, match=r"use \.png"):
        save_grid_png(x, tmp_path / "grid.jpg")
    with pytest.raises(ExportError, match="missing") as info:
        save_grid_png(x, tmp_path / "missing" / "grid.png")
    assert "\n" not in str(info.value)
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ExportError, match=r"dir\.png: cannot write"):
        save_grid_png(x, tmp_path / "dir.png")


def test_failed_export_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "grid.png"
    save_grid_png(flat_images(1), path)
    before = path.read_bytes()

    with pytest.raises(ExportError, match="N, C, H, W"):
        save_grid_png(np.zeros(3), path)

    assert path.read_bytes() == before


def test_read_only_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if not os.access(folder, os.W_OK):  # root ignores permissions
            with pytest.raises(ExportError, match="cannot write"):
                save_grid_png(flat_images(1), folder / "grid.png")
    finally:
        folder.chmod(0o700)

    # Same failure, simulated, so it is checked under root too.
    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("ebm_engine.atomic.temp_file", refuse)
    with pytest.raises(ExportError, match=r"grid\.png: cannot write \(Permission denied\)"):
        save_grid_png(flat_images(1), tmp_path / "grid.png")
    with pytest.raises(ExportError, match=r"a\.gif: cannot write \(Permission denied\)"):
        save_animation([np.zeros((4, 4, 3))], tmp_path / "a.gif")


# --------------------------------------------------------------------------- animations


def coloured_frames(t: int, h: int, w: int) -> list[np.ndarray]:
    """Frame ``k``: left half red-ish, right half a grey that changes with ``k``."""
    frames = []
    for k in range(t):
        f = np.zeros((h, w, 3), dtype=np.uint8)
        f[:, : w // 2] = (200, 30, 30)
        f[:, w // 2 :] = 40 * k
        frames.append(f)
    return frames


def test_chain_to_frames() -> None:
    chain = [flat_images(4) * s for s in (0.2, 0.6, 1.0)]

    frames = chain_to_frames(chain, nrow=2)

    assert len(frames) == 3
    for f, x in zip(frames, chain):
        np.testing.assert_array_equal(f, make_grid(x, nrow=2))
    with pytest.raises(ExportError, match="differ in shape"):
        chain_to_frames([flat_images(4), flat_images(5)])


def test_gif_round_trip(tmp_path: Path) -> None:
    frames = coloured_frames(5, 16, 16)
    path = tmp_path / "chain.gif"

    save_animation(frames, path, fps=10)

    back = read_animation(path)
    assert back.shape == (5, 256, 256, 3)  # 16 px upscaled ×16 to reach 256
    np.testing.assert_array_equal(back[3, ::16, ::16], frames[3])  # few colours: exact
    with Image.open(path) as img:
        assert img.info["loop"] == 0 and img.info["duration"] == 100


def test_mp4_round_trip(tmp_path: Path) -> None:
    frames = coloured_frames(6, 15, 101)  # odd sizes: padded to even
    path = tmp_path / "chain.mp4"

    save_animation(frames, path, fps=12)

    back = read_animation(path)
    assert back.shape == (6, 46, 304, 3)  # ×3 → 45×303, padded to 46×304
    assert os.listdir(tmp_path) == ["chain.mp4"]
    for k in (0, 5):
        left = back[k, 6:40, 10:140].reshape(-1, 3).mean(axis=0)
        right = back[k, 6:40, 170:290].mean()
        np.testing.assert_allclose(left, (200, 30, 30), atol=12)
        assert abs(right - 40 * k) < 8


def test_animation_accepts_grey_float_frames(tmp_path: Path) -> None:
    frames = [np.full((300, 300), v) for v in (0.0, 0.5, 1.0)]
    save_animation(frames, tmp_path / "grey.gif")
    back = read_animation(tmp_path / "grey.gif")
    assert back.shape == (3, 300, 300, 3)  # already wide enough: not upscaled
    assert [int(back[k, 0, 0, 0]) for k in range(3)] == [0, 128, 255]


def test_animation_errors(tmp_path: Path) -> None:
    frames = coloured_frames(2, 8, 8)
    with pytest.raises(ExportError, match=r"use \.gif or \.mp4"):
        save_animation(frames, tmp_path / "chain.avi")
    with pytest.raises(ExportError, match="no frames"):
        save_animation([], tmp_path / "chain.gif")
    with pytest.raises(ExportError, match="frame 1 is 9x8, frame 0 is 8x8"):
        save_animation([frames[0], np.zeros((8, 9, 3), np.uint8)], tmp_path / "chain.mp4")
    with pytest.raises(ExportError, match="does not exist"):
        save_animation(frames, tmp_path / "nowhere" / "chain.mp4")
    assert os.listdir(tmp_path) == []
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    with pytest.raises(ExportError, match=r"broken\.mp4: cannot read animation"):
        read_animation(tmp_path / "broken.mp4")


def test_an_mp4_the_encoder_left_unfinished_is_refused_and_the_old_file_kept(
        tmp_path: Path, monkeypatch) -> None:
    """On a full disk ffmpeg fails writing the trailer, but its exit status was never read:
    the truncated file replaced the old one, and the export said "wrote"."""
    import imageio_ffmpeg

    from ebm_engine.export.video import mp4_complete

    frames = np.random.default_rng(0).random((5, 16, 16, 3)).astype(np.float32)
    whole = save_animation(frames, tmp_path / "whole.mp4")
    assert mp4_complete(whole)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size - 100])
    assert not mp4_complete(cut)

    real = imageio_ffmpeg.write_frames

    class DiskFull:  # ffmpeg's writer, whose output loses its end as on a full disk
        def __init__(self, path, *args, **kwargs):
            self.path, self.inner = path, real(path, *args, **kwargs)

        def send(self, frame):
            return self.inner.send(frame)

        def close(self):
            self.inner.close()
            data = Path(self.path).read_bytes()
            Path(self.path).write_bytes(data[: len(data) // 2])

    monkeypatch.setattr(imageio_ffmpeg, "write_frames", DiskFull)
    old = tmp_path / "old.mp4"
    old.write_bytes(b"the user's old film")
    with pytest.raises(ExportError, match="did not finish"):
        save_animation(frames, old)
    assert old.read_bytes() == b"the user's old film"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "old.mp4", "whole.mp4"]
