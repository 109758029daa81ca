"""Pre-flight resource checks: refuse a run that cannot fit, before allocating it.

``--set model.width=100000`` would otherwise end in a traceback after trying
to allocate terabytes, and ``--set data.image_size=100000`` would start
decoding a 72 TB dataset. Two checks catch these with one-line
:class:`~ebm_engine.errors.ConfigError` messages that name the knob:

- :func:`check_data` runs before the dataset is decoded: it counts files and
  reads image headers, never pixels;
- :func:`check_resources` runs once the item shape is known, before the
  method is built: it builds the energy network on PyTorch's ``meta``
  device (shapes only, no memory) to count parameters and activations.

Estimates are deliberately rough (fp32 weights, gradients and two Adam
moments; activations of one forward over data and synthesised batches, times
a factor for the backward pass; the persistent chain buffer; the dataset
copy on an accelerator), and a run is refused only above
:data:`SAFETY_FRACTION` of the free memory, so a run that fits is never
refused because of the estimate's slack.
"""

from __future__ import annotations

import functools
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from ebm_engine.config import DataConfig, RunConfig
from ebm_engine.errors import ConfigError

# Refuse above this share of the free memory: the OS, the CUDA context,
# allocator fragmentation and the estimate's slack need the rest.
SAFETY_FRACTION = 0.8
# fp32 weights + gradients + Adam's two moments.
PARAMETER_COPIES = 4
# Activations kept for backward, plus the gradients flowing back through them.
BACKWARD_FACTOR = 2
FLOAT_BYTES = 4
# Knobs blamed when a run does not fit, most specific first.
MODEL_KNOBS = ("model.width", "model.depth", "train.batch_size", "sampler.buffer_size")


@dataclass(frozen=True)
class Estimate:
    """Memory one training iteration needs on its device, in bytes.

    Attributes
    ----------
    parameters : int
        Trainable parameters of the energy network.
    parameter_bytes : int
        Weights, gradients and two Adam moments (fp32), plus module buffers.
    activation_bytes : int
        Activations of one step over the data and synthesised batches,
        including the backward pass.
    buffer_bytes : int
        The persistent chain buffer (``sampler.init == "persistent"``).
    exact : bool
        ``True`` when counted on the meta device; ``False`` when that failed
        and a rough analytic lower bound was used instead.
    """

    parameters: int
    parameter_bytes: int
    activation_bytes: int
    buffer_bytes: int
    exact: bool = True

    @property
    def total(self) -> int:
        """Everything above, summed."""
        return self.parameter_bytes + self.activation_bytes + self.buffer_bytes


# --- sizes -----------------------------------------------------------------------


def format_bytes(n: float) -> str:
    """``1234567890`` → ``"1.2 GB"`` (decimal units, as disks and ``df -H`` count).

    Parameters
    ----------
    n : float
        A number of bytes.

    Returns
    -------
    str
        Two significant digits below 10 of a unit, none above.
    """
    value = float(n)
    unit = "B"
    for bigger in ("kB", "MB", "GB", "TB", "PB"):
        if abs(value) < 1000:
            break
        value, unit = value / 1000, bigger
    if unit == "B":
        return f"{int(value)} B"
    return f"{value:.1f} {unit}" if abs(value) < 10 else f"{value:.0f} {unit}"


# --- what the machine has ------------------------------------------------------


def available_memory(device: torch.device | str) -> int:
    """Free memory on ``device`` in bytes (0 when it cannot be told).

    Parameters
    ----------
    device : torch.device or str
        ``cuda[:N]``: the GPU's free memory (``torch.cuda.mem_get_info``).
        Anything else: free RAM, i.e. ``MemAvailable`` of ``/proc/meminfo``,
        lowered to what the process's memory cgroup still allows (containers
        and SLURM jobs); without procfs, ``os.sysconf``.

    Returns
    -------
    int
        Bytes; 0 means unknown (callers then skip their check).
    """
    device = torch.device(device)
    if device.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(device)
            return int(free)
        except (RuntimeError, AssertionError, ValueError):  # no driver, bad index
            return 0
    # MPS shares the machine's RAM, so RAM is the right figure there too.
    ram = _meminfo_available()
    if ram is None:
        ram = _sysconf_available()
    limit = _cgroup_available()
    if limit is not None:
        ram = limit if ram is None else min(ram, limit)
    return max(int(ram or 0), 0)


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _sysconf_available() -> int | None:
    try:
        page = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    # SC_AVPHYS_PAGES is free memory where it exists (not on macOS); there the
    # physical total is the best we have without third-party packages.
    for name in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            pages = os.sysconf(name)
        except (AttributeError, ValueError, OSError):
            continue
        if pages > 0:
            return pages * page
    return None


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None  # "max" = no limit


def _stat_value(path: Path, key: str) -> int:
    try:
        for line in path.read_text(encoding="ascii").splitlines():
            name, _, value = line.partition(" ")
            if name == key and value.strip().isdigit():
                return int(value)
    except (OSError, UnicodeDecodeError):
        pass
    return 0


def _cgroup_available() -> int | None:
    """Bytes the memory cgroup(s) of this process still allow, or ``None``."""
    try:
        lines = Path("/proc/self/cgroup").read_text(encoding="ascii").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    best: int | None = None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # cgroup v2
            root, files = Path("/sys/fs/cgroup"), ("memory.max", "memory.current", "inactive_file")
        elif "memory" in controllers.split(","):  # cgroup v1
            root = Path("/sys/fs/cgroup/memory")
            files = ("memory.limit_in_bytes", "memory.usage_in_bytes", "total_inactive_file")
        else:
            continue
        # Inside a container the path may not exist under its own mount: the
        # mount root is then the container's cgroup. Limits also apply from
        # every ancestor, so walk up to the root.
        leaf = root / rel.lstrip("/")
        folder = leaf if leaf.is_dir() else root
        while True:
            limit = _read_int(folder / files[0])
            usage = _read_int(folder / files[1])
            # v1 reports "no limit" as a huge number; ignore anything above 2^60.
            if limit is not None and usage is not None and limit < 2**60:
                # Inactive page cache is reclaimable: count it as free (as
                # the kernel's own OOM logic and container tools do).
                working = usage - _stat_value(folder / "memory.stat", files[2])
                free = max(limit - max(working, 0), 0)
                best = free if best is None else min(best, free)
            if folder == root or root not in folder.parents:
                break
            folder = folder.parent
    return best


# --- the model -----------------------------------------------------------------


def estimate_model(cfg: RunConfig, item_shape: tuple[int, ...]) -> Estimate:
    """Estimate the memory of one training iteration of ``cfg``'s energy network.

    The network is built on the ``meta`` device (shapes without storage, so a
    terabyte model costs nothing) and run forward once at
    ``train.batch_size`` with hooks that add up every layer's output size.
    Only the energy network is counted, not a method's auxiliary networks
    (generators, flows), which are of similar or smaller size in the presets.

    Parameters
    ----------
    cfg : RunConfig
        The run's configuration.
    item_shape : tuple of int
        Shape of one training item (``Dataset.item_shape``).

    Returns
    -------
    Estimate
        Never raises for a model that cannot be built or run on ``meta``:
        a rough lower bound (``exact=False``) is returned instead, so an
        unusual network is at worst not checked, never refused wrongly.
    """
    item_shape = tuple(int(s) for s in item_shape)
    item_values = math.prod(item_shape)
    batch = cfg.train.batch_size
    buffer_bytes = (cfg.sampler.buffer_size * item_values * FLOAT_BYTES
                    if cfg.sampler.init == "persistent" else 0)
    counted = meta_count(cfg, item_shape)
    width, depth = cfg.model.width, cfg.model.depth
    if counted is None:
        # A lower bound for any net with `depth` hidden layers of `width` units.
        params = width * width * max(depth - 1, 1)
        state, outputs, exact = 0, batch * (item_values + width * depth), False
    else:
        params, state, outputs = counted
        exact = outputs is not None
        if outputs is None:
            outputs = batch * (item_values + width * depth)
    # Data and synthesised batches each go through the network (×2), and
    # their activations are kept for backward (BACKWARD_FACTOR).
    activation_bytes = 2 * BACKWARD_FACTOR * (outputs + batch * item_values) * FLOAT_BYTES
    return Estimate(
        parameters=params,
        parameter_bytes=(PARAMETER_COPIES * params + state) * FLOAT_BYTES,
        activation_bytes=activation_bytes,
        buffer_bytes=buffer_bytes,
        exact=exact,
    )


def meta_count(cfg: RunConfig, item_shape: tuple[int, ...]) -> tuple[int, int, int | None] | None:
    """``(parameters, other state values, output values at batch size)`` from a
    meta-device build, ``None`` if it cannot be built, outputs ``None`` if it
    cannot be run."""
    from ebm_engine.models.registry import build_model

    try:
        with torch.device("meta"):
            net = build_model(cfg.model, item_shape)
    except Exception:  # any builder failure: fall back, the real build reports it
        return None
    params = sum(p.numel() for p in net.parameters() if p.requires_grad)
    state = sum(p.numel() for p in net.parameters() if not p.requires_grad)
    state += sum(b.numel() for b in net.buffers())
    outputs = 0

    def count(_module, _inputs, output) -> None:
        nonlocal outputs
        for t in output if isinstance(output, (tuple, list)) else (output,):
            if isinstance(t, torch.Tensor):
                outputs += t.numel()

    # Leaf modules only: a container's output is its last child's, counted already.
    hooks = [m.register_forward_hook(count) for m in net.modules() if not any(m.children())]
    try:
        with torch.no_grad():
            net(torch.empty((cfg.train.batch_size, *item_shape), device="meta"))
    except Exception:  # data-dependent forward (.item(), CPU tensors): parameters only
        return params, state, None
    finally:
        for h in hooks:
            h.remove()
    return params, state, outputs


def check_resources(
    cfg: RunConfig,
    item_shape: tuple[int, ...],
    device: torch.device | str,
    dataset_bytes: int | None = None,
) -> None:
    """Refuse a run whose one iteration cannot fit in ``device``'s free memory.

    Call it once the item shape is known and before the method is built.

    Parameters
    ----------
    cfg : RunConfig
        The run's configuration.
    item_shape : tuple of int
        Shape of one training item.
    device : torch.device or str
        Where the run will train.
    dataset_bytes : int, optional
        Size of the training items (``dataset.items.nbytes``). Counted only
        on an accelerator, where the trainer copies them; on the CPU they are
        already in memory (and so already missing from the free figure).

    Raises
    ------
    ConfigError
        One line naming the knob most responsible, the estimate and the free
        memory, e.g. ``model.width=100000 needs ≈ 26 TB for one iteration;
        this machine has 22 GB free``.
    """
    device = torch.device(device)
    available = available_memory(device)
    if available <= 0:
        return  # unknown: better to try than to refuse
    est = estimate_model(cfg, item_shape)
    data_bytes = int(dataset_bytes or 0) if device.type not in ("cpu", "meta") else 0
    total = est.total + data_bytes
    if total <= SAFETY_FRACTION * available:
        return
    knob = _blame(cfg, item_shape, est, data_bytes)
    where = "this machine has" if device.type in ("cpu", "mps") else f"{device} has"
    parts = [f"weights+Adam {format_bytes(est.parameter_bytes)}",
             f"activations {format_bytes(est.activation_bytes)}"]
    if est.buffer_bytes:
        parts.append(f"chain buffer {format_bytes(est.buffer_bytes)}")
    if data_bytes:
        parts.append(f"dataset {format_bytes(data_bytes)}")
    raise ConfigError(
        f"{knob} needs ≈ {format_bytes(total)} for one iteration ({', '.join(parts)}); "
        f"{where} {format_bytes(available)} free"
    )


def _blame(cfg: RunConfig, item_shape: tuple[int, ...], est: Estimate, data_bytes: int) -> str:
    """``key=value`` of the knob whose reset to its default saves the most memory."""
    defaults = RunConfig()
    best_key, best_saving = None, 0
    for key in MODEL_KNOBS:
        value, default = cfg.get_value(key), defaults.get_value(key)
        if value <= default or (key == "sampler.buffer_size" and not est.buffer_bytes):
            continue  # only a knob raised above its default is to blame
        try:
            trial = cfg.with_value(key, default)
        except ConfigError:
            continue
        saving = est.total - estimate_model(trial, item_shape).total
        if saving > best_saving:
            best_key, best_saving = key, saving
    if data_bytes > best_saving:
        key = "data.image_size" if cfg.data.image_size else "data.max_items"
        return f"{key}={cfg.get_value(key)}"
    if best_key is None:  # nothing above its default: the biggest part's knob
        parts = {"model.width": est.parameter_bytes, "train.batch_size": est.activation_bytes,
                 "sampler.buffer_size": est.buffer_bytes}
        best_key = max(parts, key=lambda k: parts[k])
    return f"{best_key}={cfg.get_value(best_key)}"


# --- the data --------------------------------------------------------------------


@dataclass(frozen=True)
class _DataSize:
    items: int
    item_shape: tuple[int, ...]
    what: str  # "images", "digits items" … for messages
    # Image files are held as decoded 8-bit pixels (ebm_engine.data.cache);
    # only each batch becomes float32.
    bytes_per_value: int = FLOAT_BYTES

    @property
    def nbytes(self) -> int:
        return self.items * math.prod(self.item_shape) * self.bytes_per_value


def estimate_dataset_bytes(cfg: DataConfig) -> int | None:
    """Decoded size of ``cfg``'s dataset in bytes, without decoding it.

    Known for folders of images and single images (files are counted and at
    most one header is read) and for the built-in image demos (loaded once at
    their own small default size, then scaled to ``data.image_size``).

    Parameters
    ----------
    cfg : DataConfig
        The data section of the run's configuration.

    Returns
    -------
    int or None
        Bytes of the items as held (8-bit pixels for image files, float32
        for demos), or ``None`` when unknown (other data kinds: their
        readers check their own limits).
    """
    size = _data_size(cfg)
    return None if size is None else size.nbytes


def check_data(cfg: DataConfig) -> None:
    """Refuse data that cannot be decoded in the free RAM, before decoding it.

    Call it before :func:`ebm_engine.data.load_dataset`. Catches
    ``data.image_size`` far too large for a folder of images, one image, or
    a built-in image demo (``digits``, ``texture-*``), and folders of too
    many full-size images.

    Parameters
    ----------
    cfg : DataConfig
        The data section of the run's configuration.

    Raises
    ------
    ConfigError
        One line naming ``data.image_size`` (or ``data.max_items``), the
        estimate and the free memory.
    """
    size = _data_size(cfg)
    if size is None:
        return
    available = available_memory(torch.device("cpu"))
    if available <= 0 or size.nbytes <= SAFETY_FRACTION * available:
        return
    shape = "x".join(map(str, size.item_shape))
    if cfg.image_size:
        knob = f"data.image_size={cfg.image_size}"
    elif cfg.max_items or size.items == 1:
        knob = f"data.image_size=0 (the files' own size, {shape})"
    else:
        knob = f"data.max_items={cfg.max_items}"
    raise ConfigError(
        f"{knob} needs ≈ {format_bytes(size.nbytes)} to decode {size.items} {size.what} "
        f"of {shape}; this machine has {format_bytes(available)} free"
    )


def _data_size(cfg: DataConfig) -> _DataSize | None:
    from ebm_engine.data import demos

    try:
        catalogue = demos()
        if cfg.source in catalogue:
            info = catalogue[cfg.source]
            return _demo_size(cfg) if info.kind == "image" else None
        return _image_files_size(Path(cfg.source).expanduser(), cfg)
    except Exception:  # an estimate must never be why a run fails; the loader reports
        return None


def _demo_size(cfg: DataConfig) -> _DataSize | None:
    n, shape = _demo_default_shape(cfg.source, cfg.grayscale, cfg.crop,
                                   json.dumps(cfg.options, sort_keys=True, default=str))
    if len(shape) != 3:
        return None
    # Image demos honour data.image_size as the side (0 → their default);
    # the number of items does not depend on it. load_dataset applies
    # max_items only after loading, so every item is decoded.
    if cfg.image_size:
        shape = (shape[0], cfg.image_size, cfg.image_size)
    return _DataSize(n, shape, f"{cfg.source} items")


@functools.lru_cache(maxsize=16)
def _demo_default_shape(source: str, grayscale: bool, crop: bool,
                        options: str) -> tuple[int, tuple[int, ...]]:
    """Items and item shape of an image demo at its own default size (cheap)."""
    from ebm_engine.data import demos

    small = DataConfig(source=source, image_size=0, grayscale=grayscale, crop=crop,
                       options=json.loads(options))
    dataset = demos()[source].loader(small)
    return len(dataset), tuple(dataset.item_shape)


def _image_files_size(path: Path, cfg: DataConfig) -> _DataSize | None:
    from ebm_engine.data.files import IMAGE_EXTENSIONS, list_images

    forced = cfg.options.get("reader") or None
    if forced not in (None, "image-folder", "image-file") or not path.exists():
        return None
    if forced is None and path.is_dir():
        from ebm_engine.data.detect import detect_reader
        from ebm_engine.errors import DataError

        try:  # a folder of meshes with a few images in it is not an image folder
            if detect_reader(path)[0] != "image-folder":
                return None
        except DataError:
            return None
    if path.is_dir():
        if forced == "image-file":
            return None
        files = list_images(path)
        if cfg.max_items:
            files = files[: cfg.max_items]  # the folder reader decodes only these
    elif path.suffix.lower() in IMAGE_EXTENSIONS or forced == "image-file":
        files = [path]
    else:
        return None
    if not files:
        return None
    channels = 1 if cfg.grayscale else 3
    if cfg.image_size:
        side = (cfg.image_size, cfg.image_size)
    else:
        side = _image_header_size(files[0])  # the reader needs all sizes equal
        if side is None:
            return None
    return _DataSize(len(files), (channels, *side), "images" if len(files) > 1 else "image", 1)


def _image_header_size(path: Path) -> tuple[int, int] | None:
    """``(height, width)`` from the file's header (Pillow decodes lazily)."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        return None
    return h, w
