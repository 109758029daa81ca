"""Sample views chosen by data kind.

A view is a QWidget subclass with ``set_snapshot(snapshot)``,
``show_frame(index)`` (a recorded Langevin step, ``-1`` = final samples) and a
``sigSampleClicked(int)`` signal. Optionally: ``prepare(snapshot, frame)``, a
static function (no Qt) that the controller's worker runs to make the view's
display-ready payload (see :mod:`app.display`), ``prepare_frames`` (the
recorded frames are prepared too), ``clear()`` (empty the view for a new run
instead of replacing it), ``paint_now()`` (paint pending changes at once,
so the frame pacer measures the whole draw) and ``max_samples`` (the most
samples it shows: sampling a model for it draws no more, see
:mod:`app.samples_shown`). A new view is a new module in
``app/views`` decorated with ``@register_view("kind")``; kinds without a view
get :class:`~app.views.placeholder.PlaceholderView`.
"""

from __future__ import annotations

from collections.abc import Callable

from ebm_engine.plugins import import_submodules

_VIEWS: dict[str, type] = {}
_loaded = False


def register_view(*kinds: str) -> Callable[[type], type]:
    """Class decorator: use this view for data of ``kinds``."""

    def deco(cls: type) -> type:
        for kind in kinds:
            _VIEWS[kind] = cls
        return cls

    return deco


def _load_all() -> None:
    global _loaded
    if not _loaded:  # the worker asks for every snapshot: list the folder once
        import_submodules("app.views")
        _loaded = True


def view_class(kind: str) -> type:
    """The view class registered for ``kind`` (placeholder if none)."""
    _load_all()
    from app.views.placeholder import PlaceholderView

    return _VIEWS.get(kind, PlaceholderView)


def registered_kinds() -> list[str]:
    _load_all()
    return sorted(_VIEWS)
