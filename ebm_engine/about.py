"""About cards: what a learning method or a demo is, for newcomers (Help menu, ``ebm about``).

One Markdown file per method or demo, next to the other per-name resources
(``resources/icons/demo-<name>.png``, ``resources/presets/<name>.json``)::

    resources/about/method-<name>.md     e.g. method-coopnets.md (the registered name)
    resources/about/demo-<name>.md       e.g. demo-digits.md
    resources/about/demo-<preset>.md     shared by the demos of one preset (toy2d, texture)

Each file starts with a ``# Title`` line and has these four sections, in any
order (``tests/test_about.py`` checks every registered method and demo)::

    ## Topic        which tutorial topic it illustrates (one or two sentences)
    ## Objective    the objective in one equation (Unicode maths, no LaTeX)
    ## Knobs        the knobs that matter, one bullet each (their config keys)
    ## Watch        what to watch in the curves and samples

Energies follow ``docs/conventions.md``: ``E(x) = -f(x) + |x|²/(2σ²)``,
lower is more probable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ebm_engine.resources import resources_dir

SECTIONS = ("Topic", "Objective", "Knobs", "Watch")
_HEADING = re.compile(r"^##\s+(.+?)\s*$", re.MULTILINE)


def about_dir() -> Path:
    """``resources/about``."""
    return resources_dir() / "about"


@dataclass(frozen=True)
class About:
    """One about card.

    Attributes
    ----------
    title : str
        The ``# Title`` line.
    text : str
        The whole Markdown text (what the Help window shows).
    sections : dict
        ``{heading: body}`` of its ``##`` sections.
    path : Path
        The file it came from.
    """

    title: str
    text: str
    sections: dict[str, str]
    path: Path

    def missing_sections(self) -> list[str]:
        """The required sections it lacks or leaves empty."""
        return [s for s in SECTIONS if not self.sections.get(s, "").strip()]


def parse(path: Path) -> About:
    """Read one about file."""
    return parse_text(path.read_text(encoding="utf-8"), path)


def parse_text(text: str, path: Path) -> About:
    """An about card from its Markdown ``text`` (``path``: where it came from)."""
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    title = first[2:].strip() if first.startswith("# ") else path.stem
    parts = _HEADING.split(text)
    sections = {parts[i].strip(): parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    return About(title, text, sections, path)


def method_about(name: str) -> About | None:
    """The card of learning method ``name`` (``None`` if it has none yet)."""
    path = about_dir() / f"method-{name}.md"
    return parse(path) if path.is_file() else None


def demo_about(name: str) -> About | None:
    """The card of demo ``name``: its own file, else its preset's (``None`` if neither)."""
    from ebm_engine.data import demos

    info = demos().get(name)
    for stem in (name, info.preset if info else None):
        if stem and (about_dir() / f"demo-{stem}.md").is_file():
            card = parse(about_dir() / f"demo-{stem}.md")
            return _with_data_options(card, info.options if info else ())
    return None


def _with_data_options(card: About, options: tuple[str, ...]) -> About:
    """``card`` with a Knobs line naming every ``data.options`` key of the demo, unless
    the card already names them all (the keys come from the demo's registration)."""
    if all(f"data.options.{key}" in card.text for key in options):
        return card
    line = ("- Data options (`--set data.options.KEY=…`): "
            + ", ".join(f"`{key}`" for key in options) + "; any other key is refused.")
    heading = re.search(r"^##\s+Knobs\s*$", card.text, re.MULTILINE)
    if heading is None:
        return card
    after = _HEADING.search(card.text, heading.end())
    end = after.start() if after else len(card.text)
    body = card.text[:end].rstrip("\n")
    text = body + "\n" + line + "\n" + ("\n" + card.text[end:] if after else "")
    return parse_text(text, card.path)


def guide() -> About | None:
    """The newcomer's guide (``resources/about/guide.md``)."""
    path = about_dir() / "guide.md"
    return parse(path) if path.is_file() else None


def missing() -> list[str]:
    """What lacks a card or a section: one line per method/demo, with the file to write."""
    from ebm_engine.data import demos
    from ebm_engine.methods import available_methods

    lines = []
    for kind, names, find in (("method", list(available_methods()), method_about),
                              ("demo", list(demos()), demo_about)):
        for name in names:
            card = find(name)
            if card is None:
                lines.append(f"{kind} {name!r}: write resources/about/{kind}-{name}.md")
            elif card.missing_sections():
                lines.append(f"{kind} {name!r}: {card.path.name} lacks "
                             f"{', '.join('## ' + s for s in card.missing_sections())}")
    return lines
