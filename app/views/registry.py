"""Sample views chosen by data kind.

A view is a QWidget subclass with ``set_snapshot(snapshot)``,
``show_frame(index)`` (a recorded Langevin step, ``-1`` = final samples) and a
``sigSampleClicked(int)`` signal. A new view is a new module in
``app/views`` decorated with ``@register_view("kind")``; kinds without a view
get :class:`~app.views.placeholder.PlaceholderView`.
"""

from __future__ import annotations

from collections.abc import Callable

from ebm_engine.plugins import import_submodules

_VIEWS: dict[str, type] = {}


def register_view(*kinds: str) -> Callable[[type], type]:
    """Class decorator: use this view for data of ``kinds``."""

    def deco(cls: type) -> type:
        for kind in kinds:
            _VIEWS[kind] = cls
        return cls

    return deco


def _load_all() -> None:
    import_submodules("app.views")


def view_class(kind: str) -> type:
    """The view class registered for ``kind`` (placeholder if none)."""
    _load_all()
    from app.views.placeholder import PlaceholderView

    return _VIEWS.get(kind, PlaceholderView)


def registered_kinds() -> list[str]:
    _load_all()
    return sorted(_VIEWS)
