"""Image and array readers: round trips and hostile or broken files."""

from __future__ import annotations

import os
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ebm_engine.config import DataConfig
from ebm_engine.data import load_dataset
from ebm_engine.errors import DataError


def load(path: Path, **kwargs) -> object:
    return load_dataset(DataConfig(source=str(path), **kwargs))


def save_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


# --------------------------------------------------------------------------- images


def test_png_folder_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pics = [rng.integers(0, 256, (6, 8, 3), dtype=np.uint8) for _ in range(3)]
    save_png(tmp_path / "b.png", pics[1])
    save_png(tmp_path / "a.png", pics[0])
    save_png(tmp_path / "sub" / "c.png", pics[2])  # found recursively
    save_png(tmp_path / ".hidden" / "z.png", pics[0])  # hidden folders are skipped
    (tmp_path / "notes.txt").write_text("not an image")

    ds = load(tmp_path)

    assert ds.kind == "image"
    assert ds.value_range == (-1.0, 1.0)
    assert tuple(ds.items.shape) == (3, 3, 6, 8)
    assert [Path(f).name for f in ds.meta["files"]] == ["a.png", "b.png", "c.png"]
    expected = np.stack([p.transpose(2, 0, 1) for p in pics]) / 127.5 - 1.0
    np.testing.assert_allclose(ds.items.numpy(), expected, atol=1e-6)


def test_grayscale_and_jpeg(tmp_path: Path) -> None:
    arr = np.zeros((16, 16, 3), dtype=np.uint8)
    arr[..., 0] = 255  # pure red: luma 299/1000 of white
    Image.fromarray(arr).save(tmp_path / "red.jpg", quality=100)

    ds = load(tmp_path, grayscale=True)

    assert tuple(ds.items.shape) == (1, 1, 16, 16)
    value = (float(ds.items.mean()) + 1.0) / 2.0 * 255.0
    assert abs(value - 76) < 3


def test_resize_with_centre_crop(tmp_path: Path) -> None:
    # Three vertical stripes: black | white | black, each 10 px wide.
    arr = np.zeros((10, 30), dtype=np.uint8)
    arr[:, 10:20] = 255
    save_png(tmp_path / "stripes.png", arr)

    cropped = load(tmp_path / "stripes.png", image_size=5, crop=True)
    squashed = load(tmp_path / "stripes.png", image_size=5, crop=False, grayscale=True)

    assert tuple(cropped.items.shape) == (1, 3, 5, 5)
    assert float(cropped.items.min()) > 0.95  # only the white middle survives the crop
    assert tuple(squashed.items.shape) == (1, 1, 5, 5)
    row = squashed.items[0, 0, 2].numpy()
    assert row[0] < -0.9 and row[2] > 0.9 and row[4] < -0.9  # all three stripes kept


def test_sixteen_bit_png_keeps_precision(tmp_path: Path) -> None:
    arr = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(arr).save(tmp_path / "deep.png")

    ds = load(tmp_path / "deep.png", grayscale=True)

    np.testing.assert_allclose(ds.items[0, 0, 0].numpy(), arr[0] / 65535 * 2 - 1, atol=1e-5)


def test_transparent_pixels_are_black_not_the_colour_hidden_under_them(tmp_path: Path) -> None:
    """An RGBA picture's alpha was dropped, so random colour under its transparent
    background was trained on. Transparency (RGBA, LA, palette) is composited on black."""
    rng = np.random.default_rng(0)
    rgba = np.concatenate([rng.integers(0, 256, (8, 8, 3)), np.zeros((8, 8, 1))], -1)
    rgba[2:6, 2:6] = (255, 0, 0, 255)  # an opaque red square on a transparent background
    rgba[0, 0] = (0, 0, 255, 128)  # half transparent blue: half as bright
    folder = tmp_path / "rgba"
    folder.mkdir()
    Image.fromarray(rgba.astype(np.uint8), "RGBA").save(folder / "a.png")
    Image.fromarray(rgba.astype(np.uint8), "RGBA").convert("LA").save(folder / "b.png")
    palette = Image.fromarray(rgba.astype(np.uint8), "RGBA").convert("P")
    palette.info["transparency"] = palette.getpixel((7, 7))
    palette.save(folder / "c.png", transparency=palette.getpixel((7, 7)))
    ds = load(folder)
    x = (ds.items.numpy() + 1) / 2  # [0, 1]
    for item in x:
        assert item[:, 7, 7].max() == 0.0  # the transparent background is black
        assert item[:, 3, 3].max() > 0.2  # the square shows
    assert np.allclose(x[0][:, 3, 3], (1, 0, 0), atol=1e-6)
    assert abs(x[0][2, 0, 0] - 128 / 255) < 0.01 and x[0][:2, 0, 0].max() == 0.0
    resized = load_dataset(DataConfig(source=str(folder / "a.png"), image_size=4))
    assert float(resized.items.numpy()[0, :, 3, 3].max()) < -0.95  # the float path too


def test_single_image_file_is_one_item(tmp_path: Path) -> None:
    save_png(tmp_path / "texture.png", np.full((12, 20, 3), 200, dtype=np.uint8))

    ds = load(tmp_path / "texture.png")

    assert len(ds) == 1
    assert tuple(ds.items.shape) == (1, 3, 12, 20)  # image_size 0 keeps the file size
    assert ds.meta["files"] == [str(tmp_path / "texture.png")]


def test_mixed_sizes_need_image_size(tmp_path: Path) -> None:
    save_png(tmp_path / "a.png", np.zeros((8, 8, 3), dtype=np.uint8))
    save_png(tmp_path / "b.png", np.zeros((8, 12, 3), dtype=np.uint8))

    with pytest.raises(DataError, match=r"b\.png: mixed image sizes \(12x8 vs 8x8.*image_size"):
        load(tmp_path)
    assert tuple(load(tmp_path, image_size=4).items.shape) == (2, 3, 4, 4)


def test_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(DataError, match="no images found"):
        load(tmp_path)


def test_truncated_png_names_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    save_png(tmp_path / "ok.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])

    with pytest.raises(DataError, match=r"cut\.png: not a readable image") as info:
        load(tmp_path)
    assert "\n" not in str(info.value)


def test_text_file_named_png(tmp_path: Path) -> None:
    (tmp_path / "fake.png").write_text("I am not a picture")
    with pytest.raises(DataError, match=r"fake\.png: not a readable image"):
        load(tmp_path / "fake.png")


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width × height`` but holds no pixels."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("side", [8000, 200_000])  # over our limit; over Pillow's bomb limit
def test_decompression_bomb_refused_before_decoding(tmp_path: Path, side: int) -> None:
    (tmp_path / "bomb.png").write_bytes(_png_header_only(side, side))
    start = time.perf_counter()
    with pytest.raises(DataError, match=r"bomb\.png: .*(megapixel|exceeds limit)"):
        load(tmp_path / "bomb.png")
    assert time.perf_counter() - start < 1.0


def test_max_items_skips_decoding_the_rest(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        save_png(tmp_path / name, np.zeros((4, 4, 3), dtype=np.uint8))
    (tmp_path / "c.png").write_text("corrupt, but never read")

    assert len(load(tmp_path, max_items=2)) == 2
    with pytest.raises(DataError, match=r"c\.png"):
        load(tmp_path)


# --------------------------------------------------------------------------- arrays


def test_points_npy_round_trip(tmp_path: Path) -> None:
    pts = np.random.default_rng(2).normal(size=(50, 2)) * 7.0
    np.save(tmp_path / "pts.npy", pts)

    ds = load(tmp_path / "pts.npy")

    assert ds.kind == "points" and ds.value_range is None
    np.testing.assert_allclose(ds.items.numpy(), pts, rtol=1e-6)  # raw, not rescaled


def test_pointcloud_is_scaled_into_unit_box(tmp_path: Path) -> None:
    clouds = np.random.default_rng(3).uniform(-1, 1, size=(4, 100, 3))
    np.save(tmp_path / "small.npy", clouds * 0.5)
    np.save(tmp_path / "big.npy", clouds * 40.0 + 100.0)

    small = load(tmp_path / "small.npy")
    big = load(tmp_path / "big.npy")

    assert small.kind == big.kind == "pointcloud"
    np.testing.assert_allclose(small.items.numpy(), clouds * 0.5, rtol=1e-6)  # already inside
    assert float(big.items.abs().max()) == pytest.approx(1.0)
    np.testing.assert_allclose(big.items.mean(dim=1).numpy(), 0.0, atol=1e-5)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (np.array([0, 255, 51], dtype=np.uint8), [-1.0, 1.0, -0.6]),
        (np.array([0.0, 1.0, 0.25]), [-1.0, 1.0, -0.5]),
        (np.array([-1.0, 1.0, -0.5], dtype=np.float32), [-1.0, 1.0, -0.5]),
    ],
)
def test_image_values_map_to_model_space(tmp_path: Path, data: np.ndarray, expected: list) -> None:
    images = np.zeros((2, 3, 4, 5), dtype=data.dtype)
    images[1, 2, 3, :3] = data
    np.save(tmp_path / "img.npy", images)

    ds = load(tmp_path / "img.npy")

    assert ds.kind == "image" and ds.value_range == (-1.0, 1.0)
    assert tuple(ds.items.shape) == (2, 3, 4, 5)
    np.testing.assert_allclose(ds.items[1, 2, 3, :3].numpy(), expected, atol=1e-6)


def test_channel_last_images_are_transposed(tmp_path: Path) -> None:
    hwc = np.random.default_rng(4).integers(0, 256, (3, 8, 6, 3), dtype=np.uint8)
    np.save(tmp_path / "hwc.npy", hwc)

    ds = load(tmp_path / "hwc.npy")

    assert tuple(ds.items.shape) == (3, 3, 8, 6)
    np.testing.assert_allclose(ds.items.numpy(), hwc.transpose(0, 3, 1, 2) / 127.5 - 1, atol=1e-6)


def test_rank3_images_get_a_channel(tmp_path: Path) -> None:
    np.save(tmp_path / "mnistish.npy", np.zeros((5, 7, 7), dtype=np.uint8))
    ds = load(tmp_path / "mnistish.npy")
    assert ds.kind == "image" and tuple(ds.items.shape) == (5, 1, 7, 7)


def test_npz_key_selection(tmp_path: Path) -> None:
    a, x = np.ones((4, 2)), np.full((6, 2), 3.0)
    np.savez_compressed(tmp_path / "d.npz", a=a, x=x)

    assert len(load(tmp_path / "d.npz")) == 6  # "x" preferred over the first array
    ds = load(tmp_path / "d.npz", options={"key": "a"})
    assert len(ds) == 4 and ds.meta["key"] == "a"
    with pytest.raises(DataError, match=r"no array 'nope'.*a, x"):
        load(tmp_path / "d.npz", options={"key": "nope"})


def test_video_and_voxel_layouts(tmp_path: Path) -> None:
    np.save(tmp_path / "video.npy", np.zeros((2, 3, 4, 8, 8), dtype=np.uint8))
    occupancy = np.zeros((3, 6, 6, 6), dtype=bool)
    occupancy[:, 2:4, 2:4, 2:4] = True
    np.save(tmp_path / "vox.npy", occupancy)

    video = load(tmp_path / "video.npy")
    vox = load(tmp_path / "vox.npy", options={"kind": "voxel"})

    assert video.kind == "video" and tuple(video.items.shape) == (2, 3, 4, 8, 8)
    assert vox.kind == "voxel" and tuple(vox.items.shape) == (3, 1, 6, 6, 6)
    assert sorted(np.unique(vox.items.numpy())) == [-1.0, 1.0]
    assert float(vox.items[0, 0, 3, 3, 3]) == 1.0


def test_nan_is_refused(tmp_path: Path) -> None:
    pts = np.zeros((10, 2))
    pts[3, 1] = np.nan
    np.save(tmp_path / "nan.npy", pts)
    with pytest.raises(DataError, match=r"nan\.npy: contains NaN or inf"):
        load(tmp_path / "nan.npy")


class _Payload:
    """Unpickling this creates a folder: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.marker),))


def test_pickled_objects_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    np.save(tmp_path / "evil.npy", evil, allow_pickle=True)
    np.savez(tmp_path / "evil.npz", x=evil)

    with pytest.raises(DataError, match="contains Python objects; refusing to unpickle"):
        load(tmp_path / "evil.npy")
    with pytest.raises(DataError, match="contains Python objects; refusing to unpickle"):
        load(tmp_path / "evil.npz")
    assert not marker.exists()

    # Control: the payload is live, so the assertion above means something.
    np.load(tmp_path / "evil.npy", allow_pickle=True)
    assert marker.exists()


def _npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * (-(len(header) + 11) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1")


def test_huge_declared_shape_refused_fast(tmp_path: Path) -> None:
    body = _npy_header((100_000, 100_000, 100)) + b"\0" * 64  # declares 8 TB
    (tmp_path / "huge.npy").write_bytes(body)
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        zf.writestr("x.npy", body)

    start = time.perf_counter()
    with pytest.raises(DataError, match=r"huge\.npy: array of shape .* GiB"):
        load(tmp_path / "huge.npy")
    with pytest.raises(DataError, match=r"huge\.npz\[x\]: array of shape .* GiB"):
        load(tmp_path / "huge.npz")
    assert time.perf_counter() - start < 1.0


def test_truncated_npy(tmp_path: Path) -> None:
    (tmp_path / "short.npy").write_bytes(_npy_header((1000, 2)) + b"\0" * 80)
    with pytest.raises(DataError, match=r"short\.npy: truncated"):
        load(tmp_path / "short.npy")


@pytest.mark.parametrize(
    ("array", "options", "message"),
    [
        (np.zeros(10), {}, "rank 1.*reshape to"),
        (np.zeros((1,) * 6), {}, "rank 6"),
        (np.zeros((0, 2)), {}, "empty array"),
        (np.array(["a", "b"]), {}, "not numeric"),
        (np.zeros((3, 2), dtype=complex), {}, "not numeric"),
        (np.zeros((4, 5, 2)), {"kind": "pointcloud"}, "does not fit kind 'pointcloud'"),
        (np.full((2, 1, 4, 4), 7.0), {}, r"values span \[7, 7\]"),
        (np.zeros((2, 2)), {"kind": "movie"}, "options.kind must be one of"),
    ],
)
def test_bad_arrays(tmp_path: Path, array: np.ndarray, options: dict, message: str) -> None:
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(DataError, match=message):
        load(tmp_path / "bad.npy", options=options)


def test_integer_pictures_of_a_small_range_are_said_not_read_dark(tmp_path: Path) -> None:
    """sklearn's digits as int64 (0..16) were read as 0..255 and trained nearly black
    without a word; floats of [0, 16] were refused with no way out. Both now say how:
    value_range (integers still read as before, so a run trained on them resumes)."""
    from sklearn.datasets import load_digits

    digits = load_digits().images[:20, None]
    np.save(tmp_path / "ints.npy", digits.astype(np.int64))
    np.save(tmp_path / "bytes.npy", digits.astype(np.uint8))
    np.save(tmp_path / "floats.npy", digits)
    for name in ("ints.npy", "bytes.npy"):
        with pytest.warns(UserWarning, match=r"integer image values span \[0, 16\], a small "
                                             r"part of 0..255: read as 0..255 they are nearly "
                                             r"black.*data.options.value_range=0,16"):
            dark = load(tmp_path / name)
        assert float(dark.items.max()) < -0.8
    with pytest.raises(DataError, match=r"data.options.value_range=0,16"):
        load(tmp_path / "floats.npy")
    for name in ("ints.npy", "floats.npy"):
        ds = load(tmp_path / name, options={"value_range": "0,16"})
        assert ds.value_range == (-1.0, 1.0)
        assert float(ds.items.min()) == -1.0 and float(ds.items.max()) == 1.0
    assert load(tmp_path / "ints.npy", options={"value_range": [0, 32]}).items.max() == 0.0
    with pytest.raises(DataError, match=r"values span \[0, 16\], outside data.options."
                                        r"value_range 0,8"):
        load(tmp_path / "ints.npy", options={"value_range": "0,8"})
    with pytest.raises(DataError, match="value_range must be LO,HI"):
        load(tmp_path / "ints.npy", options={"value_range": "sixteen"})
    np.save(tmp_path / "points.npy", np.zeros((10, 2)))
    with pytest.raises(DataError, match="value_range is for images, videos and voxels"):
        load(tmp_path / "points.npy", options={"value_range": "0,1"})


@pytest.mark.parametrize("name", ["garbage.npy", "garbage.npz"])
def test_garbage_array_files(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(b"definitely not numpy")
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        load(tmp_path / name)


def test_tiff_and_webp_pictures_are_read(tmp_path: Path) -> None:
    """TIFF (8-bit, 16-bit and float) and WebP files were not looked for at all."""
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / f"a{i}.tif")
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / f"b{i}.webp")
    Image.fromarray(rng.integers(0, 65535, (12, 12)).astype(np.uint16)).save(tmp_path / "c.tiff")
    ramp = np.linspace(0, 1, 144, dtype=np.float32).reshape(12, 12)
    Image.fromarray(ramp).save(tmp_path / "d.tif")
    data = load_dataset(DataConfig(source=str(tmp_path)))
    assert data.kind == "image" and tuple(data.items.shape) == (6, 3, 12, 12)
    assert float(data.items.min()) >= -1.0 and float(data.items.max()) <= 1.0
    # the float picture keeps its values (an 8-bit conversion made it black)
    np.testing.assert_allclose(data.items[5, 0].numpy(), ramp * 2 - 1, atol=2 / 255)  # 8-bit folder


def test_unreadable_pictures_can_be_skipped_and_are_counted(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(tmp_path / f"p{i}.png")
    (tmp_path / "a_broken.png").write_bytes(b"\\x89PNG cut")  # sorted first
    (tmp_path / "q_broken.png").write_bytes(b"")
    with pytest.raises(DataError, match="a_broken.png: not a readable image .*skip_unreadable=true"):
        load_dataset(DataConfig(source=str(tmp_path), options={"cache": False}))
    with pytest.warns(UserWarning, match="skipped 2 unreadable of 6 images"):
        data = load_dataset(DataConfig(source=str(tmp_path), options={
            "cache": False, "skip_unreadable": True}))
    assert len(data) == 4 and len(data.meta["skipped"]) == 2 and len(data.meta["files"]) == 4
    for f in tmp_path.glob("p*.png"):
        f.write_bytes(b"")
    with pytest.raises(DataError, match="none of its 6 images could be read"):
        load_dataset(DataConfig(source=str(tmp_path), options={
            "cache": False, "skip_unreadable": True}))
