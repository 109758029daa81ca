"""Entry point of the frozen executables (see ``ebm-studio.spec``).

The bundle holds one program under two names: ``ebm-studio`` and ``ebm`` (a
link to it that the spec makes). Called as ``ebm`` it is the command line
(:func:`ebm_engine.cli.main`, as ``python -m ebm_engine``); as
``ebm-studio --self-test`` it runs :func:`app.self_test.run` without touching
the main window; anything else opens the app (:func:`app.main.main`).
"""

from __future__ import annotations

import os
import sys

CLI_NAMES = ("ebm", "ebm.exe")


def is_cli(argv0: str) -> bool:
    """Was the bundle started by its ``ebm`` name (the command line)?"""
    return os.path.basename(argv0).lower() in CLI_NAMES


def _main() -> int:
    if is_cli(sys.argv[0] if sys.argv else ""):
        from ebm_engine.cli import main as cli_main

        return int(cli_main() or 0)
    if "--self-test" in sys.argv[1:]:
        from app.self_test import run

        return int(run())
    from app.main import main

    return int(main() or 0)


if __name__ == "__main__":
    sys.exit(_main())
