"""The PLY format (Stanford polygon files), read and written with numpy.

Shared by the mesh and point-cloud readers and the mesh / point-cloud
exports. Reads ``ascii``, ``binary_little_endian`` and ``binary_big_endian``
files with any elements; keeps the ``vertex`` coordinates and the ``face``
vertex lists (polygons are split into triangle fans). Every count in the
header is checked against the file's size *before* anything is allocated,
so a 100-byte file that declares 10¹² vertices fails at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ebm_engine.data._collect import read_limited
from ebm_engine.errors import DataError

_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1",
    "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
    "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}  # fmt: skip
_FORMATS = {"ascii": "", "binary_little_endian": "<", "binary_big_endian": ">"}
_MAX_HEADER = 65536


@dataclass(frozen=True)
class PlyMesh:
    """What a PLY file holds that we use.

    Attributes
    ----------
    vertices : np.ndarray
        ``(V, 3)`` float64 coordinates.
    faces : np.ndarray
        ``(F, 3)`` int64 triangles (empty ``(0, 3)`` for a point cloud).
    format : str
        ``ascii``, ``binary_little_endian`` or ``binary_big_endian``.
    """

    vertices: np.ndarray
    faces: np.ndarray
    format: str


@dataclass
class _Property:
    name: str
    dtype: str  # numpy type code without byte order
    count_dtype: str | None = None  # set for list properties


@dataclass
class _Element:
    name: str
    count: int
    props: list[_Property]


def _parse_header(path: Path, data: bytes) -> tuple[str, list[_Element], int]:
    end = data.find(b"end_header", 0, _MAX_HEADER)
    if not data.startswith(b"ply") or end < 0:
        raise DataError(f"{path}: not a PLY file (no 'ply' ... 'end_header' header)")
    body = data.index(b"\n", end) + 1 if b"\n" in data[end : end + 16] else len(data)
    try:
        lines = data[:end].decode("ascii").splitlines()[1:]
    except UnicodeDecodeError:
        raise DataError(f"{path}: PLY header is not ASCII text") from None
    fmt, elements = None, []
    for line in lines:
        tok = line.split()
        if not tok or tok[0] in ("comment", "obj_info"):
            continue
        try:
            if tok[0] == "format":
                fmt = tok[1]
                if fmt not in _FORMATS:
                    raise DataError(f"{path}: unsupported PLY format {fmt!r}")
            elif tok[0] == "element":
                count = int(tok[2])
                if count < 0:
                    raise ValueError
                elements.append(_Element(tok[1], count, []))
            elif tok[0] == "property":
                if not elements:
                    raise ValueError
                if tok[1] == "list":
                    prop = _Property(tok[4], _TYPES[tok[3]], _TYPES[tok[2]])
                else:
                    prop = _Property(tok[2], _TYPES[tok[1]])
                if any(q.name == prop.name for q in elements[-1].props):
                    raise ValueError  # a repeated name cannot be a numpy record field
                elements[-1].props.append(prop)
            else:
                raise ValueError
        except (IndexError, KeyError, ValueError):
            raise DataError(f"{path}: bad PLY header line {line.strip()[:60]!r}") from None
    if fmt is None:
        raise DataError(f"{path}: PLY header has no 'format' line")
    return fmt, elements, body


def _check_fits(path: Path, el: _Element, min_row_bytes: int, available: int) -> None:
    # Every row needs at least min_row_bytes: refuse impossible counts before allocating.
    if el.count * min_row_bytes > available:
        raise DataError(
            f"{path}: PLY header declares {el.count} {el.name} elements but only "
            f"{available} bytes follow (truncated or corrupt file)"
        )


def _read_binary(
    path: Path, data: bytes, pos: int, el: _Element, order: str
) -> tuple[dict[str, np.ndarray], int]:
    """Read one element's rows; returns ``{property: array}`` (lists as (n, k) or object arrays)."""
    scalar_bytes = sum(np.dtype(p.dtype).itemsize for p in el.props if p.count_dtype is None)
    count_bytes = sum(np.dtype(p.count_dtype).itemsize for p in el.props if p.count_dtype)
    _check_fits(path, el, scalar_bytes + count_bytes, len(data) - pos)
    if el.count == 0:
        return {p.name: np.zeros((0,)) for p in el.props}, pos
    lists = [p for p in el.props if p.count_dtype]
    if not lists:
        dt = np.dtype([(p.name, order + p.dtype) for p in el.props])
        rows = np.frombuffer(data, dt, el.count, pos)
        return {p.name: rows[p.name] for p in el.props}, pos + el.count * dt.itemsize
    # Fast path: every list in the element has the length of the first row's
    # (triangle meshes); checked below, else the slow row-by-row walk.
    fields, k_of = [], {}
    off = pos
    for p in el.props:
        if p.count_dtype is None:
            fields.append((p.name, order + p.dtype))
            off += np.dtype(p.dtype).itemsize
            continue
        cdt = np.dtype(order + p.count_dtype)
        if off + cdt.itemsize > len(data):
            raise DataError(f"{path}: PLY data is truncated in element {el.name!r}")
        k = int(np.frombuffer(data, cdt, 1, off)[0])
        if k < 0 or off + cdt.itemsize + k * np.dtype(p.dtype).itemsize > len(data):
            return _read_binary_rows(path, data, pos, el, order)  # it reports the damage
        k_of[p.name] = k
        fields += [(p.name + "#n", cdt.str), (p.name, order + p.dtype, (k,))]
        off += cdt.itemsize + k * np.dtype(p.dtype).itemsize
    dt = np.dtype(fields)
    if pos + el.count * dt.itemsize <= len(data):
        rows = np.frombuffer(data, dt, el.count, pos)
        if all(np.all(rows[p.name + "#n"] == k_of[p.name]) for p in lists):
            return {p.name: rows[p.name] for p in el.props}, pos + el.count * dt.itemsize
    return _read_binary_rows(path, data, pos, el, order)


def _read_binary_rows(
    path: Path, data: bytes, pos: int, el: _Element, order: str
) -> tuple[dict[str, np.ndarray], int]:
    out: dict[str, list] = {p.name: [] for p in el.props}
    for _ in range(el.count):
        for p in el.props:
            if p.count_dtype is None:
                dt = np.dtype(order + p.dtype)
                if pos + dt.itemsize > len(data):
                    raise DataError(f"{path}: PLY data is truncated in element {el.name!r}")
                out[p.name].append(np.frombuffer(data, dt, 1, pos)[0])
                pos += dt.itemsize
                continue
            cdt, idt = np.dtype(order + p.count_dtype), np.dtype(order + p.dtype)
            if pos + cdt.itemsize > len(data):
                raise DataError(f"{path}: PLY data is truncated in element {el.name!r}")
            k = int(np.frombuffer(data, cdt, 1, pos)[0])
            pos += cdt.itemsize
            if k < 0 or pos + k * idt.itemsize > len(data):
                raise DataError(f"{path}: PLY data is truncated in element {el.name!r}")
            out[p.name].append(np.frombuffer(data, idt, k, pos))
            pos += k * idt.itemsize
    return {name: _stack(vals) for name, vals in out.items()}, pos


def _stack(vals: list) -> np.ndarray:
    if vals and isinstance(vals[0], np.ndarray):
        arr = np.empty(len(vals), dtype=object)
        arr[:] = vals
        return arr
    return np.asarray(vals)


def _read_ascii(
    path: Path, lines: list[bytes], start: int, el: _Element
) -> tuple[dict[str, np.ndarray], int]:
    if start + el.count > len(lines):
        raise DataError(
            f"{path}: PLY header declares {el.count} {el.name} elements but only "
            f"{len(lines) - start} lines follow (truncated or corrupt file)"
        )
    rows = lines[start : start + el.count]
    if el.count == 0:
        return {p.name: np.zeros((0,)) for p in el.props}, start
    split = [r.split() for r in rows]
    width = len(split[0])
    if all(len(r) == width for r in split):
        try:
            table = np.array(split, dtype=np.float64)
        except ValueError:
            raise DataError(f"{path}: PLY element {el.name!r} holds a non-number") from None
        out, col, ok = {}, 0, True
        for p in el.props:
            if col >= width:
                ok = False
                break
            if p.count_dtype is None:
                out[p.name] = table[:, col]
                col += 1
            else:
                k = int(table[0, col])
                ok = ok and bool(np.all(table[:, col] == k))
                out[p.name] = table[:, col + 1 : col + 1 + k]
                col += 1 + k
        if ok and col == width:
            return out, start + el.count
    return _read_ascii_rows(path, rows, el), start + el.count


def _read_ascii_rows(path: Path, rows: list[bytes], el: _Element) -> dict[str, np.ndarray]:
    out: dict[str, list] = {p.name: [] for p in el.props}
    for row in rows:
        vals = row.split()
        col = 0
        try:
            for p in el.props:
                if p.count_dtype is None:
                    out[p.name].append(float(vals[col]))
                    col += 1
                else:
                    k = int(float(vals[col]))
                    if k < 0 or col + 1 + k > len(vals):
                        raise IndexError
                    out[p.name].append(np.array(vals[col + 1 : col + 1 + k], dtype=np.float64))
                    col += 1 + k
        except (IndexError, ValueError):
            raise DataError(f"{path}: bad PLY {el.name!r} row {row[:60]!r}") from None
    return {name: _stack(vals) for name, vals in out.items()}


def ply_declares_faces(path: str | Path) -> bool:
    """Whether a PLY header declares at least one face (a mesh, not a point cloud).

    Reads only the first 4 KiB, so a folder can be sorted cheaply; a file
    that cannot be read or is not a PLY counts as a mesh (the mesh reader
    then names the problem).
    """
    try:
        with open(path, "rb") as fp:
            head = fp.read(4096)
    except OSError:
        return True
    end = head.find(b"end_header")
    for line in (head[:end] if end >= 0 else head).splitlines():
        tok = line.split()
        if len(tok) == 3 and tok[0] == b"element" and tok[1] == b"face":
            return tok[2] != b"0"
    return end < 0  # a header longer than 4 KiB: let the mesh reader decide


def triangulate(polygons: np.ndarray, n_vertices: int, path: Path) -> np.ndarray:
    """Split polygons (an ``(F, k)`` array or an object array of index lists)
    into ``(T, 3)`` int64 triangle fans; check every index is in range."""
    if len(polygons) == 0:
        return np.zeros((0, 3), np.int64)
    if polygons.dtype != object:
        poly = polygons.reshape(len(polygons), -1)
        k = poly.shape[1]
        tris = (
            np.stack([poly[:, [0, i, i + 1]] for i in range(1, k - 1)], axis=1).reshape(-1, 3)
            if k >= 3
            else np.zeros((0, 3))
        )
    else:
        fans = [np.asarray(p)[[0, i, i + 1]] for p in polygons for i in range(1, len(p) - 1)]
        tris = np.array(fans).reshape(-1, 3) if fans else np.zeros((0, 3))
    if tris.size and (not np.all(np.isfinite(tris)) or tris.min() < 0 or tris.max() >= n_vertices):
        raise DataError(
            f"{path}: a face refers to a vertex that does not exist ({n_vertices} vertices)"
        )
    return tris.astype(np.int64)


def read_ply(path: str | Path) -> PlyMesh:
    """Read the vertices and faces of a PLY file.

    Raises
    ------
    DataError
        Not a PLY file, unsupported format, counts that do not fit the file,
        no ``x y z`` vertex properties, bad face indices or non-finite
        coordinates; the message names the file.
    """
    path = Path(path)
    data = read_limited(path)
    fmt, elements, body = _parse_header(path, data)
    found: dict[str, dict[str, np.ndarray]] = {}
    if fmt == "ascii":
        lines = [ln for ln in data[body:].splitlines() if ln.strip()]
        start = 0
        for el in elements:
            # Every row needs at least one byte per property plus a newline.
            _check_fits(path, el, 2 * max(len(el.props), 1), len(data) - body)
            found[el.name], start = _read_ascii(path, lines, start, el)
    else:
        pos = body
        for el in elements:
            found[el.name], pos = _read_binary(path, data, pos, el, _FORMATS[fmt])
    vertex = found.get("vertex", {})
    if not all(k in vertex for k in "xyz"):
        raise DataError(f"{path}: PLY file has no vertex element with x, y, z")
    with np.errstate(invalid="ignore"):  # signalling NaNs warn; refused just below
        vertices = np.stack([vertex[k] for k in "xyz"], axis=1).astype(np.float64)
    if not np.all(np.isfinite(vertices)):
        raise DataError(f"{path}: PLY vertices hold NaN or infinite coordinates")
    face = found.get("face", {})
    polys = face.get("vertex_indices", face.get("vertex_index"))
    faces = (
        triangulate(polys, len(vertices), path)
        if polys is not None and len(polys)
        else np.zeros((0, 3), np.int64)
    )
    return PlyMesh(vertices, faces, fmt)


def ply_bytes(vertices: np.ndarray, faces: np.ndarray | None = None, binary: bool = True) -> bytes:
    """Encode a point cloud (``faces`` None) or triangle mesh as PLY.

    Coordinates are written as float32 (``%.9g`` in ASCII, which reads back
    to the same float32), triangle indices as int32.
    """
    v = np.ascontiguousarray(vertices, dtype=np.float32).reshape(-1, 3)
    f = None if faces is None else np.ascontiguousarray(faces, dtype=np.int32).reshape(-1, 3)
    header = [
        "ply",
        f"format {'binary_little_endian' if binary else 'ascii'} 1.0",
        "comment written by EBM Studio",
        f"element vertex {len(v)}",
        "property float x",
        "property float y",
        "property float z",
    ]
    if f is not None:
        header += [f"element face {len(f)}", "property list uchar int vertex_indices"]
    header.append("end_header")
    head = ("\n".join(header) + "\n").encode("ascii")
    if binary:
        body = v.astype("<f4").tobytes()
        if f is not None:
            rows = np.empty(len(f), dtype=[("n", "u1"), ("i", "<i4", (3,))])
            rows["n"], rows["i"] = 3, f
            body += rows.tobytes()
        return head + body
    text = "".join(f"{a:.9g} {b:.9g} {c:.9g}\n" for a, b, c in v.tolist())
    if f is not None:
        text += "".join(f"3 {a} {b} {c}\n" for a, b, c in f.tolist())
    return head + text.encode("ascii")
