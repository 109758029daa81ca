"""The main window on small screens (1024×768, 1280×720): it fills the screen it opens
on, the settings panel can be hidden, and what does not fit is cut with a "…"."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QScreen

from app.testing import make_window


@pytest.fixture
def screen(monkeypatch):
    """Set the available screen area every window sees: ``screen(w, h)``."""

    def set_screen(width: int, height: int) -> None:
        monkeypatch.setattr(QScreen, "availableGeometry", lambda self: QRect(0, 0, width, height))

    return set_screen


def test_a_size_saved_on_a_large_screen_fills_a_small_one(qtbot, tmp_path, screen):
    """Saved at 1380×860 on a large screen, Qt's own restore brought the window back
    at 821×512 on a 1024×768 one."""
    from app.main_window import MainWindow

    screen(1920, 1080)
    first = make_window(qtbot, tmp_path, demo="moons")
    first.resize(1380, 860)
    first.move(300, 150)
    first.close()
    again = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(again)
    again.controller.wait()
    assert (again.width(), again.height()) == (1380, 860)  # the same screen: as it was
    again.close()
    screen(1024, 768)
    small = MainWindow(runs_root=tmp_path / "runs")
    qtbot.addWidget(small)
    small.controller.wait()
    assert (small.width(), small.height()) == (1024, 768)
    assert QRect(0, 0, 1024, 768).contains(QRect(small.pos(), small.size()))


def test_the_settings_panel_hides_and_comes_back_from_the_view_menu(qtbot, tmp_path):
    """At 1024 pixels the panel took a third of the width, and nothing could hide it."""
    window = make_window(qtbot, tmp_path, demo="moons")
    window.resize(1024, 768)
    window.show()
    qtbot.waitExposed(window)
    view_menu = window.menuBar().findChild(type(window.help_menu), "view_menu")
    toggle = next(a for a in view_menu.actions() if a.objectName() == "show_settings_panel")
    assert toggle.isChecked() and window.dock.isVisible()
    wide_before = window.centralWidget().width()
    toggle.trigger()
    qtbot.waitUntil(lambda: not window.dock.isVisible())
    qtbot.waitUntil(lambda: window.centralWidget().width() > wide_before + 250)
    assert not toggle.isChecked()
    toggle.trigger()
    qtbot.waitUntil(window.dock.isVisible)


def test_the_demo_list_keeps_room_for_three_demos_on_a_short_screen(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path, demo="moons")
    window.resize(1024, 600)
    window.show()
    qtbot.waitExposed(window)
    demo_list = window.data_panel.list
    row = demo_list.sizeHintForRow(0)
    assert demo_list.viewport().height() >= 3 * row, (demo_list.viewport().height(), row)


def test_a_caption_too_long_for_its_width_ends_with_an_ellipsis(qtbot):
    from app.views import steady_label

    label = steady_label("<b>training samples</b> at iteration 1200 of a long run's caption")
    qtbot.addWidget(label)
    label.resize(600, 30)
    assert label.elided() == ""  # it fits: drawn as it is, bold and all
    label.resize(120, 30)
    cut = label.elided()
    assert cut.endswith("…") and cut.startswith("training")
    assert label.fontMetrics().horizontalAdvance(cut) <= label.contentsRect().width()
    # what it paints, and the whole text on hover
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QApplication, QToolTip

    label.show()
    qtbot.waitExposed(label)
    from PySide6.QtWidgets import QLabel

    plain = QLabel(cut)  # the cut text as a plain label draws it: the same pixels
    qtbot.addWidget(plain)
    plain.resize(label.size())
    assert label.grab().toImage() == plain.grab().toImage()
    QApplication.sendEvent(label, QHelpEvent(QEvent.Type.ToolTip, QPoint(5, 5),
                                             label.mapToGlobal(QPoint(5, 5))))
    assert QToolTip.text() == "training samples at iteration 1200 of a long run's caption"
    QToolTip.hideText()
    label.setText("short")
    assert label.elided() == ""


def test_the_status_bar_names_the_run_folder_and_keeps_its_path_in_the_tooltip(qtbot):
    from PySide6.QtWidgets import QStatusBar

    from app.widgets.status_bar import RunStatus
    from ebm_engine.learning.events import RunStarted

    bar = QStatusBar()
    qtbot.addWidget(bar)
    status = RunStatus(bar)
    path = "/home/someone/.local/share/EBM Studio/runs/20261203-121947-digits"
    status.run_started(RunStarted(run_dir=path, device="cpu", iteration=0, target=10,
                                  source="digits", kind="image", method="ml"))
    assert status.labels["run"].text() == "run: 20261203-121947-digits"
    assert status.labels["run"].toolTip() == path
    # a long name never widens the bar (and so the window): it is cut with "…" instead
    status.run_started(RunStarted(run_dir="/runs/" + "x" * 400, device="cpu", iteration=0,
                                  target=10, source="digits", kind="image", method="ml"))
    assert bar.minimumSizeHint().width() < 400


def test_narrow_curve_plots_take_their_short_titles(qtbot):
    """At 1024 pixels "Energy (low = probable)" and its key were cut at the right."""
    from app.views.curves import CurvesView

    curves = CurvesView()
    qtbot.addWidget(curves)
    curves.resize(1200, 600)
    curves.show()
    qtbot.waitExposed(curves)
    energy = curves.items["energy"]
    qtbot.waitUntil(lambda: energy.titleLabel.text == curves.titles["energy"][0])
    curves.resize(300, 600)
    qtbot.waitUntil(lambda: energy.titleLabel.text == curves.titles["energy"][1])
    for plot in curves.items.values():
        assert plot.titleLabel.item.boundingRect().width() <= plot.width() + 1
    curves.resize(1200, 600)
    qtbot.waitUntil(lambda: energy.titleLabel.text == curves.titles["energy"][0])


def test_the_chain_energy_plot_labels_do_not_run_together(qtbot):
    from app.views.film_strip import FilmStrip
    from app.views.spaced_axis import SpacedAxis

    film = FilmStrip()
    qtbot.addWidget(film)
    assert isinstance(film.trace.getAxis("bottom"), SpacedAxis)


def test_voxel_cell_labels_keep_to_their_cells(qtbot):
    """At 1024 pixels a cell is about 90 pixels wide, and "#0  E=-2.97e+03" ran into the
    next cell: a narrow cell shows its index alone, a wide one the energy too."""
    from vtkmodules.vtkCommonDataModel import vtkPolyData

    from app.views.vtk_grid import VTKGrid, energy_text

    assert energy_text(-2970.4) == "-2.97e3" and energy_text(0.0124) == "0.0124"
    assert energy_text(3.2e-5) == "3.2e-5"
    grid = VTKGrid()
    qtbot.addWidget(grid)
    grid.resize(1200, 900)
    grid.show()
    qtbot.waitExposed(grid)
    captions = [f"#{i}  E={energy_text(-2970.4 - i)}" for i in range(16)]
    grid.set_geometries("voxel", [vtkPolyData() for _ in range(16)], captions)
    assert [label.GetInput() for label in grid.labels] == captions
    grid.resize(360, 400)
    qtbot.waitUntil(lambda: grid.vtk_widget.width() <= 360)
    assert [label.GetInput() for label in grid.labels] == [f"#{i}" for i in range(16)]
    grid.close()
