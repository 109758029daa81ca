"""Energy networks. Each file registers its networks by name with
:func:`ebm_engine.models.registry.register`; :func:`build_model` finds them."""

from __future__ import annotations

from ebm_engine.models.registry import available_models, build_model, register

__all__ = ["available_models", "build_model", "register"]
