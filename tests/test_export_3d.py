"""Voxel → mesh exports (STL, OBJ, PLY) and point-cloud files: write, read back."""

from __future__ import annotations

import numpy as np
import pytest

from ebm_engine.data.dataset import to_display
from ebm_engine.errors import ExportError
from ebm_engine.export.mesh import (
    read_mesh,
    save_voxel_meshes,
    save_voxel_meshes_each,
    voxels_to_mesh,
    write_mesh,
)
from ebm_engine.export.pointcloud import (
    read_ply_points,
    save_point_clouds,
    save_point_clouds_each,
    write_pointcloud,
)


def _ball(size: int = 16, radius: float = 0.6, centre=(0.0, 0.0, 0.0)) -> np.ndarray:
    """A model-space ``(1, S, S, S)`` ball: +1 inside, -1 outside."""
    axis = -1.0 + (np.arange(size) + 0.5) * 2.0 / size
    x, y, z = np.meshgrid(axis, axis, axis, indexing="ij")
    r = np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2)
    return np.where(r <= radius, 1.0, -1.0).astype(np.float32)[None]


def _volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    tri = vertices[faces]
    return float(np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum() / 6.0)


@pytest.mark.parametrize("ext", [".stl", ".obj", ".ply"])
def test_voxel_mesh_round_trip(tmp_path, ext):
    samples = _ball()[None]  # (1, 1, 16, 16, 16)
    path = save_voxel_meshes(samples, tmp_path / f"ball{ext}")
    vertices, faces = read_mesh(path)
    assert len(vertices) > 0 and len(faces) > 0
    assert vertices.min() > -0.75 and vertices.max() < 0.75
    assert vertices.max() > 0.5
    # A closed surface wound outward (positive volume; inside-out it was negative): its
    # volume is the ball's (within voxel error).
    assert _volume(vertices, faces) == pytest.approx(4 / 3 * np.pi * 0.6**3, rel=0.15)
    expected_v, expected_f = voxels_to_mesh(samples[0])
    assert len(faces) == len(expected_f)
    if ext != ".stl":  # STL keeps three corners per triangle
        assert np.allclose(vertices, expected_v, atol=1e-6)


def test_several_samples_share_one_file_on_a_grid(tmp_path):
    samples = np.stack([_ball(radius=0.3 + 0.1 * i) for i in range(4)])
    path = save_voxel_meshes(samples, tmp_path / "shapes.stl")
    vertices, faces = read_mesh(path)
    one = sum(len(voxels_to_mesh(s)[1]) for s in samples)
    assert len(faces) == one
    # 2x2 grid, 2.5 apart in x and y; z untouched.
    assert vertices[:, 0].max() > 2.5 and vertices[:, 1].min() < -2.5
    assert vertices[:, 2].min() > -1 and vertices[:, 2].max() < 1
    paths = save_voxel_meshes_each(samples, tmp_path / "each.obj")
    assert [p.name for p in paths] == [f"each_{i:03d}.obj" for i in range(4)]
    for p, s in zip(paths, samples):
        assert len(read_mesh(p)[1]) == len(voxels_to_mesh(s)[1])


def test_display_space_level_and_border_and_nan():
    ball = _ball(radius=0.7)
    v_model, f_model = voxels_to_mesh(ball, level=0.0)
    v_disp, f_disp = voxels_to_mesh(to_display(ball, "voxel", (-1.0, 1.0)), level=0.5)
    assert np.allclose(v_model, v_disp, atol=1e-6) and np.array_equal(f_model, f_disp)
    full = np.ones((1, 8, 8, 8), np.float32)  # touches every border: still closed
    v, f = voxels_to_mesh(full)
    assert len(f) > 0 and v.min() >= -1.0 and v.max() <= 1.0
    assert _volume(v, f) == pytest.approx(8.0, rel=0.05)  # on the cube, wound outward
    noisy = ball.copy()
    noisy[0, 0, 0, 0] = np.nan
    assert len(voxels_to_mesh(noisy)[1]) == len(f_model)


def test_mesh_export_errors(tmp_path):
    empty = -np.ones((2, 1, 8, 8, 8), np.float32)
    with pytest.raises(ExportError, match="no surface"):
        save_voxel_meshes(empty, tmp_path / "empty.stl")
    with pytest.raises(ExportError, match="unsupported"):
        save_voxel_meshes(_ball()[None], tmp_path / "ball.fbx")
    with pytest.raises(ExportError, match="cannot write"):
        save_voxel_meshes(_ball()[None], tmp_path / "missing" / "ball.stl")
    with pytest.raises(ExportError, match="voxel samples"):
        save_voxel_meshes(np.zeros((2, 3, 8, 8, 8)), tmp_path / "x.stl")
    (tmp_path / "bad.stl").write_bytes(b"\x00" * 80 + np.uint32(10).tobytes())
    with pytest.raises(ExportError, match="bad.stl"):
        read_mesh(tmp_path / "bad.stl")
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary files left behind


def test_write_mesh_ascii_ply(tmp_path):
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    for binary in (True, False):
        path = write_mesh(tmp_path / f"tet{int(binary)}.ply", v, f, binary=binary)
        rv, rf = read_mesh(path)
        assert np.array_equal(rv, v) and np.array_equal(rf, f)


@pytest.mark.parametrize("binary", [True, False])
def test_pointcloud_ply_round_trip_exact(tmp_path, binary):
    rng = np.random.RandomState(0)
    pts = rng.uniform(-1, 1, size=(500, 3)).astype(np.float32)
    pts[0] = [np.float32(1 / 3), np.float32(-1e-8), np.float32(0.1)]  # awkward decimals
    path = write_pointcloud(tmp_path / "cloud.ply", pts, binary=binary)
    assert np.array_equal(read_ply_points(path), pts)
    head = path.read_bytes()[:80]
    assert (b"binary_little_endian" in head) == binary


def test_pointcloud_samples_grid_each_and_xyz(tmp_path):
    rng = np.random.RandomState(1)
    clouds = rng.uniform(-1, 1, size=(3, 64, 3)).astype(np.float32)
    path = save_point_clouds(clouds, tmp_path / "clouds.ply")
    back = read_ply_points(path)
    assert back.shape == (192, 3)
    assert np.allclose(back[:64], clouds[0]) and np.allclose(back[64:128], clouds[1] + [2.5, 0, 0])
    paths = save_point_clouds_each(clouds, tmp_path / "one.ply", binary=False)
    for p, c in zip(paths, clouds):
        assert np.array_equal(read_ply_points(p), c)
    xyz = write_pointcloud(tmp_path / "cloud.xyz", clouds[0])
    assert np.array_equal(np.loadtxt(xyz, dtype=np.float64).astype(np.float32), clouds[0])


def test_pointcloud_export_errors_and_nan(tmp_path):
    pts = np.zeros((5, 3), np.float32)
    pts[1, 2] = np.nan
    assert read_ply_points(write_pointcloud(tmp_path / "nan.ply", pts)).shape == (4, 3)
    with pytest.raises(ExportError, match="unsupported"):
        write_pointcloud(tmp_path / "cloud.las", pts)
    with pytest.raises(ExportError, match=r"\(N, 3\)"):
        write_pointcloud(tmp_path / "cloud.ply", np.zeros((5, 2)))
    with pytest.raises(ExportError, match="cannot write"):
        save_point_clouds(np.zeros((2, 5, 3)), tmp_path / "nope" / "c.ply")
    (tmp_path / "bad.ply").write_bytes(
        b"ply\nformat ascii 1.0\nelement vertex 9\nproperty float x\nend_header\n"
    )
    with pytest.raises(ExportError, match="bad.ply"):
        read_ply_points(tmp_path / "bad.ply")


def test_stl_normals_point_out_of_the_solid(tmp_path):
    """The stored normals pointed into every voxel mesh (slicers show it inside-out)."""
    path = save_voxel_meshes(_ball()[None], tmp_path / "ball.stl")
    raw = path.read_bytes()
    count = int(np.frombuffer(raw[80:84], "<u4")[0])
    rows = np.frombuffer(raw[84:], np.dtype([("n", "<f4", 3), ("v", "<f4", (3, 3)),
                                              ("attr", "<u2")]), count)
    outward = np.einsum("ij,ij->i", rows["n"], rows["v"].mean(axis=1))  # the ball is at 0
    assert (outward > 0).mean() > 0.99
