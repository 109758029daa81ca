"""Write text and molecule samples: ``.txt``, ``.smi``, ``.sdf`` and a PNG grid.

Samples are token ids; the :class:`~ebm_engine.data.tokens.SymbolSpec`
saved with the run decodes them. Every format writes one record per
sample, in order, so ``ebm sample --n 8 --out x.txt`` gives 8 lines:

- ``.txt``: one decoded string per line (an empty sample is an empty line),
  one the data's checker rejects followed by ``<TAB>invalid`` (``cut -f1``
  gives the strings; the text reader skips marked lines); with an attribute,
  ``asked ATTRIBUTE<TAB>string``, and where the grammar parses it ``asked
  ATTRIBUTE; parsed ATTRIBUTE<TAB>string`` (``parsed invalid`` where it does
  not: the request is not the sentence's own);
- ``.smi``: ``SMILES<TAB>name`` per line (molecules; an invalid SMILES is named
  ``sample_N_invalid``);
- ``.sdf``: RDKit 2D molblocks of the valid molecules (invalid samples are
  skipped and counted in a warning; a PNG grid counts its cells marked invalid too);
- ``.png``: text lines drawn in a picture (DejaVu Sans where it is found, see
  :func:`text_font`; characters the font lacks are boxes, counted in a warning;
  invalid samples in red behind a ✗) under a caption that counts them
  (:func:`text_caption`: ``8 sentences, 2 invalid (red)``),
  or RDKit's 2D depictions in a grid, each molecule at its own scale, an invalid
  sample's cell framed in red with its number, "✗ invalid" and its SMILES.
"""

from __future__ import annotations

import functools
import io
import warnings
from pathlib import Path

import numpy as np

from ebm_engine import atomic
from ebm_engine.data.text import INVALID_MARK  # an invalid .txt line: the reader skips it
from ebm_engine.data.tokens import SymbolSpec
from ebm_engine.errors import ExportError

TEXT_FORMATS = (".txt", ".png", ".npz")
#: Pixel size of the text in a text sample PNG, and the margin around it.
TEXT_FONT_PX = 18
TEXT_MARGIN = 8
#: Pixel size of a text PNG's caption (the molecule cells' caption size), and the
#: height it takes above the first sentence.
TEXT_CAPTION_PX = 14
TEXT_CAPTION_HEIGHT = TEXT_CAPTION_PX + TEXT_CAPTION_PX // 2
#: Grey of a text PNG's caption: read as about the picture, not as one more sample.
TEXT_CAPTION_RGB = (90, 90, 90)
MOLECULE_FORMATS = (".smi", ".txt", ".sdf", ".png", ".npz")
#: The text PNG's font: Latin, Greek, Cyrillic and more (Pillow's own covers ASCII only).
TEXT_FONT_FILE = "DejaVuSans.ttf"
#: A code point no font maps: its glyph is the font's .notdef box.
_UNMAPPED = "\U0010ffff"
#: A molecule PNG: cell side (px), cells per row, longest bond drawn (px), caption size.
MOLECULE_CELL = 200
MOLECULE_COLUMNS = 4
MOLECULE_BOND_PX = 30.0
MOLECULE_CAPTION_PX = 14
#: Colour of what an export marks invalid (a molecule's cell, a text line).
INVALID_RGB = (190, 30, 30)


def export_symbols(samples: np.ndarray, kind: str, symbols: SymbolSpec | None,
                   path: Path, ext: str) -> Path:
    """Write decoded ``samples`` (token ids) of ``kind`` to ``path`` as ``ext``."""
    if symbols is None:
        raise ExportError(f"cannot write {kind} samples as {ext}: the run has no vocabulary")
    strings = symbols.decode_all(samples)
    if ext == ".txt" or (ext == ".smi" and kind == "molecule"):
        ok = _checked(symbols, strings)
        written = _write_lines(path, _lines(strings, samples, symbols, ext, ok,
                                            _parses(symbols, strings)))
        _say_invalid(ok, path, ext, bool(symbols.attribute))  # said once the file is there
        return written
    if ext == ".png" and kind == "text":
        ok = _checked(symbols, strings)
        parses = _parses(symbols, strings)  # once, for the lines and the caption
        return _text_png(_lines(strings, samples, symbols, ".png", ok, parses), path, ok,
                         text_caption(len(strings), ok,
                                      _parsed_as_asked(parses, samples, symbols)))
    if kind == "molecule" and ext in (".sdf", ".png"):
        return _molecule_file(strings, path, ext)
    allowed = TEXT_FORMATS if kind == "text" else MOLECULE_FORMATS
    raise ExportError(f"cannot write {kind} samples as {ext or 'a file without extension'}; "
                      f"{kind} samples export as {' '.join(allowed)}")


def _checked(symbols: SymbolSpec, strings: list[str]) -> np.ndarray | None:
    """Each string's validity by the data's checker; None where nothing judges them."""
    from ebm_engine.metrics.symbols import validity

    if not symbols.checker:
        return None
    try:
        return np.asarray(validity(symbols, strings), dtype=bool)
    except ImportError:  # SMILES without RDKit here (a run copied over): written unchecked
        return None


def _say_invalid(ok: np.ndarray | None, path: Path, ext: str, attribute: bool) -> None:
    bad = 0 if ok is None else int((~ok).sum())
    if not bad:
        return
    if ext == ".smi":
        warnings.warn(f"{bad} of {len(ok)} samples are not valid SMILES (named "
                      "sample_N_invalid in the file)", stacklevel=3)
    else:
        how = "say 'parsed invalid'" if attribute else "end in a TAB and 'invalid'"
        warnings.warn(f"{bad} of {len(ok)} samples are invalid: their lines in {path.name} "
                      f"{how}", stacklevel=3)


def text_caption(n: int, ok: np.ndarray | None, as_asked: int | None = None) -> str:
    """The caption of a text sample PNG: how many sentences, how many are invalid.

    Parameters
    ----------
    n : int
        Sentences drawn.
    ok : numpy.ndarray or None
        Each one's validity by the data's checker (``None``: nothing judged them,
        so no count of invalid ones is claimed).
    as_asked : int, optional
        Valid sentences whose parse has the attribute they were sampled with
        (controlled text; the app's "… as asked").

    Returns
    -------
    str
        E.g. ``8 sentences, 2 invalid (red)``, ``8 sentences, 0 invalid``,
        ``8 sentences, 1 invalid (red), 5 parsed as asked``.
    """
    out = f"{n} sentence{'' if n == 1 else 's'}"
    if ok is not None:
        bad = int((~np.asarray(ok, dtype=bool)).sum())
        out += f", {bad} invalid" + (" (red)" if bad else "")  # red: as the lines are drawn
    if as_asked is not None:
        out += f", {as_asked} parsed as asked"
    return out


def _parses(symbols: SymbolSpec, strings: list[str]) -> list | None:
    """The grammar's parse of each of ``strings`` (None where not valid), where the
    lines name the attribute a parse has (controlled grammar text); else None."""
    if not symbols.attribute or symbols.checker != "grammar":
        return None
    from ebm_engine.data.grammar import check

    return [check(s) for s in strings]


def _parsed_as_asked(parses: list | None, samples: np.ndarray,
                     symbols: SymbolSpec) -> int | None:
    """Sentences whose grammar parse (:func:`_parses`) has the attribute asked for
    (None: no such check)."""
    if parses is None:
        return None
    from ebm_engine.data.grammar import attribute_value

    asked = symbols.attribute_of(samples)
    return sum(p is not None and attribute_value(p, symbols.attribute)
               == symbols.attribute_values[int(a)] for p, a in zip(parses, asked, strict=True))


def _lines(strings: list[str], samples: np.ndarray, symbols: SymbolSpec, ext: str,
           ok: np.ndarray | None, parses: list | None = None) -> list[str]:
    """The lines of a ``.smi``, ``.txt`` or text ``.png`` export (``ok``: validity;
    ``parses``: :func:`_parses`)."""
    if ext == ".smi":
        # every sample, in order; one RDKit cannot parse is named so (a barely trained
        # run writes many)
        ok = np.ones(len(strings), dtype=bool) if ok is None else ok
        return [f"{s}\tsample_{i}{'' if good else '_invalid'}"
                for i, (s, good) in enumerate(zip(strings, ok, strict=True))]
    if symbols.attribute:
        # the attribute each sample was asked for, and (grammar) what its parse has:
        # the request alone read as if it were the sentence's own
        asked = [f"asked {symbols.attribute_values[int(a)]}"
                 for a in symbols.attribute_of(samples)]
        if parses is not None:
            from ebm_engine.data.grammar import attribute_value

            asked = [f"{a}; parsed {attribute_value(p, symbols.attribute) if p else 'invalid'}"
                     for a, p in zip(asked, parses, strict=True)]
        return [f"{a}\t{s}" for a, s in zip(asked, strings, strict=True)]
    if ok is None or ext == ".png":  # the picture marks them in red
        return list(strings)
    # a mark after the sentence: cut -f1 gives the sentences, and the text reader skips
    # these lines (ebm_engine.data.text)
    return [s if good else s + INVALID_MARK for s, good in zip(strings, ok, strict=True)]


def _write_lines(path: Path, lines: list[str]) -> Path:
    try:
        atomic.write_text(path, "".join(line + "\n" for line in lines))
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


@functools.lru_cache(maxsize=4)
def text_font(size: int = TEXT_FONT_PX):
    """The font text sample PNGs are drawn with, at ``size`` pixels.

    DejaVu Sans, looked for in the bundle (``resources/fonts``, which
    ``packaging/ebm-studio.spec`` fills), then in matplotlib's data (installed
    with the app's vtk; found without importing matplotlib), then among the
    system's fonts; else Pillow's default font, which covers ASCII only.

    Parameters
    ----------
    size : int
        Pixel size of the text.

    Returns
    -------
    PIL.ImageFont.FreeTypeFont
        The font; ``font.getname()`` says which one was found.
    """
    from PIL import ImageFont

    from ebm_engine.resources import font_file

    found = font_file(TEXT_FONT_FILE)
    try:
        if found is not None:
            return ImageFont.truetype(str(found), size)
        return ImageFont.truetype(TEXT_FONT_FILE, size)  # Pillow searches the system's fonts
    except OSError:  # none there, or a damaged copy
        # Pillow's scalable default (>= 10.1, pyproject): its 10 px bitmap font loses spaces
        return ImageFont.load_default(size=size)


def missing_glyphs(font, text: str) -> list[str]:
    """The distinct characters of ``text`` that ``font`` draws as its .notdef box.

    Parameters
    ----------
    font : PIL.ImageFont.FreeTypeFont
        The font (e.g. :func:`text_font`).
    text : str
        What will be drawn.

    Returns
    -------
    list of str
        The characters without a glyph, in order of first appearance.
    """
    box = font.getmask(_UNMAPPED)
    box = (box.size, bytes(box))
    out: list[str] = []
    # every font here has ASCII; Pillow has no "has glyph" call, so a missing glyph is
    # one whose bitmap is the .notdef box
    for ch in dict.fromkeys(c for c in text if ord(c) > 127):
        mask = font.getmask(ch)
        if (mask.size, bytes(mask)) == box:
            out.append(ch)
    return out


def _text_png(lines: list[str], path: Path, ok: np.ndarray | None = None,
              caption: str = "") -> Path:
    from PIL import Image, ImageDraw

    font = text_font(TEXT_FONT_PX)
    small = text_font(TEXT_CAPTION_PX)
    height = TEXT_FONT_PX + TEXT_FONT_PX // 2
    # The .txt form's TAB has no glyph (a box in the picture): "[attribute] sentence".
    shown = [f"[{head}] {tail}" if tab else head
             for head, tab, tail in (line.partition("\t") for line in lines)]
    # an invalid sample in red behind a cross, as the app lists it
    bad = np.zeros(len(shown), dtype=bool) if ok is None else ~ok
    shown = [f"✗ {s}" if b else s for s, b in zip(shown, bad, strict=True)]
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width = max([200] + [int(measure.textlength(s, font=font)) + 2 * TEXT_MARGIN for s in shown]
                + [int(measure.textlength(caption, font=small)) + 2 * TEXT_MARGIN])
    top = TEXT_MARGIN + (TEXT_CAPTION_HEIGHT if caption else 0)
    image = Image.new("RGB", (width, top + TEXT_MARGIN + height * len(shown)), "white")
    draw = ImageDraw.Draw(image)
    if caption:  # the count of red lines, so no one counts them by eye
        draw.text((TEXT_MARGIN, TEXT_MARGIN), caption, fill=TEXT_CAPTION_RGB, font=small)
    for i, text in enumerate(shown):
        draw.text((TEXT_MARGIN, top + i * height), text,
                  fill=INVALID_RGB if bad[i] else "black", font=font)
    written = _save_image(image, path)
    missing = missing_glyphs(font, "".join(shown))
    if missing:  # CJK, say: no font we can count on has them; said, not silently boxed
        count = sum(ch in missing for s in shown for ch in s)
        listed = " ".join(ch if ch.isprintable() else f"U+{ord(ch):04X}" for ch in missing[:8])
        more = " …" if len(missing) > 8 else ""
        have = "character has" if count == 1 else "characters have"
        warnings.warn(f"{count} {have} no glyph in the font {font.getname()[0]} and are "
                      f"boxes in {path.name} ({listed}{more}); the .txt export keeps them",
                      stacklevel=2)
    return written


def _molecule_file(strings: list[str], path: Path, ext: str) -> Path:
    from ebm_engine.metrics.symbols import RDKIT_HINT, parse_smiles, rdkit_available

    if not rdkit_available():
        raise ExportError(f"cannot write {path}: {RDKIT_HINT}")
    mols = [(i, parse_smiles(s)) for i, s in enumerate(strings)]
    invalid = sum(m is None for _, m in mols)
    written = _write_molecules(mols, strings, path, ext)
    if invalid and ext == ".png":  # said once the file is there
        warnings.warn(f"{invalid} of {len(strings)} samples are not valid molecules: their "
                      f"cells in {path.name} are labelled 'invalid'", stacklevel=2)
    elif invalid:
        warnings.warn(f"{invalid} of {len(strings)} samples are not valid molecules: "
                      f"{path.name} holds the {len(strings) - invalid} valid ones (.smi keeps "
                      f"every sample)", stacklevel=2)
    return written


def _write_molecules(mols: list, strings: list[str], path: Path, ext: str) -> Path:
    """Write parsed ``mols`` (``(index, Mol or None)``) as an RDKit grid or an SDF."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    if ext == ".png":
        return _save_image(_molecule_grid(mols, strings), path)
    blocks = []
    for i, mol in mols:
        if mol is None:
            continue
        AllChem.Compute2DCoords(mol)
        mol.SetProp("_Name", f"sample_{i}")
        blocks.append(Chem.MolToMolBlock(mol) + f"> <SMILES>\n{strings[i]}\n\n$$$$\n")
    if not blocks:
        raise ExportError(f"cannot write {path}: none of the {len(strings)} samples is a valid molecule")
    try:
        atomic.write_text(path, "".join(blocks))
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def _molecule_grid(mols: list, strings: list[str]):
    """A PIL grid of :data:`MOLECULE_COLUMNS` columns of :data:`MOLECULE_CELL`-px cells.

    Each molecule is drawn at its own scale (RDKit's grid gave all one scale, set
    by the longest chain: a ring was a speck in its cell), its bonds at most
    :data:`MOLECULE_BOND_PX` long; an invalid sample's cell says so in red, with
    its SMILES (RDKit draws neither an empty molecule nor its legend).
    """
    from PIL import Image, ImageDraw
    from rdkit.Chem.Draw import rdMolDraw2D

    size, columns = MOLECULE_CELL, min(MOLECULE_COLUMNS, max(len(mols), 1))
    rows = -(-len(mols) // columns)
    grid = Image.new("RGB", (columns * size, max(rows, 1) * size), "white")
    font = text_font(MOLECULE_CAPTION_PX)
    for k, (i, mol) in enumerate(mols):
        if mol is not None:
            drawer = rdMolDraw2D.MolDraw2DCairo(size, size)
            options = drawer.drawOptions()
            options.fixedBondLength = MOLECULE_BOND_PX  # a small molecule is not blown up
            options.legendFontSize = MOLECULE_CAPTION_PX
            rdMolDraw2D.PrepareAndDrawMolecule(drawer, mol, legend=str(i))
            drawer.FinishDrawing()
            cell = Image.open(io.BytesIO(drawer.GetDrawingText())).convert("RGB")
        else:
            cell = Image.new("RGB", (size, size), "white")
            draw = ImageDraw.Draw(cell)
            draw.rectangle((3, 3, size - 4, size - 4), outline=INVALID_RGB, width=2)
            smiles = _elide(draw, strings[i], font, size - 16)
            for line, y in ((f"{i}: ✗ invalid", size // 2 - MOLECULE_CAPTION_PX),
                            (smiles, size // 2 + 4)):
                width = draw.textlength(line, font=font)
                draw.text(((size - width) / 2, y), line, fill=INVALID_RGB, font=font)
        grid.paste(cell, ((k % columns) * size, (k // columns) * size))
    return grid


def _elide(draw, text: str, font, width: float) -> str:
    """``text`` cut to ``width`` pixels with an ellipsis (a long SMILES in a cell)."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _save_image(image, path: Path) -> Path:
    def write(tmp: Path) -> None:
        image.save(tmp, format="PNG")

    try:
        atomic.write_with(path, write)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
