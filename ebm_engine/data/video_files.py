"""Video readers: movie files through imageio, and folders of frames.

- ``video`` (``.mp4 .gif .avi .mov .mkv .webm``): decoded frame by frame
  with imageio (the bundled imageio-ffmpeg binary; GIFs with Pillow), so
  only resized frames are ever held. A folder of videos reads every video
  in it.
- ``video-frames`` (chosen with ``data.options.reader = "video-frames"``): a
  folder of numbered pictures is one video (natural order: ``f2`` before
  ``f10``); a folder of such folders is one video each.

Each video is cut into clips of ``data.options["frames"]`` (16) frames,
``clip_hop`` (= ``frames``: no overlap) apart, after keeping every
``frame_step``-th frame (1). Frames are centre-cropped (``data.crop``) and
resized to ``data.image_size`` (0 keeps the file's size), converted to one
channel with ``data.grayscale``. Items are ``(C, T, H, W)`` in ``[-1, 1]``,
stored as the frames' 8-bit values (``2 u / 255 - 1``); what these readers
decode is kept in the decoded-data cache (:mod:`ebm_engine.data.cache`).

A video of more than 4096 kept frames, a frame over 50 megapixels or a
dataset over 100M values is refused before it is decoded (from the file's
metadata where it has any, else as soon as the limit is crossed).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ebm_engine.config import DataConfig
from ebm_engine.data import progress
from ebm_engine.data._collect import MAX_VALUES, check_total, collect_files, int_option
from ebm_engine.data.catalogue import reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.errors import DataError

VIDEO_EXTENSIONS = (".mp4", ".gif", ".avi", ".mov", ".mkv", ".webm")
FRAME_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
MAX_FRAMES = 4096
MAX_FRAME_PIXELS = 50_000_000


def _to_uint8(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim == 3 and frame.shape[2] in (2, 4):
        frame = frame[..., :-1]  # drop alpha
    if frame.ndim == 3 and frame.shape[2] == 1:
        frame = frame[..., 0]
    if frame.dtype == np.uint8:
        return frame
    if np.issubdtype(frame.dtype, np.integer):
        return (frame.astype(np.float64) / np.iinfo(frame.dtype).max * 255).round().astype(np.uint8)
    return (np.clip(frame, 0, 1) * 255).round().astype(np.uint8)


def prepare_frame(image: Image.Image, size: int, crop: bool, grayscale: bool) -> np.ndarray:
    """Crop, resize and convert one frame; returns ``(C, H, W)`` uint8."""
    image = image.convert("L" if grayscale else "RGB")
    if size:
        if crop:
            w, h = image.size
            s = min(w, h)
            image = image.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        image = image.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    arr = np.asarray(image, dtype=np.uint8)  # Pillow resamples 8-bit frames in 8 bits
    return np.ascontiguousarray(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))


class _FrameBudget:
    """Counts kept frames and values; refuses as soon as a limit is crossed."""

    def __init__(self, path: Path):
        self.path, self.frames, self.values = path, 0, 0

    def add(self, frame: np.ndarray) -> None:
        self.frames += 1
        self.values += frame.size
        if self.frames > MAX_FRAMES:
            raise DataError(
                f"{self.path}: more than {MAX_FRAMES} frames; raise data.options.frame_step "
                "or cut the video"
            )
        if self.values > MAX_VALUES:
            raise DataError(
                f"{self.path}: decoded frames exceed {MAX_VALUES // 10**6}M values; "
                "lower data.image_size or raise data.options.frame_step"
            )


def _check_frame_pixels(path: Path, width: int, height: int) -> None:
    if width * height > MAX_FRAME_PIXELS:
        raise DataError(
            f"{path}: frames of {width}x{height} are over the {MAX_FRAME_PIXELS // 10**6} MP limit"
        )


def _check_video(path: Path, props: Any, meta: dict[str, Any], frame_step: int) -> float:
    """Refuse stills, huge frames and overlong videos from the metadata; return the fps."""
    if not props.is_batch or len(props.shape) < 3:
        raise DataError(f"{path}: not a video (a single image of shape {props.shape})")
    _check_frame_pixels(path, props.shape[2], props.shape[1])
    if path.suffix.lower() == ".gif":
        ms = meta.get("duration") or 0  # per frame, in milliseconds
        fps, estimate = (1000.0 / ms if ms else 0.0), float(props.n_images)
    else:
        # ffmpeg reports n_images = inf; duration (s) × fps estimates the count.
        fps = float(meta.get("fps") or 0.0)
        n = float(props.n_images)
        estimate = n if np.isfinite(n) else float(meta.get("duration") or 0.0) * fps
    if estimate > (MAX_FRAMES + 1) * frame_step:
        raise DataError(
            f"{path}: about {int(estimate)} frames, more than {MAX_FRAMES} after frame_step "
            f"{frame_step}; raise data.options.frame_step or cut the video"
        )
    return fps


def read_video_file(
    path: str | Path, size: int = 0, crop: bool = True, grayscale: bool = False, frame_step: int = 1
) -> tuple[np.ndarray, float]:
    """Decode a video file into frames.

    Returns
    -------
    frames : np.ndarray
        ``(T, C, H, W)`` uint8.
    fps : float
        Frame rate from the file's metadata (0 when unknown).

    Raises
    ------
    DataError
        Unreadable file, or over the limits in the module docstring.
    """
    import imageio.v3 as iio

    path = Path(path)
    frames: list[np.ndarray] = []
    try:
        with iio.imopen(path, "r") as video:
            fps = _check_video(path, video.properties(), video.metadata(), frame_step)
            budget = _FrameBudget(path)
            for i, raw in enumerate(video.iter()):
                if i % frame_step:
                    continue
                frame = prepare_frame(Image.fromarray(_to_uint8(raw)), size, crop, grayscale)
                budget.add(frame)
                frames.append(frame)
    except DataError:
        raise
    except Exception as exc:  # imageio and its plugins raise many types for a broken file
        where = f"after {len(frames)} frames " if frames else ""
        why = " ".join(str(exc).split())[:80]  # ffmpeg's messages span lines
        raise DataError(
            f"{path}: not a readable video {where}({type(exc).__name__}: {why})"
        ) from None
    if not frames:
        raise DataError(f"{path}: no frames in this video")
    return np.stack(frames), fps


def _natural_key(p: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def read_frame_folder(
    folder: str | Path,
    size: int = 0,
    crop: bool = True,
    grayscale: bool = False,
    frame_step: int = 1,
) -> np.ndarray:
    """Read a folder of numbered pictures as one video, ``(T, C, H, W)`` uint8."""
    folder = Path(folder)
    files = sorted(
        (
            p
            for p in folder.iterdir()
            if p.suffix.lower() in FRAME_EXTENSIONS and not p.name.startswith(".")
        ),
        key=_natural_key,
    )[::frame_step]
    if not files:
        raise DataError(f"{folder}: no frames ({' '.join(FRAME_EXTENSIONS)}) in this folder")
    if len(files) > MAX_FRAMES:
        raise DataError(
            f"{folder}: {len(files)} frames, more than {MAX_FRAMES}; raise data.options.frame_step"
        )
    budget = _FrameBudget(folder)
    frames = []
    for f in files:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(f) as im:
                    _check_frame_pixels(f, *im.size)  # from the header, before decoding
                    frame = prepare_frame(im, size, crop, grayscale)
        except DataError:
            raise
        except (
            OSError,
            SyntaxError,
            ValueError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
        ) as exc:
            raise DataError(f"{f}: cannot read frame ({type(exc).__name__})") from None
        if frames and frame.shape != frames[0].shape:
            raise DataError(f"{f}: frame size differs from the first frame's; set data.image_size")
        budget.add(frame)
        frames.append(frame)
    return np.stack(frames)


def cut_clips(frames: np.ndarray, length: int, hop: int, source: Path) -> Iterator[np.ndarray]:
    """Yield ``(C, T, H, W)`` clips of ``length`` frames, ``hop`` frames apart."""
    if len(frames) < length:
        raise DataError(
            f"{source}: {len(frames)} frames, fewer than data.options.frames = {length}"
        )
    for start in range(0, len(frames) - length + 1, hop):
        yield frames[start : start + length].transpose(1, 0, 2, 3)


def _clip_options(cfg: DataConfig) -> tuple[int, int, int]:
    length = int_option(cfg.options, "frames", 16, 1, MAX_FRAMES)
    hop = int_option(cfg.options, "clip_hop", length, 1, MAX_FRAMES)
    step = int_option(cfg.options, "frame_step", 1, 1, 1000)
    if cfg.image_size > 4096:
        raise DataError(f"data.image_size {cfg.image_size} is too large for video frames")
    return length, hop, step


def _clips_dataset(
    path: Path, videos: list[tuple[Path, np.ndarray]], cfg: DataConfig, fps: float
) -> Dataset:
    length, hop, _ = _clip_options(cfg)
    clips: list[np.ndarray] = []
    for source, frames in videos:
        for clip in cut_clips(frames, length, hop, source):
            if clips and clip.shape != clips[0].shape:
                raise DataError(
                    f"{source}: frame size {clip.shape[2]}x{clip.shape[3]} differs from the first "
                    f"video's {clips[0].shape[2]}x{clips[0].shape[3]}; set data.image_size"
                )
            check_total(path, len(clips) + 1, clip.size)  # overlapping clips repeat frames
            clips.append(clip)
            if len(clips) == cfg.max_items:
                break
        if len(clips) == cfg.max_items:
            break
    x = torch.from_numpy(np.stack(clips))
    meta = {"files": [str(s) for s, _ in videos], "fps": fps or 12.0, "frames": length}
    return Dataset(str(path), "video", x, (-1.0, 1.0), meta, scale=2.0 / 255.0, offset=-1.0)


@reader("video", VIDEO_EXTENSIONS, label="videos", cacheable=True,
        options=("frames", "clip_hop", "frame_step"))
def read_videos(path: Path, cfg: DataConfig) -> Dataset:
    """Read a video file (or every video under a folder) as clips.

    Parameters
    ----------
    path : Path
        A video file, or a folder of them.
    cfg : DataConfig
        ``image_size``, ``crop``, ``grayscale``; ``options.frames`` (16),
        ``options.clip_hop`` (= frames), ``options.frame_step`` (1).
    """
    _, _, step = _clip_options(cfg)
    videos, fps = [], 0.0
    files = collect_files(path, VIDEO_EXTENSIONS, "video")
    progress.expect(len(files))
    for f in files:
        frames, rate = read_video_file(f, cfg.image_size, cfg.crop, cfg.grayscale, step)
        videos.append((f, frames))
        fps = fps or rate / step
        progress.advance()
    return _clips_dataset(path, videos, cfg, fps)


# Never chosen by itself: a folder of pictures is read as images unless the
# user says it is one video.
@reader("video-frames", (), label="video frames", folder_extensions=FRAME_EXTENSIONS, auto=False,
        cacheable=True, options=("frames", "clip_hop", "frame_step"))
def read_video_frames(path: Path, cfg: DataConfig) -> Dataset:
    """Read a folder of frames (or a folder of such folders) as clips.

    Parameters
    ----------
    path : Path
        The folder; chosen with ``data.options.reader = "video-frames"``.
    cfg : DataConfig
        As for :func:`read_videos`.
    """
    if not path.is_dir():
        raise DataError(f"{path}: the video-frames reader needs a folder of pictures")
    _, _, step = _clip_options(cfg)
    has_frames = any(p.suffix.lower() in FRAME_EXTENSIONS for p in path.iterdir())
    folders = (
        [path]
        if has_frames
        else sorted(
            (p for p in path.iterdir() if p.is_dir() and not p.name.startswith(".")),
            key=_natural_key,
        )
    )
    if not folders:
        raise DataError(
            f"{path}: no frames ({' '.join(FRAME_EXTENSIONS)}) and no frame folders here"
        )
    progress.expect(len(folders))
    videos = []
    for f in folders:
        videos.append((f, read_frame_folder(f, cfg.image_size, cfg.crop, cfg.grayscale, step)))
        progress.advance()
    return _clips_dataset(path, videos, cfg, 0.0)
