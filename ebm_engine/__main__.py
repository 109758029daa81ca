"""``python -m ebm_engine`` runs the ``ebm`` command (also under torchrun)."""

from ebm_engine.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
