"""Every registered learning method and demo has an About card (resources/about/*.md)."""

from __future__ import annotations

from ebm_engine import about
from ebm_engine.data import demos
from ebm_engine.methods import available_methods


def test_every_method_and_demo_has_an_about_card():
    missing = about.missing()
    assert not missing, ("About cards missing (see ebm_engine/about.py for the format):\n  "
                         + "\n  ".join(missing))


def test_cards_have_a_title_and_their_sections():
    card = about.method_about("ml")
    assert card is not None and card.title.startswith("Maximum likelihood")
    assert set(about.SECTIONS) <= set(card.sections)
    assert "energy_data" in card.sections["Watch"]
    # demos sharing a preset share its card
    assert about.demo_about("moons").path.name == "demo-toy2d.md"
    assert about.demo_about("digits").path.name == "demo-digits.md"
    assert about.method_about("no-such-method") is None
    assert about.guide() is not None


def test_missing_lists_what_to_write(tmp_path, monkeypatch):
    monkeypatch.setattr(about, "about_dir", lambda: tmp_path)
    (tmp_path / "method-ml.md").write_text("# ML\n\n## Topic\nx\n## Objective\n\n", "utf-8")
    lines = about.missing()
    assert len(lines) == len(available_methods()) + len(demos())
    assert "method 'ml': method-ml.md lacks ## Objective, ## Knobs, ## Watch" in lines
    assert "demo 'digits': write resources/about/demo-digits.md" in lines


def test_ebm_about_prints_a_card_and_hints_a_bad_name(capsys):
    from ebm_engine.cli import main

    assert main(["about", "coopnets"]) == 0
    assert "## Objective" in capsys.readouterr().out
    assert main(["about", "moons"]) == 0
    assert "2D toy densities" in capsys.readouterr().out
    assert main(["about", "digts"]) == 2
    assert "did you mean 'digits'" in capsys.readouterr().err
