"""Sub-commands of ``ebm``: one module each, with ``add_parser`` and a handler."""
