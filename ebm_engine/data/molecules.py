"""Molecules as SMILES strings: the ``molecules`` demo and ``.smi`` files (needs RDKit).

The demo's molecules ship inside RDKit itself: ``rdkit/Data/NCI/first_5K.smi``
(the first 5000 structures of the NCI open database, in every RDKit
wheel; ``RDConfig.RDDataDir``). They are filtered to small, drug-like,
single-fragment, neutral organic molecules (:func:`drug_like`) and written
as RDKit canonical SMILES without stereochemistry, so one molecule has one
string. Items are character-level SMILES tokens (``Cl``, ``Br`` and bracket
atoms kept whole; :func:`~ebm_engine.data.tokens.smiles_tokens`).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ebm_engine.config import DataConfig
from ebm_engine.data._collect import int_option
from ebm_engine.data.catalogue import demo, reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.text import read_lines
from ebm_engine.data.tokens import SymbolSpec, build_vocabulary, encode, smiles_tokens
from ebm_engine.errors import DataError, EBMError

#: Longest SMILES (tokens) the demo keeps; ``data.options.max_tokens`` for files.
MAX_TOKENS = 40
DEFAULT_FILE_MAX_TOKENS = 80
#: Elements of the organic subset a demo molecule may contain.
ORGANIC = frozenset("C N O S F Cl Br P I".split())
HELDOUT_SHARE = 0.05
#: The molecule numbers at most this many invalid lines in a reader's error message.
SHOWN_BAD_LINES = 5


def _need_rdkit() -> None:
    from ebm_engine.metrics.symbols import RDKIT_HINT, rdkit_available

    if not rdkit_available():
        raise DataError(RDKIT_HINT)


def drug_like(mol) -> bool:
    """Small, neutral, single-fragment organic molecule: 6–30 heavy atoms,
    molecular weight ≤ 400, organic-subset elements only, no radicals."""
    from rdkit.Chem import Descriptors

    if mol is None or "." in _canonical(mol):
        return False
    heavy = mol.GetNumHeavyAtoms()
    if not 6 <= heavy <= 30 or Descriptors.MolWt(mol) > 400:
        return False
    return all(a.GetSymbol() in ORGANIC and a.GetFormalCharge() == 0
               and a.GetNumRadicalElectrons() == 0 for a in mol.GetAtoms())


def _canonical(mol) -> str:
    from rdkit import Chem

    return Chem.MolToSmiles(mol, isomericSmiles=False)


def nci_smiles_path() -> Path:
    """Where RDKit keeps the NCI SMILES file it ships."""
    from rdkit import RDConfig

    return Path(os.path.join(RDConfig.RDDataDir, "NCI", "first_5K.smi"))


def _dataset(name: str, smiles: list[str], source: str) -> Dataset:
    from ebm_engine.metrics.symbols import parse_smiles, properties

    tokens = [smiles_tokens(s) for s in smiles]
    spec = SymbolSpec(build_vocabulary(tokens), "", "smiles")
    ids = encode(tokens, spec, max(len(t) for t in tokens) + 1)
    n_held = int(len(ids) * HELDOUT_SHARE) if len(ids) >= 40 else 0
    train, held = (ids[:-n_held], ids[-n_held:]) if n_held else (ids, ids[:0])
    train_smiles = smiles[: len(train)]
    props = properties([parse_smiles(s) for s in train_smiles[:2000]])
    return Dataset(name, "molecule", train, None,
                   {"symbols": spec, "heldout": held, "properties": props, "source": source})


@demo("molecules", "molecule",
      "drug-like molecules as SMILES (NCI set shipped inside RDKit); needs RDKit: pip install -e '.[chem]'",
      preset="molecules", expected_minutes=5.0)
def load_molecules(cfg: DataConfig) -> Dataset:
    _need_rdkit()
    from ebm_engine.metrics.symbols import parse_smiles

    path = nci_smiles_path()
    if not path.is_file():
        raise DataError(f"{path}: RDKit's NCI SMILES file is missing from this RDKit install")
    seen: dict[str, None] = {}
    for _, line in read_lines(path, "SMILES"):
        mol = parse_smiles(line.split()[0])
        if drug_like(mol):
            s = _canonical(mol)
            if len(smiles_tokens(s)) <= MAX_TOKENS:
                seen.setdefault(s, None)
    # A fixed shuffle: the held-out tail is not the file's last (similar) entries.
    smiles = list(seen)
    order = np.random.default_rng(0).permutation(len(smiles))
    return _dataset("molecules", [smiles[i] for i in order], f"RDKit {path.name}")


@reader("smiles", (".smi", ".smiles"), label="SMILES files", folder_extensions=(),
        options=("max_tokens",))
def read_smiles_file(path: Path, cfg: DataConfig) -> Dataset:
    """One SMILES per line (a second column, e.g. a name, is ignored).

    Invalid lines (RDKit cannot parse them) are skipped; their count and
    first line numbers go to ``meta["skipped"]``/``meta["warning"]`` and to
    stderr. Molecules are kept as RDKit canonical SMILES (stereo kept).
    """
    _need_rdkit()
    import sys

    from rdkit import Chem

    from ebm_engine.metrics.symbols import parse_smiles

    max_tokens = int_option(cfg.options, "max_tokens", DEFAULT_FILE_MAX_TOKENS, 1, 10_000)
    good: list[str] = []
    bad: list[int] = []
    long = 0
    for number, line in read_lines(path, "SMILES"):
        mol = parse_smiles(line.split()[0])
        if mol is None:
            bad.append(number)
            continue
        s = Chem.MolToSmiles(mol)
        if len(smiles_tokens(s)) > max_tokens:
            long += 1
            continue
        good.append(s)
    if not good:
        raise DataError(f"{path}: no valid SMILES ({len(bad)} invalid line(s)"
                        + (f", {long} longer than {max_tokens} tokens" if long else "") + ")")
    dataset = _dataset(str(path), good, str(path))
    if bad:
        shown = ", ".join(str(n) for n in bad[:SHOWN_BAD_LINES]) + (" …" if len(bad) > SHOWN_BAD_LINES else "")
        warning = f"{path}: skipped {len(bad)} invalid SMILES line(s): {shown}"
        dataset.meta["warning"] = warning
        print(warning, file=sys.stderr)
    dataset.meta["skipped"] = bad
    dataset.meta["too_long"] = long
    return dataset


#: Prefix of the snapshot extras that carry the training molecules' properties
#: (``data_logp``, ``data_qed``, ``data_mw``): the app draws them beside the samples'.
DATA_PROPERTY_PREFIX = "data_"


def property_extras(dataset: Dataset) -> dict[str, np.ndarray]:
    """The reference properties of a molecule data set as snapshot extras.

    Parameters
    ----------
    dataset : Dataset
        Loaded data; only molecule data have ``meta["properties"]``.

    Returns
    -------
    dict of str to np.ndarray
        ``data_logp``, ``data_qed`` and ``data_mw`` (float32, one value per
        training molecule, up to 2000), or empty for other data.
    """
    props = dataset.meta.get("properties") if dataset.kind == "molecule" else None
    if not props:
        return {}
    return {DATA_PROPERTY_PREFIX + k: np.asarray(v, dtype=np.float32) for k, v in props.items()}


def data_property_extras(cfg: DataConfig) -> dict[str, np.ndarray]:
    """:func:`property_extras` of the data ``cfg`` names, read now.

    A model samples without its training data: where they cannot be read (a
    moved ``.smi`` file, no RDKit) this is empty and the samples are shown alone.
    """
    from ebm_engine.data import load_dataset

    try:
        return property_extras(load_dataset(cfg))
    except (EBMError, OSError):
        return {}
