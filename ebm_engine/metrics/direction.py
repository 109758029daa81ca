"""Which way a metric improves, and how that is said.

Every metric an evaluation reports carries one of four labels:

- ``"lower"`` or ``"higher"``: a score;
- ``"0.5"``: 1-NNA (0.5 means samples and data cannot be told apart);
- ``"reference"``: a fact or a description, not a score (the chance level,
  the data's own mean of a property, a baseline's parameter count). A metric
  no table declares is a reference too: a tool must not claim a side it was
  never told.
"""

from __future__ import annotations

#: The label of a metric that is not a score.
REFERENCE = "reference"
#: Every label a metric may carry.
LABELS = ("lower", "higher", "0.5", REFERENCE)


def label_of(better: dict[str, str], name: str) -> str:
    """The label of metric ``name``.

    Parameters
    ----------
    better : dict
        ``{metric: label}`` as declared.
    name : str
        A metric.

    Returns
    -------
    str
        ``better[name]`` when it is one of :data:`LABELS`, else :data:`REFERENCE`.
    """
    label = better.get(name, REFERENCE)
    return label if label in LABELS else REFERENCE


def hint(label: str) -> str:
    """How a label is said beside a value.

    Parameters
    ----------
    label : str
        One of :data:`LABELS` (anything else is a reference).

    Returns
    -------
    str
        ``lower is better``, ``higher is better``, ``best 0.5`` or ``for reference``.
    """
    if label == "0.5":
        return "best 0.5"
    if label in ("lower", "higher"):
        return f"{label} is better"
    return "for reference"
