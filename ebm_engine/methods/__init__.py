"""Learning methods: one file per method, each with a typed ``Options`` dataclass.

``available_methods()`` lists them by name; ``method_class(name)`` finds one
(with a suggestion for a misspelled name).
"""

from __future__ import annotations

from ebm_engine.methods.base import (
    DataSpec,
    LearningMethod,
    StepResult,
    available_methods,
    method_class,
    register_method,
)

__all__ = ["DataSpec", "LearningMethod", "StepResult", "available_methods", "method_class",
           "register_method"]
