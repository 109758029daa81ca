"""export_samples: the extension picks the format for each data kind."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ebm_engine.errors import ExportError
from ebm_engine.export import read_animation
from ebm_engine.export.samples import export_samples, points_image


def test_points_png_and_chain_gif(tmp_path):
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(500, 2)) + np.array([2.0, 0.0])
    png = export_samples(pts, "points", None, tmp_path / "p.png")
    img = np.asarray(Image.open(png).convert("L")).astype(float)
    # Dark where the points are: the right half (x > 0) holds most of them.
    h, w = img.shape
    assert img[:, w // 2:].mean() < img[:, : w // 2].mean()
    frames = [pts * s for s in (3.0, 2.0, 1.0)]
    gif = export_samples(pts, "points", None, tmp_path / "c.gif", frames=frames)
    anim = read_animation(gif)
    assert anim.shape[0] == 3 and anim.shape[-1] == 3


def test_a_2d_chain_is_drawn_over_its_training_data(tmp_path):
    """8 recorded chains alone are 8 dots on white: the data beneath say what was learned."""
    from ebm_engine.export.scatter import CONTEXT

    rng = np.random.default_rng(1)
    data = rng.normal(size=(2000, 2)) * 0.2 + np.array([-2.0, 1.5])  # one blob, top left
    chains = [rng.normal(size=(8, 2)) * s for s in (2.0, 1.0)]
    plain = read_animation(export_samples(chains[-1], "points", None, tmp_path / "a.gif",
                                          frames=chains))[-1, ..., 0].astype(float)
    shown = read_animation(export_samples(chains[-1], "points", None, tmp_path / "b.gif",
                                          frames=chains, context=data))[-1, ..., 0].astype(float)
    grey = np.abs(shown - 255 * CONTEXT) < 12
    h, w = grey.shape
    assert grey[: h // 2, : w // 2].sum() > 200  # the blob, where it is
    assert grey[h // 2:, w // 2:].sum() < 20
    assert (np.abs(plain - 255 * CONTEXT) < 12).sum() < 20  # not there without it


def test_ebm_sample_draws_2d_samples_over_their_training_data(tmp_path):
    """`ebm sample` draws the training data beneath 2D samples, as the app's export does:
    four samples alone would not say which data the model learned."""
    from ebm_engine.cli import main
    from ebm_engine.export.scatter import CONTEXT

    assert main(["sample", "--run", "zoo:rings-ml", "--n", "4", "--steps", "2",
                 "--out", str(tmp_path / "s.png")]) == 0
    img = np.asarray(Image.open(tmp_path / "s.png").convert("L"), float)
    assert (np.abs(img - 255 * CONTEXT) < 12).sum() > 1000  # 1500 points, not 4 samples


def test_points_image_puts_a_point_where_it_is():
    img = points_image(np.array([[1.0, 1.0]]), limit=2.0, size=8)[0]
    # y axis up: (1, 1) lands in the top-right quadrant.
    assert img[:4, 4:].min() < 1.0 and img[4:, :4].min() == 1.0


def test_images_npz_and_grid(tmp_path):
    x = np.linspace(-1, 1, 4 * 16 * 16, dtype=np.float32).reshape(4, 1, 16, 16)
    npz = export_samples(x, "image", (-1.0, 1.0), tmp_path / "s.npz", energy=np.arange(4.0),
                         frames=[x, x])
    with np.load(npz) as z:
        np.testing.assert_array_equal(z["samples"], x)
        assert z["chain"].shape == (2, 4, 1, 16, 16) and str(z["kind"]) == "image"
        assert z["value_range"].tolist() == [-1.0, 1.0]  # how model space maps to pixels
    png = export_samples(x, "image", (-1.0, 1.0), tmp_path / "g.png")
    assert np.asarray(Image.open(png)).std() > 0


def test_unsupported_or_unwritable_targets(tmp_path):
    x = np.zeros((2, 2))
    with pytest.raises(ExportError, match="cannot write points samples as .stl"):
        export_samples(x, "points", None, tmp_path / "x.stl")
    with pytest.raises(ExportError, match="does not exist"):
        export_samples(x, "points", None, tmp_path / "missing" / "x.png")
    assert not list(tmp_path.iterdir())


def test_image_grids_are_viewable_by_default(tmp_path):
    """A grid of 16×16 digits gets cells of at least 64 px unless --scale says otherwise."""
    x = np.linspace(-1, 1, 64 * 16 * 16, dtype=np.float32).reshape(64, 1, 16, 16)
    big = np.asarray(Image.open(export_samples(x, "image", (-1.0, 1.0), tmp_path / "a.png")))
    small = np.asarray(Image.open(export_samples(x, "image", (-1.0, 1.0), tmp_path / "b.png",
                                                 scale=1)))
    assert big.shape[0] == 4 * small.shape[0] and small.shape[0] >= 8 * 16
    assert big.shape[0] // 8 >= 64  # 8 cells a side, each at least 64 px
    with pytest.raises(ExportError, match="scale must be >= 1"):
        export_samples(x, "image", (-1.0, 1.0), tmp_path / "c.png", scale=0)


def test_wide_tiles_are_enlarged_by_their_shorter_side(tmp_path):
    """Tiles 3× wider than tall (saliency's scene | maps) reach 64 px on their short side."""
    x = np.zeros((8, 3, 32, 96), np.float32)
    grid = np.asarray(Image.open(export_samples(x, "image", (-1.0, 1.0), tmp_path / "w.png")))
    small = np.asarray(Image.open(export_samples(x, "image", (-1.0, 1.0), tmp_path / "s.png",
                                                 scale=1)))
    assert grid.shape[0] == 2 * small.shape[0]


def test_wrong_format_names_the_formats_of_that_kind(tmp_path):
    with pytest.raises(ExportError, match=r"pointcloud samples export as \.ply \.xyz \.png"):
        export_samples(np.zeros((2, 8, 3)), "pointcloud", None, tmp_path / "x.stl")


def test_point_cloud_samples_export_as_xyz_text(tmp_path):
    """`.xyz` was read but `ebm sample --out clouds.xyz` was refused: it is written now,
    the clouds side by side as in a `.ply`, and reads back to the same float32."""
    from ebm_engine.data.pointcloud_files import read_xyz
    from ebm_engine.export.samples import check_target

    clouds = np.random.default_rng(0).uniform(-1, 1, (2, 16, 3)).astype(np.float32)
    check_target("pointcloud", tmp_path / "c.xyz")
    back = read_xyz(export_samples(clouds, "pointcloud", None, tmp_path / "c.xyz"))
    assert back.shape == (32, 3) and np.array_equal(back[:16].astype(np.float32), clouds[0])


def test_points_image_frames_the_bulk_not_the_strays():
    rng = np.random.default_rng(0)
    ring = rng.normal(size=(1000, 2))
    ring = 2 * ring / np.linalg.norm(ring, axis=1, keepdims=True)
    strays = np.array([[40.0, 0.0], [0.0, -35.0]])
    img = points_image(np.concatenate([ring, strays]), size=64)[0]
    dark = np.argwhere(img < 0.9)
    # The ring (radius 2) spans most of the picture, not a dot in its middle.
    assert dark[:, 0].max() - dark[:, 0].min() > 32


def test_a_few_2d_samples_export_as_dots_a_person_can_see(tmp_path):
    # 64 samples used to be 64 single dark pixels on a 256 px white square.
    from ebm_engine.export.scatter import grid_step

    rng = np.random.default_rng(3)
    pts = rng.uniform(-2, 2, size=(64, 2))
    img = np.asarray(Image.open(export_samples(pts, "points", None, tmp_path / "p.png")).convert("L"))
    h, w = img.shape
    assert h >= 512 and w >= 512
    assert (img < 80).sum() >= 64 * 20  # dots of a few pixels each, not points
    # every sample is a dot where it is (y up): its pixel and its neighbours are dark
    lim = float(np.quantile(np.abs(pts), 0.98) * 1.25)
    cols = np.round((pts[:, 0] + lim) / (2 * lim) * (w - 1)).astype(int)
    rows = h - 1 - np.round((pts[:, 1] + lim) / (2 * lim) * (h - 1)).astype(int)
    inside = (np.abs(pts) <= lim).all(1)
    assert (img[rows[inside], cols[inside]] < 80).all()
    assert (img[rows[inside], np.minimum(cols[inside] + 1, w - 1)] < 80).all()
    # a grid to read positions against, at round spacings
    assert (img > 200).mean() > 0.5 and ((img > 150) & (img < 240)).sum() > 2 * w
    assert [grid_step(v) for v in (1.0, 3.9, 4.65, 40.0)] == [0.5, 1.0, 2.0, 10.0]


@pytest.mark.parametrize("zoo", ["grammar-text-latent-seq", "molecules-latent-seq"])
def test_token_npz_holds_the_vocabulary_that_decodes_it(tmp_path, zoo):
    """Token ids alone need the checkpoint to be read: the .npz keeps the vocabulary as
    display_vocab, display_joiner … (the names of the run's samples/latest.npz)."""
    from ebm_engine.cli import main
    from ebm_engine.data.tokens import SymbolSpec

    for ext in (".npz", ".txt"):
        assert main(["sample", "--run", f"zoo:{zoo}", "--n", "4", "--steps", "2",
                     "--out", str(tmp_path / f"s{ext}")]) == 0
    with np.load(tmp_path / "s.npz") as z:
        assert {"samples", "kind", "energy", "chain"} <= set(z.files)  # the keys it had
        spec = SymbolSpec(tuple(z["display_vocab"].tolist()), str(z["display_joiner"]),
                          str(z["display_checker"]), str(z["display_attribute"]),
                          tuple(z["display_attribute_values"].tolist()))
        lines = (tmp_path / "s.txt").read_text().splitlines()  # an invalid one marked so
        assert spec.decode_all(z["samples"]) == [line.removesuffix("\tinvalid") for line in lines]


def test_trajectory_npz_and_json_hold_what_the_picture_draws(tmp_path):
    """Scenes, the observed past and the true path were drawn in the PNG and kept in
    latest.npz, but left out of the .npz (and the true path out of the .json)."""
    import json

    from ebm_engine.cli import main

    for ext in (".npz", ".json"):
        assert main(["sample", "--run", "zoo:crowd-prediction-lbebm", "--n", "3", "--steps",
                     "2", "--out", str(tmp_path / f"t{ext}")]) == 0
    items = json.loads((tmp_path / "t.json").read_text())["samples"]
    with np.load(tmp_path / "t.npz") as z:
        assert {"samples", "kind", "energy", "chain"} <= set(z.files)
        assert z["display_scenes"].shape[0] == 3 and z["display_extent"].shape == (4,)
        for name in ("observed", "reference"):
            np.testing.assert_allclose(z[f"display_{name}"], [it[name] for it in items],
                                       atol=1e-5)
