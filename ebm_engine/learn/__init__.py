"""Part I concepts for the app's Learn panel: a short text and a live demo each.

The texts are ``resources/learn/<name>.md`` (a ``# Title`` line, one or two
paragraphs, the concept's equation); the demos are generators of
:class:`~ebm_engine.learn.frames.LearnFrame` (:mod:`ebm_engine.learn.demos`).
Qt-free: the app only runs a demo on a worker and draws its frames.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ebm_engine.learn import demos
from ebm_engine.learn.frames import LearnFrame
from ebm_engine.resources import resources_dir


@dataclass(frozen=True)
class Concept:
    """One Learn page: ``name`` (its text file's stem), its ``demo`` generator factory."""

    name: str
    title: str
    demo: Callable[..., Iterator[LearnFrame]]

    @property
    def path(self) -> Path:
        return resources_dir() / "learn" / f"{self.name}.md"

    def text(self) -> str:
        """The page's Markdown (a line saying what is missing if the file is absent)."""
        if not self.path.is_file():
            return f"# {self.title}\n\nNo text yet: it would be `resources/learn/{self.name}.md`."
        return self.path.read_text(encoding="utf-8")


CONCEPTS: tuple[Concept, ...] = (
    Concept("kl-divergence", "Maximum likelihood = minimum KL", demos.kl_divergence),
    Concept("analysis-by-synthesis", "Analysis by synthesis", demos.analysis_by_synthesis),
    Concept("self-critic", "The EBM as its own critic", demos.self_critic),
    Concept("short-run-vs-persistent", "Short-run vs persistent MCMC",
            demos.short_run_vs_persistent),
    Concept("classifier", "An EBM is a classifier", demos.classifier),
)


def concept(name: str) -> Concept:
    """The concept called ``name``."""
    for c in CONCEPTS:
        if c.name == name:
            return c
    raise KeyError(name)
