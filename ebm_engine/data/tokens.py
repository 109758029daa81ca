"""Token sequences: the vocabulary of the symbol kinds (``text``, ``molecule``).

Items of these kinds are int64 token ids ``(N, T)``: the tokens of one
sentence or SMILES string, then :data:`EOS`, then :data:`PAD` up to ``T``.
When the data carries an attribute (the controlled-text demo), column 0
holds the attribute's index and the tokens start at column 1
(:attr:`SymbolSpec.attribute_column`), so a batch carries its labels with
it through the trainer's batch path.

The vocabulary travels with the model: :class:`SymbolSpec` is part of the
data spec in a checkpoint's ``state.json`` (plain JSON: loading it never
executes code), so a run samples, decodes and checks without its training
set.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ebm_engine.errors import DataError

if TYPE_CHECKING:
    from ebm_engine.data.dataset import Dataset

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"
#: Reserved tokens, at ids 0..3 in every vocabulary.
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = range(4)

#: Data kinds whose items are token ids.
TOKEN_KINDS = ("text", "molecule")

# Atoms in brackets, two-letter elements, ring-bond numbers above 9, then any one character.
_SMILES_TOKEN = re.compile(r"(\[[^\]]+\]|Br|Cl|%\d{2}|.)")


def word_tokens(line: str) -> list[str]:
    """Words of a sentence: split on white space (punctuation is its own word in the grammar)."""
    return line.split()


def smiles_tokens(smiles: str) -> list[str]:
    """Tokens of a SMILES string: bracket atoms, ``Cl``/``Br`` and ``%nn`` ring numbers stay whole."""
    return _SMILES_TOKEN.findall(smiles.strip())


@dataclass(frozen=True)
class SymbolSpec:
    """What decodes and judges token ids: vocabulary, joiner, checker, attributes.

    Attributes
    ----------
    tokens : tuple of str
        The vocabulary; ids index it (the first four are :data:`SPECIALS`).
    joiner : str
        Put between tokens when a sequence becomes a string (``" "`` for
        words, ``""`` for SMILES characters).
    checker : str
        How validity is judged: ``grammar`` (the built-in grammar's exact
        parser), ``smiles`` (RDKit), or ``""`` (no checker: user text).
    attribute : str
        Name of the attribute in column 0 (``""``: no attribute column).
    attribute_values : tuple of str
        The attribute's classes; column 0 holds an index into it.
    """

    tokens: tuple[str, ...]
    joiner: str = " "
    checker: str = ""
    attribute: str = ""
    attribute_values: tuple[str, ...] = field(default=())

    @property
    def attribute_column(self) -> int:
        """Columns before the tokens (1 with an attribute, else 0)."""
        return 1 if self.attribute else 0

    @property
    def n_attributes(self) -> int:
        """Number of attribute classes (1 without an attribute)."""
        return max(len(self.attribute_values), 1)

    @property
    def size(self) -> int:
        return len(self.tokens)

    def ids(self, seq: Iterable[str]) -> list[int]:
        """Token ids of ``seq`` (unknown tokens → :data:`UNK_ID`)."""
        index = self._index()
        return [index.get(t, UNK_ID) for t in seq]

    def _index(self) -> dict[str, int]:
        # Cached on the frozen instance; not a field, so never saved.
        cached = self.__dict__.get("_index_cache")
        if cached is None:
            cached = {t: i for i, t in enumerate(self.tokens)}
            object.__setattr__(self, "_index_cache", cached)
        return cached

    def decode(self, row: Sequence[int] | np.ndarray) -> str:
        """The string of one item (attribute column skipped; stops at EOS/PAD)."""
        out: list[str] = []
        for i in np.asarray(row).astype(np.int64)[self.attribute_column:]:
            if i in (EOS_ID, PAD_ID):
                break
            if i == BOS_ID:
                continue
            out.append(self.tokens[i] if 0 <= i < len(self.tokens) else UNK)
        return self.joiner.join(out)

    def decode_all(self, items: np.ndarray) -> list[str]:
        """Strings of ``(N, T)`` items."""
        return [self.decode(row) for row in np.asarray(items)]

    def attribute_of(self, items: np.ndarray) -> np.ndarray:
        """Attribute indices of ``(N, T)`` items (zeros without an attribute)."""
        items = np.asarray(items)
        if not self.attribute:
            return np.zeros(len(items), dtype=np.int64)
        return items[:, 0].astype(np.int64)

    def to_dict(self) -> dict:
        return {"tokens": list(self.tokens), "joiner": self.joiner, "checker": self.checker,
                "attribute": self.attribute, "attribute_values": list(self.attribute_values)}

    @classmethod
    def from_dict(cls, raw: dict) -> SymbolSpec:
        return cls(tuple(str(t) for t in raw["tokens"]), str(raw.get("joiner", " ")),
                   str(raw.get("checker", "")), str(raw.get("attribute", "")),
                   tuple(str(v) for v in raw.get("attribute_values", ())))


def build_vocabulary(sequences: Iterable[Sequence[str]]) -> tuple[str, ...]:
    """Specials then every token seen, most frequent first (ties alphabetical: deterministic)."""
    counts: dict[str, int] = {}
    for seq in sequences:
        for t in seq:
            counts[t] = counts.get(t, 0) + 1
    ordered = sorted((t for t in counts if t not in SPECIALS), key=lambda t: (-counts[t], t))
    return SPECIALS + tuple(ordered)


def encode(sequences: Sequence[Sequence[str]], spec: SymbolSpec, length: int,
           attributes: Sequence[int] | None = None) -> np.ndarray:
    """``(N, attribute_column + length)`` int64 ids: tokens, EOS, PAD.

    ``length`` counts the EOS, so sequences of up to ``length - 1`` tokens fit;
    longer ones must have been dropped by the caller.
    """
    col = spec.attribute_column
    out = np.full((len(sequences), col + length), PAD_ID, dtype=np.int64)
    for n, seq in enumerate(sequences):
        ids = spec.ids(seq)[: length - 1]
        out[n, col:col + len(ids)] = ids
        out[n, col + len(ids)] = EOS_ID
    if col:
        out[:, 0] = np.asarray(attributes, dtype=np.int64)
    return out


def recode(ids: np.ndarray, source: SymbolSpec, target: SymbolSpec) -> tuple[np.ndarray, dict[str, int]]:
    """Token ids of ``source``'s vocabulary as ids of ``target``'s.

    Parameters
    ----------
    ids : numpy.ndarray
        ``(N, T)`` items encoded with ``source`` (attribute column included).
    source, target : SymbolSpec
        The vocabularies; both must have the same attribute column.

    Returns
    -------
    ids : numpy.ndarray
        The same items encoded with ``target``: a token ``target`` lacks becomes
        :data:`UNK_ID`.
    missing : dict
        ``{token: items holding it}`` of the tokens ``target`` lacks.
    """
    if source.attribute_column != target.attribute_column:
        raise ValueError("recode: the vocabularies have different attribute columns")
    index = target._index()
    lookup = np.array([index.get(t, UNK_ID) for t in source.tokens], dtype=np.int64)
    lookup[:len(SPECIALS)] = np.arange(len(SPECIALS))  # the specials' ids are fixed
    col = source.attribute_column
    ids = np.asarray(ids, dtype=np.int64)
    out = ids.copy()
    out[:, col:] = lookup[ids[:, col:]]
    missing: dict[str, int] = {}
    for k, token in enumerate(source.tokens[len(SPECIALS):], len(SPECIALS)):
        if token not in index:
            held = int((ids[:, col:] == k).any(axis=1).sum())
            if held:
                missing[token] = held
    return out, missing


def in_vocabulary(dataset: Dataset, symbols: SymbolSpec | None) -> tuple[Dataset, str | None]:
    """``dataset`` encoded with a model's vocabulary ``symbols``, and what that changed.

    A model's ids index its own vocabulary, saved with it: data whose
    vocabulary has since changed (a word the grammar gained, a text file
    edited) must be read in the model's, or every id past the first change
    names another word (and a word the model lacks an id past its embedding).

    Parameters
    ----------
    dataset : Dataset
        Token data (anything else is returned as it is).
    symbols : SymbolSpec or None
        The model's vocabulary (``DataSpec.symbols`` of its checkpoint).

    Returns
    -------
    dataset : Dataset
        ``dataset`` itself where the vocabularies agree, else a copy whose
        items and ``meta["heldout"]`` use ``symbols`` (``meta["symbols"]`` is
        ``symbols``).
    note : str or None
        One line saying which words became ``<unk>`` (``None``: nothing changed).
    """
    from ebm_engine.data.dataset import Dataset

    spec: SymbolSpec | None = dataset.meta.get("symbols")
    if symbols is None or spec is None or (spec.tokens == symbols.tokens
                                           and spec.attribute_values == symbols.attribute_values):
        return dataset, None
    if spec.attribute_column != symbols.attribute_column:
        return dataset, None  # another item layout: the shape check says so
    classes = None
    if spec.attribute_column and spec.attribute_values != symbols.attribute_values:
        # column 0 indexes the attribute's classes: by name into the model's
        where = {v: i for i, v in enumerate(symbols.attribute_values)}
        if lacking := [v for v in spec.attribute_values if v not in where]:
            raise DataError(f"{dataset.name}: {spec.attribute} {lacking} are not among the "
                            f"model's {list(symbols.attribute_values)}")
        classes = np.array([where[v] for v in spec.attribute_values], dtype=np.int64)

    def in_model(ids: np.ndarray) -> tuple[np.ndarray, dict[str, int]]:
        out, lost = recode(ids, spec, symbols)
        if classes is not None:
            out[:, 0] = classes[np.asarray(ids, dtype=np.int64)[:, 0]]
        return out, lost

    stored = dataset.stored.cpu().numpy()
    items, missing = in_model(stored)
    meta = {**dataset.meta, "symbols": symbols}
    held = dataset.meta.get("heldout")
    if held is not None and len(held):
        meta["heldout"], _ = in_model(np.asarray(held))
    out = Dataset(dataset.name, dataset.kind, items, dataset.value_range, meta)
    if not missing:
        what = "words" if spec.tokens != symbols.tokens else f"{spec.attribute} classes"
        return out, (f"{dataset.name}: read in the model's vocabulary (its {what} are "
                     "numbered otherwise)")
    words = sorted(missing, key=lambda t: -missing[t])
    shown = ", ".join(f"{t!r}" for t in words[:5]) + (" …" if len(words) > 5 else "")
    lost = [k for k, t in enumerate(spec.tokens) if t in missing]
    items_with = int(np.isin(stored[:, spec.attribute_column:], lost).any(axis=1).sum())
    return out, (f"{dataset.name}: {items_with} of its {len(items)} items hold words the "
                 f"model's vocabulary lacks ({shown}); they read as {UNK} (the model "
                 "learnt other data: train anew to learn them)")
