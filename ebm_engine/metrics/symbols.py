"""Metrics of generated symbol sequences: sentences and SMILES strings.

=====================  ===================================================
metric                 meaning
=====================  ===================================================
``valid``              share of samples the data's checker accepts: the
                       built-in grammar's exact parser, or RDKit parsing
                       the SMILES (``Chem.MolFromSmiles``), never a string
                       heuristic
``distinct_1/2``       distinct unigrams / bigrams over all generated
                       tokens (text); ``distinct_1/2_data``: the same of as
                       many training sentences. Closer to the data's is
                       better: random tokens score higher than sentences
``unique``             distinct valid samples / valid samples
``novel``              distinct valid samples not in the training set /
                       distinct valid samples (the MOSES convention)
``nll_heldout``        negative log-likelihood bound on held-out sentences,
                       nats per token (``−log mean_k p(x|z_k)``, z_k from the
                       prior sampler; see ``latent_seq.latent_log_likelihood``)
``attr_accuracy``      samples drawn given an attribute whose parse has that
                       attribute (invalid samples count as misses)
``attr_chance``        the same for a randomly chosen target attribute:
                       what an uncontrolled model scores
``logp_w1`` …          Wasserstein-1 distance between the logP / QED /
                       molecular weight distributions of valid samples and
                       of the data (molecules)
=====================  ===================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ebm_engine.data.tokens import SymbolSpec

#: Which way each metric improves (merged into ``evaluate.BETTER``).
BETTER = {
    # distinct n-grams: garbage raises them too; read them beside the data's (_data)
    "valid": "higher", "distinct_1": "reference", "distinct_2": "reference", "unique": "higher",
    "distinct_1_data": "reference", "distinct_2_data": "reference",
    "novel": "higher", "nll_heldout": "lower", "attr_accuracy": "higher",
    "attr_chance": "reference", "attr_valid": "higher",
    "logp_w1": "lower", "qed_w1": "lower", "mw_w1": "lower",
    # the samples' and the data's mean of a property describe, they do not score
    **{f"{p}{who}_mean": "reference" for p in ("logp", "qed", "mw") for who in ("", "_data")},
}
#: Molecular properties compared with the data: name → RDKit descriptor.
PROPERTIES = ("logp", "qed", "mw")

RDKIT_HINT = "RDKit is needed for molecules: pip install -e '.[chem]' (or pip install rdkit)"


def rdkit_available() -> bool:
    try:
        import rdkit  # noqa: F401
    except ImportError:
        return False
    return True


def _quiet_rdkit() -> None:
    from rdkit import RDLogger

    RDLogger.DisableLog("rdApp.*")  # invalid samples are expected; no stderr flood


def parse_smiles(smiles: str):
    """The RDKit molecule of ``smiles``, or ``None`` (empty or unparsable)."""
    from rdkit import Chem

    _quiet_rdkit()
    if not smiles:
        return None
    mol = Chem.MolFromSmiles(smiles)
    return mol if mol is not None and mol.GetNumAtoms() > 0 else None


def canonical(smiles: str) -> str | None:
    """RDKit's canonical SMILES, or ``None`` if invalid."""
    from rdkit import Chem

    mol = parse_smiles(smiles)
    return Chem.MolToSmiles(mol) if mol is not None else None


def validity(spec: SymbolSpec, strings: Sequence[str]) -> np.ndarray:
    """Per-sample validity by the data's checker (all ``True`` without one).

    Raises
    ------
    ImportError
        ``smiles`` checking without RDKit (message: what to install).
    """
    if spec.checker == "grammar":
        from ebm_engine.data.grammar import check

        return np.array([check(s) is not None for s in strings], dtype=bool)
    if spec.checker == "smiles":
        if not rdkit_available():
            raise ImportError(RDKIT_HINT)
        return np.array([parse_smiles(s) is not None for s in strings], dtype=bool)
    return np.ones(len(strings), dtype=bool)


def distinct_n(token_lists: Sequence[Sequence[str]], n: int) -> float:
    """Distinct n-grams / all n-grams over the samples (Li et al. 2016)."""
    grams = [tuple(t[i:i + n]) for t in token_lists for i in range(len(t) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def properties(mols: list) -> dict[str, np.ndarray]:
    """logP (Crippen), QED and molecular weight of RDKit molecules."""
    from rdkit.Chem import QED, Crippen, Descriptors

    return {"logp": np.array([Crippen.MolLogP(m) for m in mols]),
            "qed": np.array([QED.qed(m) for m in mols]),
            "mw": np.array([Descriptors.MolWt(m) for m in mols])}


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> float:
    """W1 distance of two 1D samples (area between their empirical quantile functions;
    exact, where 201 interpolated quantiles were off by a quarter for small samples)."""
    from scipy.stats import wasserstein_distance

    if len(a) == 0 or len(b) == 0:
        return float("nan")
    return float(wasserstein_distance(a, b))


def string_metrics(spec: SymbolSpec, samples: Sequence[str], training: set[str],
                   reference_props: dict[str, np.ndarray] | None = None) -> dict[str, float]:
    """Validity, diversity and novelty of decoded samples (and molecule properties).

    ``valid`` only where the data has a checker (grammar, SMILES): user text has
    none, and "valid 1" would say every sample passed a check nobody made.
    """
    valid = validity(spec, samples)
    good = [s for s, ok in zip(samples, valid, strict=True) if ok]
    out = {"valid": float(valid.mean()) if len(samples) else 0.0} if spec.checker else {}
    if spec.checker == "smiles":
        keys = [canonical(s) for s in good]
    else:
        keys = list(good)
    # of the valid samples: with none, undefined (not 0, which reads as "all repeats")
    out["unique"] = len(set(keys)) / len(keys) if keys else float("nan")
    out["novel"] = (sum(k not in training for k in set(keys)) / len(set(keys)) if keys
                    else float("nan"))
    if spec.joiner == " ":
        tokens = [s.split() for s in samples]
        out["distinct_1"] = distinct_n(tokens, 1)
        out["distinct_2"] = distinct_n(tokens, 2)
    if spec.checker == "smiles" and reference_props is not None:
        mols = [parse_smiles(s) for s in good]
        props = properties(mols)
        for name in PROPERTIES:
            out[f"{name}_w1"] = wasserstein_1d(props[name], reference_props[name])
            out[f"{name}_mean"] = float(props[name].mean()) if len(mols) else float("nan")
            out[f"{name}_data_mean"] = float(reference_props[name].mean())
    return out


def attribute_accuracy(method: Any, spec: SymbolSpec, n: int, seed: int = 0) -> dict[str, float]:
    """Sample ``n`` items given attributes cycling over the classes; score them by the checker.

    ``attr_accuracy`` counts samples whose parse has the requested attribute;
    ``attr_chance`` scores the same samples against a randomly drawn target
    (what an uncontrolled model gets); ``attr_valid`` is their validity.
    """
    from ebm_engine.data.grammar import attribute_value, check

    k = spec.n_attributes
    y = torch.arange(n) % k
    frames = list(method.sample_given(y))
    strings = spec.decode_all(frames[-1].x)
    parses = [check(s) for s in strings]
    got = np.array([spec.attribute_values.index(attribute_value(p, spec.attribute))
                    if p is not None else -1 for p in parses])
    rng = np.random.default_rng(seed)
    random_target = rng.integers(0, k, size=n)
    return {"attr_accuracy": float((got == y.numpy()).mean()),
            "attr_chance": float((got == random_target).mean()),
            "attr_valid": float((got >= 0).mean())}


def evaluate_symbols(method: Any, dataset: Any, n: int, seed: int = 0) -> dict[str, float]:
    """Every metric of a text or molecule run (``ebm eval``; the benchmark table).

    Parameters
    ----------
    method : LatentSeqEBM
        The trained method (samples, likelihood bound).
    dataset : Dataset
        Its training data (``meta["symbols"]``, ``meta["heldout"]``).
    n : int
        Samples to draw.
    seed : int
        Seed of the sampling.
    """
    spec: SymbolSpec = dataset.meta["symbols"]
    method.rng.manual_seed(seed)
    torch.manual_seed(seed)
    with torch.no_grad():
        frames = list(method.sample(n))
    samples = spec.decode_all(frames[-1].x)
    train_strings = spec.decode_all(dataset.stored.cpu().numpy())
    if spec.checker == "smiles":
        training = {c for c in (canonical(s) for s in train_strings) if c is not None}
        ref = dataset.meta.get("properties")
        if ref is None:
            ref = properties([m for m in (parse_smiles(s) for s in train_strings[:2000])
                              if m is not None])
        out = string_metrics(spec, samples, training, ref)
    else:
        out = string_metrics(spec, samples, set(train_strings))
    if "distinct_1" in out and train_strings:  # the data's own, at the same n
        pick = np.random.default_rng(seed).choice(len(train_strings), min(n, len(train_strings)),
                                                  replace=False)
        tokens = [train_strings[i].split() for i in pick]
        out["distinct_1_data"], out["distinct_2_data"] = (distinct_n(tokens, 1),
                                                          distinct_n(tokens, 2))
    held = dataset.meta.get("heldout")
    if held is not None and len(held):
        held_t = torch.as_tensor(np.asarray(held))
        ll = method.latent_log_likelihood(held_t)
        n_tokens = float((held_t[:, spec.attribute_column:] != 0).sum())
        out["nll_heldout"] = float(-ll.sum()) / n_tokens
    if spec.attribute and spec.checker == "grammar":
        method.rng.manual_seed(seed + 1)
        out.update(attribute_accuracy(method, spec, n, seed))
    return out
