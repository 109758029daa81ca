"""The samples area: the view for the data kind, method extras, the chain scrubber and film strip.

:meth:`SamplesArea.show_snapshot` takes a :class:`SamplesReady` (live,
sampled, followed or a data preview) and swaps in the view registered for
its kind; :meth:`SamplesArea.clear` empties it. Drawing is skipped when it
would show nothing new: while the area is hidden or its window minimised
(the latest snapshot is drawn when it shows again), and for a snapshot
whose prepared display has the digest of the one on screen.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, QTimer, Signal
from PySide6.QtWidgets import QSplitter, QVBoxLayout, QWidget

from app.display import display_of
from app.views import steady_label
from app.views.chain_scrubber import ChainScrubber
from app.views.extras import ExtrasPanel
from app.views.film_strip import FilmStrip
from app.views.registry import view_class
from ebm_engine.export.samples import PANELS
from ebm_engine.learning.events import SamplesReady

# "sample": not "fresh": a model keeping few persistent chains continues its stored ones
ORIGINS = {"train": "training samples", "sample": "samples from the model",
           "follow": "followed run", "preview": "training data",
           "picture": "samples given your input"}
HINT = "<b>Samples</b> — pick a demo and press ▶ Train"


class SamplesArea(QWidget):
    """Sample view, extras, scrubber and film strip; ``sigKindChanged(kind)`` when the view changes."""

    sigKindChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.kind = "points"
        self.view = view_class(self.kind)()
        self.view.sigSampleClicked.connect(self._sample_clicked)
        self.extras = ExtrasPanel()
        self.scrubber = ChainScrubber()
        self.film = FilmStrip()
        self.snapshot: SamplesReady | None = None
        self.count = 0  # snapshots drawn
        self.skipped = 0  # snapshots not drawn: identical to the one shown, or superseded while hidden
        self._drawn_digest: str | None = None
        self._pending = False  # self.snapshot arrived while hidden: draw it when shown
        self.title = steady_label(HINT)
        # what the main grid shows, above it, where extras beside it show something else
        self.view_label = steady_label()
        self.view_label.setVisible(False)
        self.view_box = QWidget()
        box = QVBoxLayout(self.view_box)
        box.setContentsMargins(2, 2, 2, 2)
        box.addWidget(self.view_label)
        box.addWidget(self.view, 1)
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.addWidget(self.view_box)
        self.split.addWidget(self.extras)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.split, 5)
        layout.addWidget(self.scrubber)
        layout.addWidget(self.film, 2)
        self.scrubber.sigFrameChanged.connect(lambda i: self.view.show_frame(i))

    # --- showing ---------------------------------------------------------------------
    @property
    def on_screen(self) -> bool:
        """Shown, in a window that is not minimised."""
        return self.isVisible() and not self.window().isMinimized()

    def show_snapshot(self, snap: SamplesReady, samples_are: str = "",
                      cells_are: str = "") -> bool:
        """Take ``snap``; True if it was drawn now (False: identical to what is shown, or
        hidden — then it is drawn when the area shows again). ``samples_are`` labels
        the main grid (the method's ``samples_are``) when extras show beside it;
        ``cells_are`` (the method's) says what a composite cell holds, extras or not."""
        if snap.kind != self.kind:
            self._swap_view(snap.kind)
            self._drawn_digest = None
        self.snapshot = snap
        what = ORIGINS.get(snap.origin, snap.origin)
        where = (" — press ▶ Train" if snap.origin == "preview"
                 else f" at iteration {snap.iteration}")
        self.title.setText(f"<b>{what}</b>{where}")
        self.title.setToolTip("")
        own = self._not_beside()
        beside = any(k not in own for k in snap.extras)
        model = snap.origin != "preview"  # the data's cells are the data's own
        # the view's own word on its layout (class-conditional samples: one class per row)
        caption = getattr(self.view, "layout_caption", None)
        rows = caption(snap) if caption is not None else ""
        label = " — ".join(t for t in (samples_are if beside else "", cells_are, rows)
                           if t and model)
        self.view_label.setText(label)
        self.view_label.setVisible(bool(label))
        display = display_of(snap)
        if display is not None and display.digest == self._drawn_digest:
            self.skipped += 1  # the same pixels: nothing to draw
            return False
        if not self.on_screen:
            self.skipped += self._pending  # the one waiting is superseded
            self._pending = True
            return False
        self._draw(snap)
        return True

    def _draw(self, snap: SamplesReady) -> None:
        self._pending = False
        display = display_of(snap)
        self._drawn_digest = display.digest if display is not None else None
        self.count += 1
        self.view.set_snapshot(snap)
        self.scrubber.set_frames(snap.frames)
        self.film.show_kind(snap.kind)  # before any chain is picked too
        own = self._not_beside()
        hidden = self.extras.isHidden()
        self.extras.set_extras({k: v for k, v in snap.extras.items() if k not in own},
                               snap.kind, snap.value_range,
                               display.extras if display is not None else None)
        if hidden and not self.extras.isHidden():
            # the samples keep half the width: the extras' size hints (FRAME's filter bank,
            # potentials, histograms) squeezed the grid into a column 64 px wide
            # (after the splitter has taken the shown extras in: it redoes its sizes then);
            # a translation's source and reconstruction are grids of the samples' own
            # items: a share each, to be compared cell by cell (not other extras of the
            # samples' shape: multigrid's coarse grids are not the result)
            peers = sum(k in PANELS and k not in own for k in snap.extras)
            QTimer.singleShot(0, self, lambda: self._halve(peers))
        if snap.frames:  # keep the picked chain; start with the first one
            self.film.show_chain(snap, self.film.picked or 0)

    def _not_beside(self) -> tuple[str, ...]:
        """Extras not drawn beside the samples: what the view draws itself (scenes …)
        and the raw answers of conditional models, which are for files."""
        from ebm_engine.export.samples import RAW

        return (*getattr(self.view, "own_extras", ()), *RAW)

    def _halve(self, peers: int = 0) -> None:
        """Give newly shown extras the width their columns want, at most half: the
        samples keep at least half, and the extras are not a sliver that scrolls;
        except where ``peers`` extras are the samples' own items in other panels (a
        translation's): those get the samples' width each (1 / (1 + peers) is left)."""
        samples, beside = self.split.sizes()
        total = samples + beside
        share = max(total, 2) * max(peers, 1) // (max(peers, 1) + 1)
        squeezed = samples < 0.4 * total  # by the extras' size hints
        target = share if squeezed or peers else min(self.extras.wanted_width(), share)
        if squeezed or beside < target:  # a user's wider split of the extras stays
            self.split.setSizes([total - target, target])

    def paint_now(self) -> None:
        """Paint what the last draw changed, now (the frame pacer times the whole draw)."""
        for part in (self.view, self.extras, self.film):
            paint = getattr(part, "paint_now", None)
            if paint is not None:
                paint()

    def clear(self, title: str = HINT) -> None:
        """No samples, extras, frames or chain; a view that can empty itself is kept
        (a VTK view keeps its render window: no new OpenGL context at the next Train)."""
        if hasattr(self.view, "clear"):
            self.view.clear()
        else:
            self._swap_view(self.kind)
        self.snapshot = None
        self._drawn_digest = None
        self._pending = False
        self.scrubber.set_frames([])
        self.extras.set_extras({}, "", None)
        self.film.clear()
        self.view_label.setVisible(False)
        self.title.setText(title)
        self.title.setToolTip("")  # a message's whole text belonged to the title before

    def show_message(self, title: str, text: str) -> None:
        """Nothing to show, and why: ``title`` above, ``text`` in full across the view
        (the previous data kind's empty view, a 2D plane for a folder of pictures,
        would say nothing)."""
        self.clear(title)
        self.title.setToolTip(text)
        if self.kind != "":
            self._swap_view("")  # the placeholder, whose label wraps a long reason
        self.view.label.setText(text)

    # --- hidden → shown -----------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().showEvent(event)
        self.window_state_changed()

    def changeEvent(self, event) -> None:  # noqa: N802 (Qt naming)
        super().changeEvent(event)
        if event.type() == QEvent.Type.WindowStateChange:  # the area is its own window
            self.window_state_changed()

    def window_state_changed(self) -> None:
        """Shown or un-minimised: draw the snapshot that came meanwhile.

        The main window calls this from its ``changeEvent`` (un-minimising
        sends this widget nothing; an event filter on the window would run
        Python for every event it gets).
        """
        if self._pending and self.snapshot is not None and self.on_screen:
            self._draw(self.snapshot)

    def release(self) -> None:
        """The window is closing: close the view (a VTK view releases its render window)."""
        self.view.close()

    # --- views ------------------------------------------------------------------------
    def _swap_view(self, kind: str) -> None:
        old = self.view
        self.view = view_class(kind)()
        self.view.sigSampleClicked.connect(self._sample_clicked)
        self.view_box.layout().replaceWidget(old, self.view)
        old.close()  # VTK views release their render windows on close
        old.deleteLater()
        if kind != self.kind:
            self.kind = kind
            self.sigKindChanged.emit(kind)

    def _sample_clicked(self, index: int) -> None:
        self.film.show_chain(self.snapshot, index)
