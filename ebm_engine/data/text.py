"""Text data: the grammar demos and the reader of users' sentence files.

Items are token ids (:mod:`ebm_engine.data.tokens`): one sentence per item,
word-level tokens, EOS then padding. ``Dataset.meta`` carries

- ``symbols``: the :class:`~ebm_engine.data.tokens.SymbolSpec` (vocabulary,
  checker, attribute) that the data spec saves with every checkpoint;
- ``heldout``: token ids of sentences kept out of training, on which
  ``ebm eval`` measures the negative log-likelihood bound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ebm_engine.config import DataConfig
from ebm_engine.data import grammar
from ebm_engine.data._collect import int_option
from ebm_engine.data.catalogue import demo, reader
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.tokens import SymbolSpec, build_vocabulary, encode, word_tokens
from ebm_engine.errors import DataError

#: Training and held-out sentences of the grammar demos (fixed seeds: same corpus everywhere).
GRAMMAR_TRAIN, GRAMMAR_HELDOUT = 20000, 500
TRAIN_SEED, HELDOUT_SEED = 0, 1
#: Attribute of the controlled demo unless ``data.options.attribute`` names another.
DEFAULT_ATTRIBUTE = "mood+tense"
ATTRIBUTES = ("mood", "tense", "topic", "mood+tense")
#: Longest line (in words) a user's file keeps unless ``data.options.max_tokens`` says.
DEFAULT_MAX_TOKENS = 40
#: Largest vocabulary of a user's file; rarer words become ``<unk>``.
MAX_VOCABULARY = 5000
#: Share of a user's lines held out for the likelihood bound (when there are enough).
HELDOUT_SHARE = 0.05
#: How a ``.txt`` export of samples ends an invalid sample's line (:mod:`ebm_engine.export.symbols`).
INVALID_MARK = "\tinvalid"


def grammar_vocabulary() -> tuple[str, ...]:
    """Every word the grammar can produce (so any grammatical sample is encodable)."""
    return build_vocabulary([sorted(grammar.lexicon().words())])


def _grammar_dataset(name: str, attribute: str) -> Dataset:
    train = grammar.corpus(GRAMMAR_TRAIN, TRAIN_SEED)
    seen = {s.words for s in train}
    heldout = [s for s in grammar.corpus(GRAMMAR_HELDOUT * 2, HELDOUT_SEED)
               if s.words not in seen][:GRAMMAR_HELDOUT]
    return grammar_dataset(name, attribute, train, heldout)


def grammar_dataset(name: str, attribute: str, train: list[grammar.Sentence],
                    heldout: list[grammar.Sentence]) -> Dataset:
    """A text dataset of grammar sentences (the whole grammar's vocabulary), with
    ``attribute`` (``""``, ``mood``, ``tense``, ``topic``, ``mood+tense``) in column 0."""
    values = grammar.attribute_values(attribute) if attribute else ()
    spec = SymbolSpec(grammar_vocabulary(), " ", "grammar", attribute, values)
    length = grammar.MAX_TOKENS + 1

    def ids(sentences: list[grammar.Sentence]) -> np.ndarray:
        labels = None
        if attribute:
            labels = [values.index(grammar.attribute_value(
                grammar.Parse(s.mood, s.tense, s.topic), attribute)) for s in sentences]
        return encode([s.words for s in sentences], spec, length, labels)

    return Dataset(name, "text", ids(train), None,
                   {"symbols": spec, "heldout": ids(heldout), "source": "built-in grammar"})


@demo("grammar-text", "text",
      "sentences of a built-in grammar (agreement, nesting, ~440 words); validity checked exactly",
      preset="grammar-text", expected_minutes=3.0)
def load_grammar_text(cfg: DataConfig) -> Dataset:
    return _grammar_dataset("grammar-text", "")


@demo("grammar-text-controlled", "text",
      "grammar sentences with their mood and tense: sample given an attribute",
      preset="grammar-text-controlled", expected_minutes=4.0, options=("attribute",))
def load_grammar_text_controlled(cfg: DataConfig) -> Dataset:
    attribute = cfg.options.get("attribute", DEFAULT_ATTRIBUTE)
    if attribute not in ATTRIBUTES:
        raise DataError(f"data.options.attribute must be one of {list(ATTRIBUTES)}, "
                        f"got {attribute!r}")
    return _grammar_dataset("grammar-text-controlled", str(attribute))


def read_text(path: Path, expected: str) -> str:
    """The whole UTF-8 text of ``path`` (a BOM is dropped).

    Raises
    ------
    DataError
        One line: unreadable, binary (NUL bytes; ``expected`` says what was
        expected instead), or not UTF-8 (naming the first bad line).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if b"\x00" in raw[:65536]:
        raise DataError(f"{path}: binary file, expected {expected}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{path}: line {line} is not UTF-8 text "
                        "(save the file as UTF-8)") from None


def read_lines(path: Path, what: str) -> list[tuple[int, str]]:
    """Non-empty, stripped lines of a UTF-8 text file with their line numbers.

    Raises
    ------
    DataError
        One line: the file is empty, binary (NUL bytes), or not UTF-8
        (naming the first bad line).
    """
    text = read_text(path, f"UTF-8 text with one {what} per line")
    lines = [(n, s.strip()) for n, s in enumerate(text.splitlines(), 1) if s.strip()]
    if not lines:
        raise DataError(f"{path}: empty file, expected one {what} per line")
    return lines


# One file of sentences; .txt files in a folder (a README …) say nothing of its kind.
@reader("text-lines", (".txt",), label="sentence files", folder_extensions=(),
        options=("max_tokens",))
def read_text_file(path: Path, cfg: DataConfig) -> Dataset:
    """One sentence per line (UTF-8), word tokens split on white space.

    Lines longer than ``data.options.max_tokens`` words (default 40) are
    dropped (counted in ``meta["dropped"]``). When every line is a sentence
    of the built-in grammar, its checker judges the samples too. In a file
    whose only TABs are such marks (an ``ebm sample`` export), lines that end
    in a TAB and ``invalid`` are skipped: their line numbers go to
    ``meta["skipped"]`` and a warning. A file with other TABs (a user's own
    tab-separated text, ``sentence<TAB>invalid`` a label among others) keeps
    every line.
    """
    import warnings

    max_tokens = int_option(cfg.options, "max_tokens", DEFAULT_MAX_TOKENS, 1, 10_000)
    raw = read_text(path, "UTF-8 text with one sentence per line").splitlines()
    # the mark before stripping: an empty invalid sample's line is the mark alone
    marked = [n for n, line in enumerate(raw, 1) if line.rstrip().endswith(INVALID_MARK)]
    tabbed = sum(1 for line in raw if "\t" in line)
    if tabbed > len(marked):  # not an export's marks: a user's tab-separated lines, all kept
        marked = []
    skip = set(marked)
    lines = [word_tokens(s) for n, s in enumerate(raw, 1) if s.strip() and n not in skip]
    if not lines:
        raise DataError(f"{path}: " + ("every line is marked invalid (TAB 'invalid' at its "
                                       "end)" if marked else "empty file")
                        + ", expected one sentence per line")
    kept = [ws for ws in lines if len(ws) <= max_tokens]
    if not kept:
        raise DataError(f"{path}: every line is longer than {max_tokens} words "
                        "(set data.options.max_tokens)")
    counts = build_vocabulary(kept)
    tokens = counts[: MAX_VOCABULARY]
    checker = "grammar" if all(grammar.check(ws) is not None for ws in kept) else ""
    if checker:  # the whole grammar's words: a novel grammatical sample stays encodable
        tokens = grammar_vocabulary()
    spec = SymbolSpec(tokens, " ", checker)
    length = max(len(ws) for ws in kept) + 1
    ids = encode(kept, spec, length)
    n_held = int(len(ids) * HELDOUT_SHARE) if len(ids) >= 40 else 0
    train, held = (ids[:-n_held], ids[-n_held:]) if n_held else (ids, ids[:0])
    meta = {"symbols": spec, "heldout": held, "dropped": len(lines) - len(kept),
            "source": str(path), "skipped": marked}
    if marked:
        shown = ", ".join(str(n) for n in marked[:5]) + (" …" if len(marked) > 5 else "")
        meta["warning"] = (f"{path}: skipped {len(marked)} line(s) marked invalid (TAB "
                           f"'invalid' at the end): {shown}")
        warnings.warn(meta["warning"], stacklevel=2)
    return Dataset(str(path), "text", train, None, meta)
