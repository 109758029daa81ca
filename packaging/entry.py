"""Entry point of the frozen ``ebm-studio`` executable (see ``ebm-studio.spec``).

``ebm-studio --self-test`` runs :func:`app.self_test.run` without touching the
main window; anything else opens the app (:func:`app.main.main`).
"""

from __future__ import annotations

import sys


def _main() -> int:
    if "--self-test" in sys.argv[1:]:
        from app.self_test import run

        return int(run())
    from app.main import main

    return int(main() or 0)


if __name__ == "__main__":
    sys.exit(_main())
