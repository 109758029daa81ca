"""Hints for misspelled names ("did you mean …?"): demos, methods, sub-commands, keys."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, candidates: Iterable[str], n: int = 1) -> str:
    """A hint naming the candidates closest to ``word``, ready to append to a message.

    Parameters
    ----------
    word : str
        What the user typed (``digitz``).
    candidates : iterable of str
        The names that exist.
    n : int
        At most this many suggestions.

    Returns
    -------
    str
        ``" (did you mean 'digits'?)"``, ``" (did you mean 'a' or 'b'?)"``,
        or ``""`` when nothing is close (or ``word`` is itself a candidate).

    Examples
    --------
    >>> "unknown demo 'digitz'" + did_you_mean("digitz", ["digits", "8gaussians"])
    "unknown demo 'digitz' (did you mean 'digits'?)"
    """
    names = [c for c in dict.fromkeys(candidates) if isinstance(c, str)]
    if not isinstance(word, str) or not word or word in names:
        return ""
    # difflib's default cutoff (0.6) keeps one-letter typos and swaps, and
    # drops unrelated names; lower-casing catches "Digits".
    by_lower = {c.lower(): c for c in names}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=max(n, 1))
    if not close:
        return ""
    quoted = [repr(by_lower[c]) for c in close]
    listed = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
    return f" (did you mean {listed}?)"
