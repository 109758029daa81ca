"""``ebm about NAME``: the About card of a learning method or a demo (``resources/about``)."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("about", help="what a method or demo is: tutorial topic, objective, "
                                     "knobs that matter, what to watch")
    p.add_argument("name", nargs="?", help="a method (see `ebm methods`) or demo (see `ebm demos`); "
                                           "none: the getting-started guide")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ebm_engine import about
    from ebm_engine.data import demos
    from ebm_engine.errors import ConfigError
    from ebm_engine.methods import available_methods
    from ebm_engine.suggest import did_you_mean

    if not args.name:
        card = about.guide()
    elif args.name in available_methods():
        card = about.method_about(args.name)
    elif args.name in demos():
        card = about.demo_about(args.name)
    else:
        names = [*available_methods(), *demos()]
        raise ConfigError(f"no method or demo {args.name!r}{did_you_mean(args.name, names)}")
    if card is None:
        raise ConfigError(f"{args.name} has no About card yet (resources/about/)")
    print(card.text.rstrip())
    return 0
