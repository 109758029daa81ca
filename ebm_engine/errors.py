"""Typed errors with one-line messages.

Every error a user can cause (bad data, bad config, bad checkpoint) is an
:class:`EBMError`; the CLI prints ``str(err)`` on one line and exits 2, the app
shows it in a dialog. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class EBMError(Exception):
    """Base class of every error caused by user input."""


class ConfigError(EBMError, ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class DataError(EBMError):
    """A dataset file or folder cannot be read; the message names the file."""


class CheckpointError(EBMError):
    """A checkpoint or run directory is missing, corrupt or incompatible."""


class ExportError(EBMError):
    """An export could not be written (bad path, unsupported format)."""


class DivergenceError(EBMError):
    """Training produced non-finite or exploding energies or gradients."""


#: How torch's allocators say they ran out: Linux and macOS CPU, Windows CPU, MPS.
_ALLOCATOR_SAYS = ("can't allocate memory", "not enough memory", "MPS backend out of memory")


def out_of_memory(exc: BaseException) -> str | None:
    """One line for an allocation that failed (numpy's ``MemoryError``, torch's
    ``OutOfMemoryError`` or the CPU allocator's ``RuntimeError``), else ``None``.

    The pre-flight checks refuse what is plainly too big; this is what a user
    sees when an estimate was short, instead of an allocator traceback.

    Parameters
    ----------
    exc : BaseException
        What was raised.

    Returns
    -------
    str or None
        ``out of memory (102 GB asked for): ask for less …``, or ``None`` when
        ``exc`` is not about memory (a bug keeps its traceback). Where a learning
        method ran out, the advice names the network that was running and the
        knobs that size it (``… in the generator network: ask for less (smaller
        train.options.gen_width=4096 …``), or the size knobs set above their defaults.
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        pass
    elif not (isinstance(exc, RuntimeError) and any(says in text for says in _ALLOCATOR_SAYS)):
        return None
    # "… DefaultCPUAllocator: can't allocate memory: you tried to allocate 102400000000 bytes …"
    asked = text
    if "you tried to allocate" in text:
        count = text.split("you tried to allocate", 1)[1].split()[0]
        if count.isdigit():
            from ebm_engine.preflight import format_bytes

            asked = f"{format_bytes(int(count))} asked for"
    if len(asked) > 120:  # CUDA's first line names every pool of the device
        asked = asked[:117] + "…"
    import traceback

    frames = [frame for frame, _ in traceback.walk_tb(exc.__traceback__)]
    calls = {frame.f_code.co_name for frame in frames}
    if "sample" in calls and "train_step" not in calls:  # drawing from a trained model:
        # its networks' sizes are fixed, and the batch is the number of samples
        return f"out of memory ({asked}): ask for less (fewer samples with --n, a smaller --scale)"
    network, knobs = _culprit([frame.f_locals.get("self") for frame in frames])
    if not knobs:
        return (f"out of memory ({asked}): ask for less (fewer samples, a smaller --scale, "
                f"model.width or train.batch_size)")
    where = f" in the {network} network" if network else ""
    return (f"out of memory ({asked}){where}: ask for less (smaller {' or '.join(knobs)}, "
            "fewer samples or a smaller train.batch_size)")


def _culprit(objects: list[object]) -> tuple[str | None, list[str]]:
    """``(network, knobs)`` that a learning method among the failed call's frames'
    ``objects`` (their ``self``, outermost first) names
    (:meth:`~ebm_engine.methods.base.LearningMethod.memory_culprit`), else ``(None, [])``."""
    for obj in reversed(objects):
        culprit = getattr(obj, "memory_culprit", None)
        if callable(culprit):
            try:
                return culprit(objects)
            except Exception:  # a half-built method: the plain advice, never a traceback
                return None, []
    return None, []


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's kill, ``kill PID``), raised where an ``ebm`` command is: its
    Ctrl-C paths run (a half-written file's temporary copy is removed). A command that
    catches ``KeyboardInterrupt`` exits 143 for this one, 130 for Ctrl-C."""
