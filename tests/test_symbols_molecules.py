"""Molecules as SMILES: validity by RDKit (not string checks), the demo, the .smi reader,
exports, the CLI, and the message without RDKit."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data import load_dataset
from ebm_engine.data.tokens import SymbolSpec, build_vocabulary, encode, smiles_tokens
from ebm_engine.errors import DataError, ExportError
from ebm_engine.learning.trainer import Trainer
from ebm_engine.presets import config_for


def _spec(smiles: list[str]) -> SymbolSpec:
    return SymbolSpec(build_vocabulary([smiles_tokens(s) for s in smiles]), "", "smiles")


def test_without_rdkit_the_demo_says_what_to_install(monkeypatch):
    import ebm_engine.metrics.symbols as symbols

    monkeypatch.setattr(symbols, "rdkit_available", lambda: False)
    with pytest.raises(DataError, match=r"pip install -e '\.\[chem\]'"):
        load_dataset(DataConfig("molecules"))


rdkit = pytest.importorskip("rdkit")


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_smiles_validity_is_counted_by_rdkit_not_by_string_checks():
    from ebm_engine.metrics.symbols import string_metrics, validity

    # Balanced brackets and closed rings, yet chemically impossible: a five-valent
    # carbon and a non-aromatic ring written aromatic. A string check passes them.
    samples = ["c1ccccc1O", "C(C)(C)(C)(C)C", "c1cccc1", "C1CC", "CC(C", "", "CCO"]
    spec = _spec(samples[:1] + samples[-1:])
    assert list(validity(spec, samples)) == [True, False, False, False, False, False, True]
    out = string_metrics(spec, samples + ["OCC"], {"CCO"}, None)
    assert out["valid"] == pytest.approx(3 / 8)
    assert out["unique"] == pytest.approx(2 / 3)  # OCC and CCO are one molecule
    assert out["novel"] == pytest.approx(1 / 2)   # ethanol is in the training set


def test_molecules_demo_is_canonical_drug_like_and_valid():
    from ebm_engine.metrics.symbols import canonical

    data = load_dataset(DataConfig("molecules"))
    spec = data.meta["symbols"]
    assert data.kind == "molecule" and spec.checker == "smiles" and len(data) > 2000
    smiles = spec.decode_all(data.stored[:200].numpy())
    assert all(canonical(s) is not None for s in smiles)
    assert set(data.meta["properties"]) == {"logp", "qed", "mw"}
    assert float(np.max(data.meta["properties"]["mw"])) <= 400


def test_smi_reader_skips_invalid_lines_and_says_which(tmp_path, capsys):
    path = tmp_path / "mine.smi"
    path.write_text("CCO ethanol\nC1CC broken\n\nc1ccccc1\nnot-a-smiles\nCC(=O)O acid\n",
                    encoding="utf-8")
    data = load_dataset(DataConfig(str(path)))
    spec = data.meta["symbols"]
    assert spec.decode_all(data.stored.numpy()) == ["CCO", "c1ccccc1", "CC(=O)O"]
    assert data.meta["skipped"] == [2, 5]
    assert "skipped 2 invalid SMILES line(s): 2, 5" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"C1CC\nxyz\n", "no valid SMILES"),
    (b"\x00\x01\x02binary", "binary file"),
])
def test_bad_smi_files_get_one_line(tmp_path, content, message):
    path = tmp_path / "bad.smi"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        load_dataset(DataConfig(str(path)))
    assert "\n" not in str(err.value)


def test_sdf_and_png_exports(tmp_path):
    from ebm_engine.export.samples import export_samples

    smiles = ["CCO", "C1CC", "c1ccccc1O"]
    spec = _spec(smiles)
    items = encode([smiles_tokens(s) for s in smiles], spec, 16)
    with pytest.warns(UserWarning, match="1 of 3 samples are not valid molecules: m.sdf "
                                         "holds the 2 valid ones"):
        sdf = export_samples(items, "molecule", None, tmp_path / "m.sdf", symbols=spec)
    text = sdf.read_text()
    assert text.count("$$$$") == 2 and "c1ccccc1O" in text  # the invalid one is skipped
    with pytest.warns(UserWarning, match="1 of 3 samples are not valid molecules: their cells"):
        png = export_samples(items, "molecule", None, tmp_path / "m.png", symbols=spec)
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.warns(UserWarning, match="1 of 3 samples are not valid SMILES"):
        smi = export_samples(items, "molecule", None, tmp_path / "m.smi", symbols=spec)
    lines = smi.read_text().splitlines()  # every sample, in order; the invalid one named so
    assert len(lines) == 3 and lines[0] == "CCO\tsample_0"
    assert sum(line.endswith("_invalid") for line in lines) == 1
    with pytest.raises(ExportError, match="molecule samples export as"):
        export_samples(items, "molecule", None, tmp_path / "m.stl", symbols=spec)


def test_png_grid_labels_invalid_cells_and_draws_each_molecule_at_its_own_scale(tmp_path):
    """RDKit's grid drew an invalid sample's cell blank (no number, no "invalid": an empty
    molecule's legend is not drawn either), and drew every molecule at the scale of the
    longest chain: benzene was a speck in its 200 px cell."""
    from PIL import Image

    from ebm_engine.export.samples import export_samples

    smiles = ["c1ccccc1", "C" * 30, "C1CC"]
    spec = _spec(smiles)
    items = encode([smiles_tokens(s) for s in smiles], spec, 40)
    with pytest.warns(UserWarning, match="1 of 3 samples are not valid molecules"):
        out = export_samples(items, "molecule", None, tmp_path / "m.png", symbols=spec)
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    cell = 200  # px, 4 cells a row
    benzene, invalid = pixels[:cell, :cell], pixels[:cell, 2 * cell:3 * cell]
    red = (invalid[..., 0] > 150) & (invalid[..., 1:] < 100).all(-1)
    assert red.sum() > 500  # a frame and the caption, in red
    # the ring alone (not its caption, the cell's lowest tenth) spans most of its cell
    ink = (benzene[: int(cell * 0.85)] < 200).any(-1)
    cols = np.flatnonzero(ink.any(0))
    assert cols.max() - cols.min() > cell // 3, (cols.min(), cols.max())


def test_cli_sample_writes_8_smiles_lines(tmp_path):
    path = tmp_path / "few.smi"
    path.write_text("\n".join(["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl"] * 4) + "\n")
    cfg = config_for(str(path), "molecules", overrides=[
        ("model.width", 16), ("train.batch_size", 8), ("train.checkpoint_every", 0),
        ("sampler.n_steps", 3), ("train.device", "cpu"),
        ("train.options", {"z_dim": 4, "emb_dim": 8, "gen_width": 16, "post_steps": 2}),
    ])
    run = tmp_path / "run"
    trainer = Trainer(cfg, run)
    list(trainer.events(2))
    out = tmp_path / "x.smi"
    done = subprocess.run([sys.executable, "-m", "ebm_engine", "sample", "--run", str(run),
                           "--n", "8", "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 8


def test_sampled_molecules_carry_the_datas_properties_where_the_data_is_there(tmp_path,
                                                                            monkeypatch):
    """A sampled model's snapshot had no data properties (only training snapshots' batches
    had the data), so the app's "data" histogram was missing; without the data it still
    samples, the samples alone."""
    from ebm_engine.learning.events import SamplesReady
    from ebm_engine.session import Session

    path = tmp_path / "few.smi"
    path.write_text("\n".join(["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCCl"]) + "\n")
    cfg = config_for(str(path), "molecules", overrides=[
        ("model.width", 16), ("train.batch_size", 4), ("train.checkpoint_every", 0),
        ("sampler.n_steps", 3), ("train.device", "cpu"),
        ("train.options", {"z_dim": 4, "emb_dim": 8, "gen_width": 16, "post_steps": 2}),
    ])
    run = tmp_path / "run"
    list(Trainer(cfg, run).events(1))

    def sampled(session: Session) -> SamplesReady:
        return next(e for e in session.sample(run, n=4) if isinstance(e, SamplesReady))

    session = Session(display=True)
    snap = sampled(session)
    # CCN, CCO, acetic acid, chloroethane, benzene
    assert sorted(snap.extras["data_mw"]) == pytest.approx([45.08, 46.07, 60.05, 64.51, 78.11],
                                                           abs=0.01)
    assert len(snap.extras["data_qed"]) == 5
    import ebm_engine.data.molecules as molecules

    with monkeypatch.context() as patch:  # kept for the next Sample: not read again
        patch.setattr(molecules, "data_property_extras", lambda cfg: pytest.fail("read again"))
        assert sampled(session).extras["data_logp"].shape == (5,)
    import os

    # the file edited since: read again (it was kept for the session's life)
    path.write_text("\n".join(["CCO", "CCN", "c1ccccc1"]) + "\n")
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert len(sampled(session).extras["data_mw"]) == 3
    path.unlink()  # the data are gone: the model samples all the same
    snap = sampled(session)
    assert len(snap.samples) == 4 and not any(k.startswith("data_") for k in snap.extras)
    path.write_text("\n".join(["CCO", "CCN"]) + "\n")  # back: not "none" for ever
    assert len(sampled(session).extras["data_mw"]) == 2


def test_smi_export_without_rdkit_writes_every_sample_unchecked(tmp_path, monkeypatch):
    """Naming the invalid SMILES needs RDKit; a machine without it still writes the file."""
    import ebm_engine.metrics.symbols as symbols_module
    from ebm_engine.export.samples import export_samples

    def no_rdkit(*_args, **_kwargs):
        raise ImportError("RDKit is needed: pip install -e '.[chem]'")

    monkeypatch.setattr(symbols_module, "validity", no_rdkit)
    smiles = ["CCO", "C1CC", "c1ccccc1O"]
    spec = _spec(smiles)
    items = encode([smiles_tokens(s) for s in smiles], spec, 16)
    out = export_samples(items, "molecule", None, tmp_path / "m.smi", symbols=spec)
    assert out.read_text().splitlines() == ["CCO\tsample_0", "C1CC\tsample_1",
                                            "c1ccccc1O\tsample_2"]
