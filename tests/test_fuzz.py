"""Property-based fuzzing (hypothesis): configs and dataset files from users.

- Any JSON-like config dict, and any ``--set KEY=VALUE``, either builds a valid
  :class:`RunConfig` or raises :class:`ConfigError`, never another exception.
- Any bytes, and any mutation (bit flips, truncation, inserted or deleted
  bytes, numbers swapped for hostile ones) of a small valid file of every
  format a reader takes, either loads or raises an :class:`EBMError`.

Examples are bounded (``make test`` runs the whole file in well under a
minute on 2 cores) and derandomized, so a failure reproduces; set
``EBM_FUZZ_SCALE=20`` for a longer, randomly seeded hunt.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from make_fuzz_corpus import _npy_bytes, _png, _zip_with

from ebm_engine.config import RunConfig
from ebm_engine.data import load_dataset, readers
from ebm_engine.errors import ConfigError, EBMError

SCALE = max(1, int(os.environ.get("EBM_FUZZ_SCALE", "1")))


def bounded(n: int) -> settings:
    """``n`` examples (times ``EBM_FUZZ_SCALE``), no deadline, reproducible by default."""
    return settings(
        max_examples=n * SCALE,
        deadline=None,
        derandomize=SCALE == 1,
        database=None,  # nothing written into the repository
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --------------------------------------------------------------------------- configs

SECTIONS = {
    name: [f for f in getattr(RunConfig(), name).__dataclass_fields__]
    for name in ("data", "model", "sampler", "train")
}
# Values users (and broken files) produce: huge and negative ints, NaN, ±inf,
# "inf" spelled out, empty and odd strings.
HOSTILE_SCALARS = st.sampled_from(
    [0, -1, 1, 2**31, 2**63, -(2**63), 10**400, -(10**400), 1e308, -1e308, 5e-324,
     math.nan, math.inf, -math.inf, "inf", "-inf", "nan", "", " ", "\x00", "1e999", True, False,
     None]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    HOSTILE_SCALARS,
)
JSONISH = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def section_dicts(draw: st.DrawFn, name: str) -> dict[str, Any]:
    keys = st.one_of(st.sampled_from(SECTIONS[name]), st.text(max_size=10))
    out = draw(st.dictionaries(keys, JSONISH, max_size=6))
    if draw(st.booleans()):  # options keep to dicts more often, to get past the type check
        out["options"] = draw(st.dictionaries(st.text(max_size=8), JSONISH, max_size=4))
    return out


@st.composite
def config_dicts(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 9)) == 0:
        return draw(JSONISH)  # not even an object
    raw: dict[str, Any] = {}
    for name in SECTIONS:
        choice = draw(st.integers(0, 4))
        if choice == 0:
            continue
        raw[name] = draw(section_dicts(name)) if choice > 1 else draw(JSONISH)
    if draw(st.booleans()):
        raw["version"] = draw(st.one_of(st.just(1), SCALARS))
    raw.update(draw(st.dictionaries(st.text(max_size=8), JSONISH, max_size=2)))
    return raw


def _config_or_config_error(build) -> RunConfig | None:
    try:
        cfg = build()
    except ConfigError as exc:
        assert str(exc) and "\n" not in str(exc), repr(str(exc))
        return None
    assert isinstance(cfg, RunConfig)
    # A config that validates can be saved and read back (RUN/config.json).
    again = RunConfig.from_json(cfg.to_json())
    assert isinstance(again, RunConfig)
    return cfg


@bounded(300)
@given(config_dicts())
@example({"sampler": {"step_size": 10**400}})
def test_any_config_dict_builds_or_raises_config_error(raw: Any) -> None:
    _config_or_config_error(lambda: RunConfig.from_dict(raw))


def test_hand_picked_hostile_config_dicts() -> None:
    """Hand-picked hostile dicts that must be refused (or kept) without a crash."""
    for raw in [
        {"sampler": {"step_size": math.nan}},
        {"sampler": {"reference_sigma": "inf"}},
        {"train": {"batch_size": 1e300}},
        {"train": {"batch_size": 10**400}},
        {"train": {"options": []}},
        {"data": {"source": None}},
        {"data": {"options": {"reader": {"nested": [math.nan]}}}},
        {"model": "mlp"},
        {"version": 10**400},
        [],
        None,
    ]:
        _config_or_config_error(lambda raw=raw: RunConfig.from_dict(raw))


ALL_KEYS = [f"{s}.{f}" for s, fields in SECTIONS.items() for f in fields]
KEYS = st.one_of(
    st.sampled_from(ALL_KEYS),
    st.builds(lambda s, k: f"{s}.options.{k}", st.sampled_from(list(SECTIONS)),
              st.text(max_size=8)),
    st.sampled_from(["", ".", "..", "data", "data.", ".data", "version", "version.x",
                     "data.options", "data.options.", "data.source.x", "sampler.step_size.x",
                     "nosuch.key", "data.options.a.b", "train.options.x.y.z"]),
    st.text(max_size=20),
)
VALUES = st.one_of(
    st.text(max_size=20),
    JSONISH.map(lambda v: json.dumps(v)),  # what a user types: JSON with NaN, Infinity …
    JSONISH,  # what the app's editors pass: Python values
    st.sampled_from(["1e999", "-1e999", "NaN", "Infinity", "[", "{", '{"a":', "9" * 400,
                     "9" * 5000, "true", "null", "0x10", "1_000", "  3  "]),
)


@bounded(300)
@given(KEYS, VALUES)
@example("sampler.step_size", "9" * 400)
def test_any_set_key_value_builds_or_raises_config_error(key: str, value: Any) -> None:
    _config_or_config_error(lambda: RunConfig().with_value(key, value))


@pytest.mark.parametrize("key", ["data.options.x", "sampler.step_size", "train.seed"])
@pytest.mark.parametrize("value", ["[" * 100_000, "{" * 5000 + "}" * 5000, "9" * 4300, "9" * 5000])
def test_set_value_beyond_json_limits(key: str, value: str) -> None:
    # json.loads raises RecursionError for deep nesting and ValueError (not
    # JSONDecodeError) for an integer of more than 4300 digits.
    _config_or_config_error(lambda: RunConfig().with_value(key, value))


# --------------------------------------------------------------------------- files

FAST = {"image_size": 8}  # small voxel grids and images keep each example in milliseconds


def _cube() -> tuple[np.ndarray, np.ndarray]:
    v = np.array([[x, y, z] for x in (0, 2) for y in (0, 2) for z in (0, 2)], float)
    quads = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
    tris = np.array([[q[0], q[i], q[i + 1]] for q in quads for i in (1, 2)])
    return v, tris


def _image_bytes(fmt: str, mode: str = "RGB") -> bytes:
    from PIL import Image

    rng = np.random.default_rng(0)
    shape = (8, 8, 3) if mode == "RGB" else (8, 8)
    img = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


def _gif_bytes() -> bytes:
    from PIL import Image

    rng = np.random.default_rng(1)
    frames = [Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)) for _ in range(4)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buf.getvalue()


def _mp4_bytes(folder: Path) -> bytes:
    import imageio.v3 as iio

    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    path = folder / "seed.mp4"
    iio.imwrite(path, frames, fps=4, codec="libx264", macro_block_size=1)
    return path.read_bytes()


def _mat_bytes(compress: bool = False) -> bytes:
    import scipy.io

    buf = io.BytesIO()
    grid = np.zeros((8, 8, 8), np.uint8)
    grid[2:6, 2:6, 2:6] = 1
    scipy.io.savemat(buf, {"label": np.array([3.0]), "instance": grid}, do_compression=compress)
    return buf.getvalue()


@functools.cache
def seeds() -> dict[str, tuple[bytes, dict[str, Any]]]:
    """Small valid files of every format (file name → bytes, data.options), each
    checked to load before it is mutated."""
    from ebm_engine.data.mesh_files import read_mesh_file  # noqa: F401 - registers readers
    from ebm_engine.data.ply import ply_bytes
    from ebm_engine.data.voxel_files import binvox_bytes
    from ebm_engine.export.mesh import stl_bytes

    v, tris = _cube()
    rng = np.random.default_rng(3)
    points = rng.normal(size=(40, 3))
    off = ("OFF\n8 12 0\n" + "".join(f"{a:g} {b:g} {c:g}\n" for a, b, c in v)
           + "".join(f"3 {a} {b} {c}\n" for a, b, c in tris)).encode()
    obj = ("".join(f"v {a:g} {b:g} {c:g}\n" for a, b, c in v)
           + "".join(f"f {a + 1} {b + 1} {c + 1}\n" for a, b, c in tris)).encode()
    grid = np.zeros((8, 8, 8), bool)
    grid[2:6, 3:5, 1:7] = True
    out: dict[str, tuple[bytes, dict[str, Any]]] = {
        "seed.png": (_png(8, 8), {}),
        "seed-gray.png": (_image_bytes("PNG", "L"), {}),
        "seed.jpg": (_image_bytes("JPEG"), {}),
        "seed.bmp": (_image_bytes("BMP"), {}),
        "seed.npy": (_npy_bytes(np.arange(32, dtype=np.float32).reshape(16, 2)), {}),
        "seed-img.npy": (_npy_bytes(rng.integers(0, 256, (2, 3, 4, 4), dtype=np.uint8)), {}),
        "seed.npz": (_zip_with("x.npy", _npy_bytes(rng.random((2, 4, 4)).astype(np.float32))),
                     {}),
        "seed.off": (off, {}),
        "seed.obj": (obj, {}),
        "seed.stl": (stl_bytes(v, tris), {}),
        "seed-mesh.ply": (ply_bytes(v, tris, binary=True), {}),
        "seed-ascii.ply": (ply_bytes(v, tris, binary=False), {}),
        "seed-points.ply": (ply_bytes(points), {"points": 16}),
        "seed.xyz": ("".join(f"{a:.6g} {b:.6g} {c:.6g}\n" for a, b, c in points).encode(),
                     {"points": 16}),
        "seed.pts": (("40\n" + "".join(f"{a:.6g},{b:.6g},{c:.6g}\n" for a, b, c in points))
                     .encode(), {"points": 16}),
        "seed.binvox": (binvox_bytes(grid), {}),
        "seed.mat": (_mat_bytes(), {}),
        "seed-z.mat": (_mat_bytes(compress=True), {}),
        "seed.gif": (_gif_bytes(), {"frames": 2}),
    }
    with tempfile.TemporaryDirectory() as tmp:
        out["seed.mp4"] = (_mp4_bytes(Path(tmp)), {"frames": 2})
        for name, (data, options) in out.items():  # every seed is a valid file
            path = Path(tmp) / name
            path.write_bytes(data)
            load(path, options)
    return out


def load(path: Path, options: dict[str, Any] | None = None) -> None:
    from ebm_engine.config import DataConfig

    load_dataset(DataConfig(source=str(path), options=dict(options or {}), **FAST))


@contextmanager
def scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ebm-fuzz-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def loads_or_data_error(path: Path, options: dict[str, Any]) -> None:
    """The property: a dataset, or an EBMError of one non-empty line."""
    try:
        load(path, options)
    except EBMError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg, f"{path.name}: not one line: {msg!r}"


# Numbers and words that break text parsers: counts far too large, negative,
# non-finite or not numbers at all.
HOSTILE_TOKENS = [b"nan", b"inf", b"-inf", b"1e999", b"-1", b"0", b"99999999999",
                  b"4294967296", b"-2147483649", b"1.5", b"x", b"", b"3 3 3 3 3"]


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` after 1–4 random edits."""
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite", "token"]))
        pos = draw(st.integers(0, max(len(buf) - 1, 0)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del buf[pos : pos + draw(st.integers(1, 64))]
        elif op == "overwrite":
            # Often 0xff…: header fields that become huge counts and sizes.
            chunk = draw(st.one_of(st.binary(min_size=1, max_size=8),
                                   st.sampled_from([b"\xff" * 4, b"\x7f\xff\xff\xff",
                                                    b"\x00" * 4, struct.pack("<d", math.nan)])))
            buf[pos : pos + len(chunk)] = chunk
        elif op == "token":
            tokens = bytes(buf).split(b" ")
            i = draw(st.integers(0, len(tokens) - 1))
            tokens[i] = draw(st.sampled_from(HOSTILE_TOKENS))
            buf = bytearray(b" ".join(tokens))
    return bytes(buf)


@st.composite
def mutated_files(draw: st.DrawFn, names: list[str]) -> tuple[str, bytes, dict[str, Any]]:
    name = draw(st.sampled_from(names))
    data, options = seeds()[name]
    return name, draw(mutated(data)), options


def _names(*, video: bool) -> list[str]:
    return sorted(n for n in seeds() if n.endswith(".mp4") == video)


@bounded(400)
@given(st.data())
def test_mutated_files_load_or_raise_data_error(data: st.DataObject) -> None:
    name, content, options = data.draw(mutated_files(_names(video=False)))
    with scratch() as folder:
        path = folder / name
        path.write_bytes(content)
        loads_or_data_error(path, options)


@bounded(12)
@given(st.data())
def test_mutated_mp4_loads_or_raises_data_error(data: st.DataObject) -> None:
    # Few examples: every decode starts an ffmpeg process.
    name, content, options = data.draw(mutated_files(_names(video=True)))
    with scratch() as folder:
        path = folder / name
        path.write_bytes(content)
        loads_or_data_error(path, options)


def _extensions() -> list[str]:
    return sorted({e for r in readers() for e in r.extensions if e and e != ".mp4"})


@bounded(150)
@given(st.sampled_from(_extensions()), st.binary(max_size=512))
@example(".npy", b"\x93NUMPY\x01\x00")
@example(".ply", b"ply\nformat ascii 1.0\nend_header\n")
@example(".off", b"OFF\n")
def test_random_bytes_load_or_raise_data_error(ext: str, content: bytes) -> None:
    with scratch() as folder:
        path = folder / f"random{ext}"
        path.write_bytes(content)
        loads_or_data_error(path, {})


READER_NAMES = sorted({r.name for r in readers()})


@bounded(150)
@given(st.data())
def test_any_reader_forced_on_any_file_loads_or_raises_data_error(data: st.DataObject) -> None:
    name, content, options = data.draw(mutated_files(_names(video=False)))
    if data.draw(st.booleans()):
        content = seeds()[name][0]  # the valid file, read by the wrong reader
    reader = data.draw(st.sampled_from(READER_NAMES))
    with scratch() as folder:
        path = folder / name
        path.write_bytes(content)
        loads_or_data_error(path, {**options, "reader": reader})


@bounded(60)
@given(st.data())
def test_folders_of_mixed_files_load_or_raise_data_error(data: st.DataObject) -> None:
    names = _names(video=False)
    files = data.draw(st.lists(st.sampled_from(names), min_size=0, max_size=6))
    forced = data.draw(st.one_of(st.none(), st.sampled_from(READER_NAMES)))
    with scratch() as folder:
        for i, name in enumerate(files):
            content, _ = seeds()[name]
            if data.draw(st.booleans()):
                content = data.draw(mutated(content))
            sub = folder / ("sub" if i % 2 else "") / f"{i}-{name}"
            sub.parent.mkdir(exist_ok=True)
            sub.write_bytes(content)
        options: dict[str, Any] = {"points": 16, "frames": 2}
        if forced:
            options["reader"] = forced
        loads_or_data_error(folder, options)


# --------------------------------------------------------------------------- regressions
# Inputs the fuzzer found; each crashed a reader with an untyped exception
# (or, for .mat, scipy with a segmentation fault) before the fix.


def test_npy_header_that_is_not_a_python_literal(tmp_path: Path) -> None:
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,\n"  # tokenize.TokenError
    path = tmp_path / "a.npy"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + bytes(8))
    with pytest.raises(EBMError, match=r"a\.npy: not a valid \.npy array"):
        load(path)


def test_npz_with_damaged_compressed_member(tmp_path: Path) -> None:
    data = bytearray(seeds()["seed.npz"][0])
    data[40] ^= 0x55  # inside the deflate stream: zlib.error
    path = tmp_path / "b.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(EBMError, match=r"b\.npz"):
        load(path)


def test_ply_with_a_repeated_property(tmp_path: Path) -> None:
    path = tmp_path / "c.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1\nproperty float x\n"
                     b"property float x\nproperty float z\nend_header\n" + bytes(12))
    with pytest.raises(EBMError, match="bad PLY header line 'property float x'"):
        load(path)


def test_mat_whose_element_runs_past_the_end(tmp_path: Path) -> None:
    # 12 bytes cut from the variable's name and the end: scipy.io.loadmat
    # read past its buffer and killed the process (SIGSEGV).
    data = seeds()["seed.mat"][0]
    start = data.index(b"instance")
    path = tmp_path / "d.mat"
    path.write_bytes(data[: start + 4] + data[start + 16 : start + 389])
    with pytest.raises(EBMError, match=r"d\.mat: not a readable MATLAB file"):
        load(path)


def _mat_element(order: str, mtype: int, payload: bytes, small: bool = False) -> bytes:
    if small:  # byte count in the upper 16 bits of the type word
        return struct.pack(order + "I", (len(payload) << 16) | mtype) + payload.ljust(4, b"\0")
    return struct.pack(order + "II", mtype, len(payload)) + payload + bytes(-len(payload) % 8)


@pytest.mark.parametrize("order", ["<", ">"])
def test_mat_reader_big_endian_and_small_elements(tmp_path: Path, order: str) -> None:
    """Hand-built Level 5 files: both byte orders, a 4-byte name in a small
    element, logical values stored as uint8 (scipy writes neither big-endian
    nor small elements)."""
    from ebm_engine.data.voxel_files import read_mat_voxels

    grid = np.zeros((4, 5, 6), np.uint8)
    grid[1:3, 2:4, 1:5] = 1
    body = (_mat_element(order, 6, struct.pack(order + "II", 9 | 0x0200, 0))
            + _mat_element(order, 5, np.array(grid.shape, order + "i4").tobytes())
            + _mat_element(order, 1, b"vox1", small=True)
            + _mat_element(order, 2, grid.tobytes(order="F")))
    header = b"MATLAB 5.0 MAT-file, hand-built".ljust(116) + bytes(8)
    header += struct.pack(order + "H", 0x0100) + (b"IM" if order == "<" else b"MI")
    path = tmp_path / "hand.mat"
    path.write_bytes(header + _mat_element(order, 14, body))
    occ = read_mat_voxels(path)
    assert occ.shape == (1, 4, 5, 6) and np.array_equal(occ[0], grid.astype(bool))
