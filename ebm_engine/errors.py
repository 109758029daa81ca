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
