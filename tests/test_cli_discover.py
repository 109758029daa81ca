"""The CLI tells users what exists (issue 17): ``ebm methods``, the catalogue at
the end of ``ebm train --help``, and "did you mean …" for misspelled demos,
sub-commands and choices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ebm_engine.cli import main
from ebm_engine.suggest import did_you_mean


def test_did_you_mean() -> None:
    assert did_you_mean("digitz", ["digits", "8gaussians"]) == " (did you mean 'digits'?)"
    assert did_you_mean("Digits", ["digits"]) == " (did you mean 'digits'?)"
    assert did_you_mean("digits", ["digits"]) == ""  # nothing to correct
    assert did_you_mean("zzzzzz", ["digits", "moons"]) == ""
    assert did_you_mean("", ["digits"]) == ""
    two = did_you_mean("rings2", ["rings", "rings3", "moons"], n=2)
    assert two == " (did you mean 'rings' or 'rings3'?)"  # closest first


def test_ebm_methods_lists_each_method_on_one_line(capsys) -> None:
    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert "ml" in names and "coopnets" in names
    assert names == sorted(names)
    assert all(len(line.split(None, 1)) == 2 for line in lines)  # a name and a description


def test_train_help_lists_methods_and_demos(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(["train", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    catalogue = out.split("learning methods", 1)[1]
    assert "coopnets" in catalogue and "digits" in catalogue and "8gaussians" in catalogue
    assert "data.options.reader" in catalogue
    # RawDescriptionHelpFormatter: one entry per line, not a rewrapped paragraph.
    assert any(line.split()[:1] == ["ml"] for line in catalogue.splitlines())


def test_misspelled_demo_is_one_line_with_a_suggestion(tmp_path: Path) -> None:
    out = tmp_path / "X"
    proc = subprocess.run(
        [sys.executable, "-m", "ebm_engine", "train", "--data", "digitz", "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1, err
    assert "did you mean 'digits'" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["trian", "--data", "digits"], "did you mean 'train'"),
        (["method"], "did you mean 'methods'"),
        (["train", "--on-diverge", "rolback"], "did you mean 'rollback'"),
    ],
)
def test_misspelled_sub_command_or_choice(capsys, argv: list[str], hint: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("ebm: error: "), err
    assert hint in err
