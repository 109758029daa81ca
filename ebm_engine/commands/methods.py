"""``ebm methods``: list the learning methods, one line each."""

from __future__ import annotations

import argparse


def method_lines() -> list[str]:
    """``name  first docstring line`` for every registered learning method, by name."""
    methods = _available_methods()
    width = max((len(n) for n in methods), default=0)
    lines = []
    for name in sorted(methods):
        doc = (methods[name].__doc__ or "").strip().splitlines()
        lines.append(f"{name:{width}s}  {doc[0].strip() if doc else ''}".rstrip())
    return lines


def _available_methods() -> dict[str, type]:
    # Imported here: the registry imports every method (and torch) on first use.
    try:
        from ebm_engine.methods import available_methods
    except ModuleNotFoundError:  # before the methods package existed
        from ebm_engine.learning.base import available_methods
    return available_methods()


def knob_lines(name: str) -> list[str]:
    """The ``train.options`` knobs of method ``name``: default, bounds, whether a running
    run may change it, and what it does; raise :class:`ConfigError` for an unknown name."""
    import textwrap

    from ebm_engine.errors import ConfigError
    from ebm_engine.options import did_you_mean

    methods = _available_methods()
    if name not in methods:
        raise ConfigError(f"no learning method {name!r}; `ebm methods` lists them"
                          + did_you_mean(name, methods))
    cls = methods[name]
    knobs = cls.knobs()
    doc = (cls.__doc__ or "").strip().splitlines()
    lines = [f"{name}: {doc[0].strip() if doc else ''}".rstrip(), ""]
    if not knobs:
        return [*lines, "no knobs of its own (train.options); the sampler.* and train.* "
                        "settings apply"]
    lines.append("train.options (ebm train --set train.options.KEY=VALUE; those sampling "
                 "reads also ebm sample --option KEY=VALUE):")
    for k in knobs:
        facts = [f"default {k.default!r}"]
        if k.spec.choices is not None:
            facts.append("one of " + ", ".join(map(str, k.spec.choices)))
        if k.spec.describe():
            facts.append(k.spec.describe())
        if k.spec.unit:  # "in steps", but "in data units" and "× train.lr" as they are
            unit = k.spec.unit
            facts.append(unit if unit.startswith(("in ", "per ", "×", "δ")) else f"in {unit}")
        if not k.spec.live:
            facts.append("fixed once a run starts")
        elif k.spec.sampling:
            facts.append("sampling reads it: ebm sample --option")
        if k.spec.sizes:
            facts.append(f"sizes the {' and '.join(k.spec.sizes)}")
        lines.append(f"  {k.name}  ({'; '.join(facts)})")
        if k.doc:
            lines.extend(textwrap.wrap(_plain(k.doc), 88, initial_indent="      ",
                                       subsequent_indent="      "))
    return lines


def _plain(doc: str) -> str:
    """A docstring's reST markup as plain terminal text (``x`` and :mod:`.x` as x)."""
    import re

    return re.sub(r":\w+:`~?\.?([^`]+)`", r"\1", doc).replace("``", "")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list learning methods (for --method / train.method); "
                                       "ebm methods NAME lists NAME's knobs")
    p.add_argument("name", nargs="?", help="a method: list its train.options knobs")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    print("\n".join(knob_lines(args.name) if args.name else method_lines()))
    return 0


def train_epilog() -> str:
    """The catalogue ``ebm train --help`` ends with: methods, demos, and readers."""
    from ebm_engine.data import demos, readers

    methods = "\n".join(f"  {line}" for line in method_lines())
    width = max((len(n) for n in demos()), default=0)
    listed = "\n".join(
        f"  {d.name:{width}s}  {d.kind:10s} {d.description}" for d in demos().values()
    )
    names = ", ".join(r.name for r in readers())
    return (
        f"learning methods (--method; `ebm methods`):\n{methods}\n\n"
        f"demos (--data; `ebm demos`):\n{listed}\n\n"
        "--data also takes a file or a folder. A folder is read as the kind of file\n"
        "that makes up two thirds of it (images, meshes, point clouds, voxel grids,\n"
        "videos, arrays); pick a reader with --set data.options.reader=NAME\n"
        f"({names})."
    )
