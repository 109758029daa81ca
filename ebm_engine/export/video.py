"""Animations of Langevin chains: GIF (Pillow) and MP4 (bundled ffmpeg).

MP4 goes through ``imageio-ffmpeg``'s own ffmpeg binary, so no system
ffmpeg is needed (the packaged app has none). Frames are upscaled with
nearest neighbour when tiny (a 16×16 sample grid would be a smudge in any
player) and padded to even sizes, which H.264 with yuv420p requires.
"""

from __future__ import annotations

import errno
import math
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from ebm_engine.atomic import atomic_path
from ebm_engine.errors import ExportError
from ebm_engine.export.images import make_grid, to_uint8, upscale_nearest

ANIMATION_EXTENSIONS = (".gif", ".mp4")


def chain_to_frames(
    frames_x: Sequence[np.ndarray], nrow: int | None = None, pad: int = 2
) -> list[np.ndarray]:
    """Turn recorded chain states into animation frames.

    Parameters
    ----------
    frames_x : sequence of numpy.ndarray
        One ``(N, C, H, W)`` display-space batch (in ``[0, 1]``) per recorded
        Langevin step, all of the same shape.
    nrow : int, optional
        Images per row of each grid (default square-ish).
    pad : int
        Pixels between tiles.

    Returns
    -------
    list of numpy.ndarray
        ``(H', W', 3)`` uint8 grids, one per step, for :func:`save_animation`.

    Raises
    ------
    ExportError
        The batches differ in shape.
    """
    shapes = {np.shape(f) for f in frames_x}
    if len(shapes) > 1:
        raise ExportError(f"chain frames differ in shape: {sorted(shapes)}")
    return [make_grid(f, nrow=nrow, pad=pad) for f in frames_x]


def _rgb_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Stack frames as ``(T, H, W, 3)`` uint8, checking they agree."""
    out = []
    for i, f in enumerate(frames):
        f = to_uint8(f)
        if f.ndim == 3 and f.shape[2] == 1:
            f = f[:, :, 0]
        if f.ndim == 2:
            f = np.repeat(f[:, :, None], 3, axis=2)
        if f.ndim != 3 or f.shape[2] != 3:
            raise ExportError(f"frame {i} has shape {f.shape}; expected (H, W, 3) or (H, W)")
        if out and f.shape != out[0].shape:
            raise ExportError(
                f"frame {i} is {f.shape[1]}x{f.shape[0]}, frame 0 is "
                f"{out[0].shape[1]}x{out[0].shape[0]}"
            )
        out.append(f)
    return np.stack(out)


def save_animation(
    frames: Sequence[np.ndarray], path: str | Path, fps: float = 10, min_width: int = 256
) -> Path:
    """Write frames as a looping GIF or an H.264 MP4, atomically.

    Parameters
    ----------
    frames : sequence of numpy.ndarray
        ``(H, W, 3)`` or ``(H, W)`` frames, ``uint8`` or float in ``[0, 1]``.
    path : str or Path
        Target ``.gif`` or ``.mp4``; its folder must exist.
    fps : float
        Frames per second. GIFs store delays in 10 ms steps and players
        slow anything under 20 ms down, so GIFs play at most 50 fps.
    min_width : int
        Frames narrower than this are enlarged by the smallest integer factor
        that reaches it (nearest neighbour, so pixels stay crisp).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ExportError
        Unknown extension, no frames, frames of different sizes, a missing
        or read-only folder, or an encoder failure.

    Notes
    -----
    Pillow merges identical consecutive GIF frames into one longer frame,
    so a converged chain may read back with fewer frames (same duration).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in ANIMATION_EXTENSIONS:
        raise ExportError(
            f"{path}: unsupported animation format {ext or '(none)'!r}; use .gif or .mp4"
        )
    if len(frames) == 0:
        raise ExportError(f"{path}: no frames to write")
    if fps <= 0:
        raise ExportError(f"{path}: fps must be > 0, got {fps}")
    video = _rgb_frames(frames)
    width = video.shape[2]
    if width < min_width:
        factor = math.ceil(min_width / width)
        video = np.stack([upscale_nearest(f, factor) for f in video])
    try:
        with atomic_path(path) as tmp:
            if ext == ".gif":
                _write_gif(video, tmp, fps)
            else:
                _write_mp4(video, tmp, fps)
    except ExportError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise ExportError(f"{path}: cannot write ({_reason(exc)})") from None
    return path


def _reason(exc: BaseException) -> str:
    """One line out of an exception (ffmpeg errors carry its whole log)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _write_gif(video: np.ndarray, tmp: Path, fps: float) -> None:
    images = [Image.fromarray(f) for f in video]
    duration = max(20, round(1000 / fps / 10) * 10)
    images[0].save(
        tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0
    )


def _write_mp4(video: np.ndarray, tmp: Path, fps: float) -> None:
    import imageio_ffmpeg  # heavy-ish; only needed here

    _, h, w, _ = video.shape
    # yuv420p halves chroma resolution, so both sides must be even.
    video = np.pad(video, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))
    writer = imageio_ffmpeg.write_frames(
        str(tmp),
        (video.shape[2], video.shape[1]),
        fps=fps,
        codec="libx264",
        quality=8,
        macro_block_size=1,  # keep our size; the default rescales to multiples of 16
        ffmpeg_log_level="error",
        output_params=["-f", "mp4"],  # the temp name ends in .tmp.mp4; be explicit
    )
    writer.send(None)  # start ffmpeg
    try:
        for frame in video:
            writer.send(np.ascontiguousarray(frame))
    finally:
        writer.close()
    # imageio-ffmpeg never reads ffmpeg's exit status: on a full disk the trailer fails,
    # and the truncated file would have replaced the user's old one as a success
    if not mp4_complete(tmp):
        raise OSError(errno.EIO, "the encoder did not finish the file; is the disk full?")


def mp4_complete(path: Path) -> bool:
    """Whether ``path`` is a whole MP4: its top-level boxes fill the file exactly and
    include the ``moov`` index (the last thing ffmpeg writes)."""
    size = path.stat().st_size
    seen: set[bytes] = set()
    offset = 0
    with open(path, "rb") as f:
        while offset < size:
            f.seek(offset)
            header = f.read(16)
            if len(header) < 8:
                return False
            length, kind = struct.unpack(">I4s", header[:8])
            if length == 1 and len(header) == 16:  # a 64-bit size follows the type
                length = struct.unpack(">Q", header[8:16])[0]
            elif length == 0:  # the box runs to the end of the file
                length = size - offset
            if length < 8 or offset + length > size:
                return False
            seen.add(kind)
            offset += length
    return b"moov" in seen and b"mdat" in seen


def read_animation(path: str | Path) -> np.ndarray:
    """Read a GIF or MP4 back as frames (used by round-trip tests).

    Parameters
    ----------
    path : str or Path
        A ``.gif`` or ``.mp4`` file.

    Returns
    -------
    numpy.ndarray
        ``(T, H, W, 3)`` uint8.

    Raises
    ------
    ExportError
        Unknown extension, missing or unreadable file.
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in ANIMATION_EXTENSIONS:
        raise ExportError(f"{path}: unsupported animation format {ext!r}; use .gif or .mp4")
    try:
        if ext == ".gif":
            with Image.open(path) as img:
                frames = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)]
        else:
            frames = _read_mp4(path)
    except (OSError, RuntimeError, ValueError, SyntaxError) as exc:
        raise ExportError(f"{path}: cannot read animation ({_reason(exc)})") from None
    if not frames:
        raise ExportError(f"{path}: animation has no frames")
    return np.stack(frames)


def _read_mp4(path: Path) -> list[np.ndarray]:
    import imageio_ffmpeg

    if not path.is_file():
        raise FileNotFoundError(path)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    try:
        return [np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3).copy() for buf in reader]
    finally:
        reader.close()
