"""Video, voxel and point-cloud data: demos, readers, round trips, corrupt files."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ebm_engine.config import DataConfig, RunConfig
from ebm_engine.data import demos, load_dataset
from ebm_engine.data import video_files as vf
from ebm_engine.data.mesh_files import read_mesh_file
from ebm_engine.data.ply import ply_bytes, read_ply
from ebm_engine.data.pointcloud_files import read_points_file
from ebm_engine.data.voxel_files import binvox_bytes, read_binvox, resize_grid
from ebm_engine.errors import DataError
from ebm_engine.export.mesh import stl_bytes
from ebm_engine.presets import config_for


def _load(source, **kw) -> object:
    return load_dataset(DataConfig(source=str(source), **kw))


# --- demos --------------------------------------------------------------------


def test_demo_catalogue_and_presets():
    cat = demos()
    assert cat["shapes-voxels"].kind == "voxel"
    assert cat["shapes-points"].kind == "pointcloud"
    assert cat["dynamic-texture"].kind == "video"
    expect = {
        "shapes-voxels": "voxelnet",
        "shapes-points": "pointnet",
        "dynamic-texture": "stgconvnet",
    }
    for name, model in expect.items():
        cfg = config_for(name)
        assert cfg.data.source == name and cfg.model.name == model
        RunConfig.from_dict(cfg.to_dict())
    assert config_for("shapes-points").sampler.clamp is True
    assert config_for("shapes-points").sampler.init == "persistent"


def test_shapes_voxels_demo():
    t0 = time.perf_counter()
    ds = _load("shapes-voxels")
    assert time.perf_counter() - t0 < 10.0  # ~0.5 s on an idle 2-core CPU
    assert ds.kind == "voxel" and ds.items.shape == (200, 1, 16, 16, 16)
    assert set(torch.unique(ds.items).tolist()) == {-1.0, 1.0}
    full = (ds.items > 0).float().mean(dim=(1, 2, 3, 4))
    assert (full > 0.005).all() and (full < 0.6).all()  # every shape is there, none fills the box
    assert ds.value_range == (-1.0, 1.0)
    assert len(ds.meta["labels"]) == 200 and ds.meta["class_names"][4] == "chair"
    again = _load("shapes-voxels", max_items=10)
    assert torch.equal(again.items, ds.items[:10])  # reproducible from the seed


def test_shapes_voxels_options():
    ds = _load(
        "shapes-voxels", image_size=32, options={"items": 6, "categories": ["chair", "table"]}
    )
    assert ds.items.shape == (6, 1, 32, 32, 32)
    assert ds.meta["class_names"] == ["chair", "table"]
    other = _load("shapes-voxels", options={"items": 6, "seed": 1})
    assert not torch.equal(other.items, _load("shapes-voxels", options={"items": 6}).items)
    with pytest.raises(DataError, match="categories"):
        _load("shapes-voxels", options={"categories": ["teapot"]})


def test_shapes_points_demo():
    ds = _load("shapes-points")
    assert ds.kind == "pointcloud" and ds.items.shape == (200, 512, 3)
    assert ds.items.abs().max() <= 1.0
    assert ds.items.abs().max() > 0.5
    small = _load("shapes-points", options={"points": 64, "items": 6, "categories": ["sphere"]})
    assert small.items.shape == (6, 64, 3)
    # Sphere points lie on a sphere: fit |p|² = 2c·p + k, then check the radii.
    for cloud in small.items.double().numpy():
        a = np.concatenate([2 * cloud, np.ones((len(cloud), 1))], axis=1)
        sol = np.linalg.lstsq(a, (cloud**2).sum(1), rcond=None)[0]
        r = np.linalg.norm(cloud - sol[:3], axis=1)
        assert (r.max() - r.min()) / r.mean() < 1e-3
    with pytest.raises(DataError, match="points"):
        _load("shapes-points", options={"points": 0})


def test_dynamic_texture_demo():
    ds = _load("dynamic-texture")
    assert ds.kind == "video" and ds.items.shape == (4, 3, 16, 32, 32)
    assert ds.items.min() >= -1 and ds.items.max() <= 1
    assert ds.items.std() > 0.2
    gray = _load(
        "dynamic-texture", grayscale=True, image_size=16, options={"frames": 8, "pattern": "waves"}
    )
    assert gray.items.shape == (4, 1, 8, 16, 16)
    # Frames change over time, and the clips differ in phase.
    assert (gray.items[:, :, 0] - gray.items[:, :, 1]).abs().mean() > 0.01
    assert not torch.allclose(gray.items[0], gray.items[1])
    with pytest.raises(DataError, match="pattern"):
        _load("dynamic-texture", options={"pattern": "smoke"})


# --- binvox and .mat ----------------------------------------------------------------


def test_binvox_round_trip(tmp_path):
    rng = np.random.RandomState(0)
    grid = rng.uniform(size=(8, 10, 12)) > 0.7
    grid[:, :, :3] = True  # long runs (> 255 needs splitting at larger sizes)
    path = tmp_path / "a.binvox"
    path.write_bytes(binvox_bytes(grid))
    assert np.array_equal(read_binvox(path), grid)
    ds = _load(path)
    assert ds.kind == "voxel" and ds.items.shape == (1, 1, 8, 10, 12)
    assert torch.equal(ds.items[0, 0] > 0, torch.from_numpy(grid))
    big = np.zeros((40, 40, 40), bool)
    big[5:35, 5:35, 5:35] = True  # runs of 1000+ cells
    path.write_bytes(binvox_bytes(big))
    assert np.array_equal(read_binvox(path), big)


def test_binvox_folder_and_resize(tmp_path):
    for i, n in enumerate((30, 64)):
        g = np.zeros((n, n, n), bool)
        g[n // 4 : 3 * n // 4, n // 4 : 3 * n // 4, n // 4 : 3 * n // 4] = True
        (tmp_path / f"s{i}.binvox").write_bytes(binvox_bytes(g))
    with pytest.raises(DataError, match="differs"):
        _load(tmp_path, options={"reader": "voxels"})
    ds = _load(tmp_path, image_size=32, options={"reader": "voxels"})
    assert ds.items.shape == (2, 1, 32, 32, 32)
    assert ds.items[:, 0, 16, 16, 16].tolist() == [1.0, 1.0]
    assert ds.items[:, 0, 0, 0, 0].tolist() == [-1.0, -1.0]
    # 30 → 32 pads one empty cell a side (as the 3D DescriptorNet does).
    g30 = np.ones((30, 30, 30), bool)
    padded = resize_grid(g30, 32)
    assert padded.sum() == 30**3 and not padded[0].any() and padded[1:31, 1:31, 1:31].all()
    assert resize_grid(np.ones((20, 20, 20), bool), 32).shape == (32, 32, 32)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"#notbinvox 1\ndim 2 2 2\ndata\n\x00\x08", "not a binvox"),
        (b"#binvox 1\ndim 2 2\ndata\n\x00\x08", "dims"),
        (b"#binvox 1\ndim 2 2 x\ndata\n\x00\x08", "dims"),
        (b"#binvox 1\ndim 100000 100000 100000\ndata\n\x00\xff", "512"),
        (b"#binvox 1\ndim 4 4 4\ndata\n\x00\xff\x01\x10", "truncated|corrupt"),
        (b"#binvox 1\ndim 4 4 4\ndata\n\x00\x20", "truncated"),
        (b"#binvox 1\ndim 4 4 4\n", "data"),
        (b"", "not a binvox"),
    ],
)
def test_binvox_corrupt(tmp_path, content, match):
    path = tmp_path / "bad.binvox"
    path.write_bytes(content)
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=match) as err:
        _load(path)
    assert "bad.binvox" in str(err.value) and time.perf_counter() - t0 < 1.0


def test_mat_voxels(tmp_path):
    import scipy.io

    inst = np.zeros((30, 30, 30), np.uint8)
    inst[10:20, 10:20, 5:25] = 1
    scipy.io.savemat(tmp_path / "chair.mat", {"label": np.array([3.0]), "instance": inst})
    ds = _load(tmp_path / "chair.mat", image_size=32)
    assert ds.items.shape == (1, 1, 32, 32, 32)
    assert int((ds.items > 0).sum()) == int(inst.sum())
    stack = np.zeros((3, 16, 16, 16), np.float64)
    stack[:, 4:12, 4:12, 4:12] = 1.0
    scipy.io.savemat(tmp_path / "stack.mat", {"voxels": stack})
    assert _load(tmp_path / "stack.mat").items.shape == (3, 1, 16, 16, 16)
    scipy.io.savemat(tmp_path / "flat.mat", {"a": np.zeros((4, 4))})
    with pytest.raises(DataError, match="flat.mat.*no 3D"):
        _load(tmp_path / "flat.mat")
    (tmp_path / "junk.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\x00" * 50)
    with pytest.raises(DataError, match="junk.mat"):
        _load(tmp_path / "junk.mat")


# --- meshes -----------------------------------------------------------------

CUBE_V = np.array([[x, y, z] for x in (0, 2) for y in (0, 2) for z in (0, 2)], float)
CUBE_QUADS = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]


def _cube_tris() -> np.ndarray:
    return np.array([[q[0], q[i], q[i + 1]] for q in CUBE_QUADS for i in (1, 2)])


def _off(header: str = "OFF\n8 6 0\n") -> str:
    verts = "".join(f"{x:g} {y:g} {z:g}\n" for x, y, z in CUBE_V)
    faces = "".join("4 " + " ".join(map(str, q)) + "\n" for q in CUBE_QUADS)
    return header + verts + faces


def _obj() -> str:
    verts = "".join(f"v {x:g} {y:g} {z:g}\n" for x, y, z in CUBE_V)
    faces = "".join("f " + " ".join(f"{i + 1}/{i + 1}/1" for i in q) + "\n" for q in CUBE_QUADS[:3])
    # The other three faces with negative (relative) indices.
    faces += "".join("f " + " ".join(str(i - 8) for i in q) + "\n" for q in CUBE_QUADS[3:])
    return "# cube\no cube\n" + verts + "vn 0 0 1\n" + faces


def _write_cubes(folder: Path) -> list[Path]:
    tris = _cube_tris()
    files = {
        "cube.off": _off().encode(),
        "modelnet.off": _off("OFF8 6 0\n").encode(),
        "cube.obj": _obj().encode(),
        "cube_bin.stl": stl_bytes(CUBE_V, tris),
        "cube_bin.ply": ply_bytes(CUBE_V, tris, binary=True),
        "cube_txt.ply": ply_bytes(CUBE_V, tris, binary=False),
    }
    ascii_stl = (
        "solid cube\n"
        + "".join(
            "facet normal 0 0 0\nouter loop\n"
            + "".join(f"vertex {x:g} {y:g} {z:g}\n" for x, y, z in CUBE_V[t])
            + "endloop\nendfacet\n"
            for t in tris
        )
        + "endsolid cube\n"
    )
    files["cube_txt.stl"] = ascii_stl.encode()
    quads_ply = (
        "ply\nformat ascii 1.0\nelement vertex 8\nproperty double x\nproperty double y\n"
        "property double z\nproperty uchar red\nelement face 6\nproperty list uchar int vertex_index\n"
        "end_header\n"
        + "".join(f"{x:g} {y:g} {z:g} 255\n" for x, y, z in CUBE_V)
        + "".join("4 " + " ".join(map(str, q)) + "\n" for q in CUBE_QUADS)
    )
    files["quads.ply"] = quads_ply.encode()
    paths = []
    for name, data in files.items():
        (folder / name).write_bytes(data)
        paths.append(folder / name)
    return paths


def test_mesh_parsers_agree(tmp_path):
    for path in _write_cubes(tmp_path):
        vertices, faces = read_mesh_file(path)
        assert len(faces) == 12, path.name
        tri = vertices[faces]
        area = (
            0.5
            * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
        )
        assert area == pytest.approx(24.0), path.name
        assert np.allclose(vertices.min(0), 0) and np.allclose(vertices.max(0), 2)


def test_mesh_binary_ply_with_extra_properties(tmp_path):
    rows = np.zeros(8, dtype=[("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1")])
    rows["x"], rows["y"], rows["z"] = CUBE_V.T
    faces = np.zeros(6, dtype=[("n", "u1"), ("v", "<i4", (4,))])
    faces["n"], faces["v"] = 4, CUBE_QUADS
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment extra\nelement vertex 8\nproperty float x\n"
        "property float y\nproperty float z\nproperty uchar red\nelement face 6\n"
        "property list uchar int vertex_indices\nend_header\n"
    )
    path = tmp_path / "extra.ply"
    path.write_bytes(header.encode() + rows.tobytes() + faces.tobytes())
    mesh = read_ply(path)
    assert mesh.vertices.shape == (8, 3) and mesh.faces.shape == (12, 3)
    # Mixed polygon sizes take the row-by-row path.
    mixed = np.concatenate(
        [np.array([3, 0, 1, 2], "<i4")[None], np.array([3, 1, 3, 2], "<i4")[None]]
    )
    body = (
        b"".join(bytes([3]) + r[1:].tobytes() for r in mixed)
        + bytes([4])
        + np.array(CUBE_QUADS[1], "<i4").tobytes()
    )
    path.write_bytes(
        header.replace("element face 6", "element face 3").encode() + rows.tobytes() + body
    )
    assert read_ply(path).faces.shape == (4, 3)


def test_mesh_reader_voxels_and_points(tmp_path):
    _write_cubes(tmp_path)
    vox = _load(tmp_path / "cube.off", image_size=16)
    assert vox.kind == "voxel" and vox.items.shape == (1, 1, 16, 16, 16)
    occ = vox.items[0, 0] > 0
    assert occ[1:15, 1:15, 1:15].all()  # solid: the interior is filled
    assert not occ[0].any() and not occ[:, :, 15].any()  # an empty border
    pts = _load(tmp_path / "cube.obj", options={"as": "pointcloud", "points": 300})
    assert pts.kind == "pointcloud" and pts.items.shape == (1, 300, 3)
    # On the surface of the [-1, 1] cube: one coordinate is ±1.
    assert torch.allclose(pts.items[0].abs().max(dim=1).values, torch.ones(300), atol=1e-5)
    folder = _load(tmp_path, image_size=8, options={"reader": "mesh"})
    assert folder.items.shape == (8, 1, 8, 8, 8)
    assert torch.equal(folder.items[0], folder.items[-1])


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("huge.off", b"OFF\n1000000000000 1 0\n0 0 0\n", "declares"),
        ("short.off", b"OFF\n8 6 0\n0 0 0\n1 1 1\n", "declares"),
        ("text.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\nx 1 0\n3 0 1 2\n", "bad OFF"),
        ("index.off", b"OFF\n3 1 0\n0 0 0\n1 0 0\n0 1 0\n3 0 1 7\n", "does not exist"),
        ("nan.off", b"OFF\n3 1 0\n0 0 0\nnan 0 0\n0 1 0\n3 0 1 2\n", "NaN"),
        ("none.off", b"hello\n", "not an OFF"),
        (
            "huge.ply",
            b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\n"
            b"property float x\nproperty float y\nproperty float z\nend_header\n\x00\x00",
            "declares",
        ),
        (
            "hugeasc.ply",
            b"ply\nformat ascii 1.0\nelement vertex 1000000000000\n"
            b"property float x\nproperty float y\nproperty float z\nend_header\n0 0 0\n",
            "declares",
        ),
        ("noend.ply", b"ply\nformat ascii 1.0\nelement vertex 1\n", "end_header"),
        ("fmt.ply", b"ply\nformat binary_middle_endian 1.0\nend_header\n", "unsupported"),
        (
            "trunc.ply",
            b"ply\nformat binary_little_endian 1.0\nelement vertex 2\nproperty float x\n"
            b"property float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\n"
            b"end_header\n" + b"\x00" * 24 + b"\x03\x00\x00",
            "truncated",
        ),
        (
            "negative.ply",
            b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n"
            b"property float y\nproperty float z\nelement face 1\nproperty list int int vertex_indices\n"
            b"end_header\n" + b"\x00" * 12 + b"\xff\xff\xff\xff" + b"\x00" * 12,
            "truncated",
        ),
        ("huge.stl", b"\x00" * 80 + np.uint32(4_000_000_000).tobytes() + b"\x00" * 50, "declares"),
        ("tiny.stl", b"abc", "not an STL"),
        ("bad.obj", b"v 0 0 0\nv 1 0 0\nf 1 2 9\n", "does not exist"),
        ("zero.obj", b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 0 1 2\n", "line 4 is not an OBJ face"),
        ("word.obj", b"# a\nv 0 0 0\nv 1 x 0\nv 0 1 0\nf 1 2 3\n",
         "line 3 is not an OBJ vertex .*'v 1 x 0'"),
        ("short.obj", b"v 0 0 0\nv 1 0\nv 0 1 0\nf 1 2 3\n", "line 2 is not an OBJ vertex"),
        ("flat.obj", b"v 0 0 0\nv 0 0 0\nv 0 0 0\nf 1 2 3\n", "single point"),
        ("empty.obj", b"# nothing\n", "no faces"),
    ],
)
def test_mesh_corrupt(tmp_path, name, content, match):
    path = tmp_path / name
    path.write_bytes(content)
    t0 = time.perf_counter()
    with pytest.raises(DataError, match=match) as err:
        _load(path)
    assert name in str(err.value) and "\n" not in str(err.value)
    assert time.perf_counter() - t0 < 1.0


# --- point clouds -------------------------------------------------------------


def test_pointcloud_files(tmp_path):
    rng = np.random.RandomState(0)
    pts = rng.uniform(-3, 5, size=(100, 3)).astype(np.float32)
    (tmp_path / "a.xyz").write_text("".join(f"{a:.9g} {b:.9g} {c:.9g} 0 0 1\n" for a, b, c in pts))
    assert np.array_equal(read_points_file(tmp_path / "a.xyz").astype(np.float32), pts)
    (tmp_path / "b.pts").write_text(
        "100\n" + "".join(f"{a:.9g},{b:.9g},{c:.9g}\n" for a, b, c in pts)
    )
    assert np.array_equal(read_points_file(tmp_path / "b.pts").astype(np.float32), pts)
    (tmp_path / "c.ply").write_bytes(ply_bytes(pts))
    assert np.array_equal(read_points_file(tmp_path / "c.ply").astype(np.float32), pts)
    for name in ("a.xyz", "b.pts", "c.ply"):  # .ply without faces: the mesh reader hands it over
        ds = _load(tmp_path / name, options={"points": 64})
        assert ds.kind == "pointcloud" and ds.items.shape == (1, 64, 3)
        assert ds.items.abs().max() == pytest.approx(1.0)
    folder = _load(tmp_path, options={"reader": "pointcloud", "points": 150})
    assert folder.items.shape == (3, 150, 3)  # 100 points repeated up to 150
    raw = _load(tmp_path / "a.xyz", options={"points": 100, "normalize": False})
    assert raw.value_range is None
    assert np.array_equal(np.sort(raw.items[0].numpy(), axis=0), np.sort(pts, axis=0))


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("nan.xyz", "0 0 0\n1 nan 2\n", "NaN"),
        ("inf.pts", "0 0 0\n1 inf 2\n", "NaN or infinite"),
        ("short.xyz", "0 0 0\n1 2\n", "fewer than 3"),
        ("word.xyz", "0 0 0\n1 a 2\n", "not a number"),
        ("empty.xyz", "# nothing\n", "no points"),
        ("same.xyz", "1 1 1\n1 1 1\n", "same point"),
    ],
)
def test_pointcloud_corrupt(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=match) as err:
        _load(tmp_path / name)
    assert name in str(err.value)


def test_ply_nan_points(tmp_path):
    pts = np.zeros((4, 3), np.float32)
    pts[2, 1] = np.nan
    (tmp_path / "nan.ply").write_bytes(ply_bytes(pts))
    with pytest.raises(DataError, match="nan.ply.*NaN"):
        _load(tmp_path / "nan.ply")


# --- video ------------------------------------------------------------------


def _clip(n: int = 24, h: int = 40, w: int = 48) -> np.ndarray:
    t = np.arange(n)[:, None, None, None]
    frames = np.zeros((n, h, w, 3))
    frames[..., 0] = (t[..., 0] * 10) % 256
    frames[..., 1] = np.linspace(0, 255, w)[None, None, :]
    return frames.astype(np.uint8)


@pytest.mark.parametrize("ext", [".mp4", ".gif", ".avi"])
def test_video_file_round_trip(tmp_path, ext):
    import imageio.v3 as iio

    path = tmp_path / f"clip{ext}"
    kwargs = {"duration": 80, "loop": 0} if ext == ".gif" else {"fps": 12}
    iio.imwrite(path, _clip(), **kwargs)
    ds = _load(path, image_size=16, options={"frames": 8})
    assert ds.kind == "video" and ds.items.shape == (3, 3, 8, 16, 16)
    assert ds.items.min() >= -1 and ds.items.max() <= 1
    assert ds.meta["fps"] == pytest.approx(12.5 if ext == ".gif" else 12.0, rel=0.05)
    # Red grows with time; green runs left to right.
    red = ds.items[0, 0, :, 8, 8]
    assert (red[1:] > red[:-1]).all()
    assert ds.items[0, 1, 0, 8, -1] > ds.items[0, 1, 0, 8, 0] + 1.0
    gray = _load(
        path, image_size=16, grayscale=True, options={"frames": 6, "clip_hop": 2, "frame_step": 2}
    )
    assert gray.items.shape == (4, 1, 6, 16, 16)  # 12 kept frames, clips at 0, 2, 4, 6


def test_video_frames_folder(tmp_path):
    from PIL import Image

    for i in range(12):  # natural order: f2 before f10
        Image.fromarray(np.full((20, 30), i * 20, np.uint8)).save(tmp_path / f"f{i}.png")
    ds = _load(tmp_path, image_size=8, options={"reader": "video-frames", "frames": 4})
    assert ds.items.shape == (3, 3, 4, 8, 8)
    levels = ((ds.items[:, 0, :, 4, 4] + 1) / 2 * 255).round().flatten()
    assert torch.allclose(levels, torch.arange(12.0) * 20, atol=1.0)
    sub = tmp_path / "videos"
    for name in ("a", "b"):
        (sub / name).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(np.full((8, 8, 3), i * 40, np.uint8)).save(sub / name / f"{i:03d}.png")
    nested = _load(sub, options={"reader": "video-frames", "frames": 5})
    assert nested.items.shape == (2, 3, 5, 8, 8)


def test_video_corrupt_and_limits(tmp_path, monkeypatch):
    import imageio.v3 as iio

    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 20)
    with pytest.raises(DataError, match="junk.mp4"):
        _load(junk)
    path = tmp_path / "clip.gif"
    iio.imwrite(path, _clip(6, 8, 8), duration=50, loop=0)
    with pytest.raises(DataError, match="fewer than data.options.frames"):
        _load(path, options={"frames": 16})
    monkeypatch.setattr(vf, "MAX_FRAMES", 4)
    t0 = time.perf_counter()
    with pytest.raises(DataError, match="frames"):
        _load(path, options={"frames": 2})
    assert time.perf_counter() - t0 < 1.0
    monkeypatch.setattr(vf, "MAX_FRAMES", 4096)
    monkeypatch.setattr(vf, "MAX_FRAME_PIXELS", 32)
    with pytest.raises(DataError, match="MP limit"):
        _load(path, options={"frames": 2})
    with pytest.raises(DataError, match="needs a folder"):
        _load(path, options={"reader": "video-frames"})
