"""Text with a latent-space EBM prior: the grammar and its checker, tokens, the
sentence-file reader, learning (validity rises), control by attribute, the CLI
and exact resume."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from ebm_engine.config import DataConfig
from ebm_engine.data import grammar, load_dataset
from ebm_engine.data.tokens import SymbolSpec, encode, smiles_tokens
from ebm_engine.errors import DataError
from ebm_engine.learning.loading import load_model
from ebm_engine.learning.trainer import Trainer
from ebm_engine.metrics.symbols import attribute_accuracy, distinct_n, validity
from ebm_engine.presets import config_for


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY = {"z_dim": 8, "emb_dim": 32, "gen_width": 64, "post_steps": 3, "gen_lr": 0.005,
        "post_step_size": 0.1, "post_noise": 1.0, "word_dropout": 0.0, "temperature": 0.7}


def tiny_cfg(source: str, preset: str = "grammar-text", **options):
    return config_for(source, preset, overrides=[
        ("model.width", 32), ("train.batch_size", 32), ("train.sample_every", 1000),
        ("train.record_every", 0), ("train.checkpoint_every", 0), ("train.device", "cpu"),
        ("sampler.n_steps", 5), ("train.options", {**TINY, **options}),
    ])


def simple_sentences(n: int, seed: int = 0) -> list[str]:
    """Grammar sentences without nesting or adjectives (fast to learn)."""
    gen = grammar.Generator(seed)
    gen.P_ADJ = gen.P_PP = gen.P_RC = 0.0
    return [gen.sentence().text for _ in range(n)]


# --- the grammar and its checker -------------------------------------------------------
def test_checker_accepts_every_generated_sentence_with_its_attributes():
    for s in grammar.corpus(400, seed=3):
        assert grammar.check(s.text) == grammar.Parse(s.mood, s.tense, s.topic), s.text


@pytest.mark.parametrize("bad", [
    "these dog chases a cat .",                    # determiner–noun number
    "the dogs chases a cat .",                     # subject–verb number
    "the dog that chase the cats sleeps .",        # agreement inside a relative clause
    "the dog that chases the cats sleep .",        # main verb agrees with the nearer noun
    "does the dogs sleep ?",                       # auxiliary number
    "did the dog slept ?",                         # question takes the base form
    "the dog sleeps",                              # no final punctuation
    "the dog sleeps ?",                            # statement with a question mark
    "the dogs chased a cat that sleeps .",         # relative clause in another tense
    "dog the sleeps .",                            # word order
    "the dog chases .",                            # transitive verb without object
    "a engine sleeps .",                           # "a" before a vowel sound
    "an dog sleeps .",                             # "an" before a consonant sound
    "a old dog sleeps .",                          # the article agrees with the adjective
    "an happy owl sleeps .",                       # … not with the noun
    "the dog chases a owl .",                      # in an object too
    "does a eagle sleep ?",                        # and in a question
    "the dog near the cat near the cow near the pig near the hen sleeps .",  # too deep / unknown
])
def test_checker_rejects_ungrammatical_sentences(bad):
    assert grammar.check(bad) is None


def test_the_article_agrees_with_the_next_word():
    """The grammar wrote "a engine" and its checker took it: "a" and "an" now agree
    with the word after them (an adjective, else the noun), in the data and the check."""
    for good in ("an engine sleeps .", "an old dog sleeps .", "a happy owl sleeps .",
                 "the dog chases an owl .", "does an eagle sleep ?", "a dog chased an ant ."):
        assert grammar.check(good) is not None, good
    assert grammar.article("engine") == grammar.article("old") == "an"
    assert grammar.article("dog") == grammar.article("one") == "a"
    texts = [s.words for s in grammar.corpus(3000, seed=2)]
    pairs = [(w[i], w[i + 1]) for w in texts for i in range(len(w) - 1) if w[i] in ("a", "an")]
    assert {det for det, _ in pairs} == {"a", "an"}
    assert all(det == grammar.article(word) for det, word in pairs)
    assert "an" in grammar.lexicon().words()


def test_grammar_has_a_few_hundred_words_and_nesting():
    assert 300 <= len(grammar.lexicon().words()) <= 600
    texts = [s.text for s in grammar.corpus(2000, seed=1)]
    assert any(" that " in t and " near " in t or " with " in t for t in texts)
    assert max(len(t.split()) for t in texts) <= grammar.MAX_TOKENS


# --- tokens -----------------------------------------------------------------------------
def test_symbol_spec_round_trip_and_encoding():
    spec = SymbolSpec(("<pad>", "<s>", "</s>", "<unk>", "a", "dog", "."), " ", "grammar",
                      "mood", ("statement", "question"))
    ids = encode([["a", "dog", "."], ["dog", "cat"]], spec, 5, attributes=[1, 0])
    assert ids.dtype == np.int64 and ids.shape == (2, 6)
    assert spec.decode_all(ids) == ["a dog .", "dog <unk>"]
    assert list(spec.attribute_of(ids)) == [1, 0]
    again = SymbolSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec
    assert smiles_tokens("Clc1cc[nH]c1Br") == ["Cl", "c", "1", "c", "c", "[nH]", "c", "1", "Br"]


def test_metrics_distinct_and_validity():
    spec = SymbolSpec(("<pad>",), " ", "grammar")
    assert list(validity(spec, ["the dog sleeps .", "the dog sleep ."])) == [True, False]
    assert distinct_n([["a", "b"], ["a", "b"]], 1) == 0.5
    assert distinct_n([["a", "b", "c"]], 2) == 1.0


# --- the reader -------------------------------------------------------------------------
def test_text_file_round_trip(tmp_path):
    lines = simple_sentences(60)
    path = tmp_path / "mine.txt"
    path.write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    data = load_dataset(DataConfig(str(path)))
    spec = data.meta["symbols"]
    assert data.kind == "text" and data.stored.dtype == torch.int64
    assert spec.checker == "grammar"  # every line is a grammar sentence
    decoded = spec.decode_all(data.stored.numpy()) + spec.decode_all(data.meta["heldout"])
    assert decoded == lines


def test_text_file_of_free_text_has_no_checker(tmp_path):
    path = tmp_path / "free.txt"
    path.write_text("héllo wörld\nsecond line here\n", encoding="utf-8")
    data = load_dataset(DataConfig(str(path)))
    assert data.meta["symbols"].checker == ""
    assert data.meta["symbols"].decode_all(data.stored.numpy()) == ["héllo wörld", "second line here"]


@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"\n  \n", "empty file"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ("caf\u00e9 au lait\n".encode("latin-1"), "line 1 is not UTF-8"),
])
def test_bad_text_files_get_one_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        load_dataset(DataConfig(str(path)))
    assert "\n" not in str(err.value)


# --- learning ---------------------------------------------------------------------------
def _validity(trainer: Trainer, n: int = 200) -> float:
    spec = trainer.spec.symbols
    trainer.method.rng.manual_seed(123)
    samples = list(trainer.method.sample(n))[-1].x
    return float(validity(spec, spec.decode_all(samples)).mean())


def test_untrained_validity_is_low_and_training_raises_it(tmp_path):
    path = tmp_path / "simple.txt"
    path.write_text("\n".join(simple_sentences(800)) + "\n", encoding="utf-8")
    trainer = Trainer(tiny_cfg(str(path)), None)
    before = _validity(trainer)
    list(trainer.events(150))
    after = _validity(trainer)
    assert before < 0.05
    assert after > before + 0.25, (before, after)


def test_gaussian_prior_baseline_trains_the_same_decoder(tmp_path):
    cfg = tiny_cfg("grammar-text", prior="gaussian")
    trainer = Trainer(cfg, None)
    steps = list(trainer.events(2))
    metrics = [e.metrics for e in steps if hasattr(e, "metrics")][-1]
    assert metrics["loss"] == 0.0 and metrics["grad_norm"] == 0.0  # no prior network learning
    assert metrics["gen_loss"] > 0


def test_controlled_sampling_beats_random_attribute_choice():
    """Mood (statement/question) is decided by the first word: after brief training the
    attribute term of the prior energy steers samples far above chance, judged by the
    grammar's checker (an invalid sample counts as a miss)."""
    from ebm_engine.data.text import grammar_dataset

    gen = grammar.Generator(0)
    gen.P_ADJ = gen.P_PP = gen.P_RC = 0.0
    data = grammar_dataset("simple-controlled", "mood", [gen.sentence() for _ in range(800)], [])
    cfg = tiny_cfg("grammar-text-controlled", "grammar-text-controlled", z_dim=4,
                   post_steps=10, post_step_size=0.7, post_noise=1.0, word_dropout=0.5,
                   prior_l2=0.0)
    trainer = Trainer(cfg.with_value("train.lr", 0.001), None, dataset=data)
    # 150 iterations passed with train.seed 0 only (1 and 2 failed before "an" too: control
    # was only beginning); at 300, seeds 0, 1 and 2 all pass
    list(trainer.events(300))
    spec = trainer.spec.symbols
    trainer.method.rng.manual_seed(5)
    scores = attribute_accuracy(trainer.method, spec, 200)
    # Random choice hits the target for about half of the valid samples; control
    # puts nearly every valid sample in the asked-for mood.
    assert scores["attr_accuracy"] > 1.5 * scores["attr_chance"], scores
    assert scores["attr_accuracy"] > 0.85 * scores["attr_valid"] > 0.1, scores


# --- run folder, CLI, resume ------------------------------------------------------------
def test_cli_sample_writes_one_line_per_sample(tmp_path):
    run = tmp_path / "run"
    Trainer(tiny_cfg("grammar-text"), run).save_checkpoint()
    state = json.loads(next((run / "checkpoints").glob("iter_*/state.json")).read_text())
    assert state["data"]["symbols"]["checker"] == "grammar"  # the vocabulary is in the checkpoint
    out = tmp_path / "x.txt"
    done = subprocess.run([sys.executable, "-m", "ebm_engine", "sample", "--run", str(run),
                           "--n", "8", "--out", str(out)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    lines = out.read_text(encoding="utf-8").split("\n")
    assert len(lines) == 9 and lines[-1] == ""
    loaded = load_model(run, "cpu")
    assert loaded.spec.symbols.tokens[:4] == ("<pad>", "<s>", "</s>", "<unk>")


@pytest.mark.parametrize("persistent", [False, True])
def test_resume_is_exact(tmp_path, persistent):
    cfg = tiny_cfg("grammar-text-controlled", "grammar-text-controlled",
                   post_persistent=persistent)
    straight = Trainer(cfg, tmp_path / "a")
    list(straight.events(4))
    first = Trainer(cfg, tmp_path / "b")
    list(first.events(2))
    resumed = Trainer.resume(tmp_path / "b")
    list(resumed.events(4))
    for name, net in straight.method.networks().items():
        other = resumed.method.networks()[name].state_dict()
        for key, value in net.state_dict().items():
            assert torch.equal(value, other[key]), f"{name}.{key}"
    if persistent:
        assert torch.equal(straight.method.post_latents, resumed.method.post_latents)


def test_a_model_reads_data_in_its_own_vocabulary_after_the_data_gained_words(tmp_path):
    """The grammar gained "an": the zoo's text models, trained without it, failed to
    resume ("out.bias" of 441 words, the data's 442) and eval fed them ids that named
    other words. Data whose vocabulary changed is read in the model's: a word it lacks
    is <unk>, and a warning says which."""
    from ebm_engine.data.tokens import UNK, in_vocabulary
    from ebm_engine.learning.events import Warned
    from ebm_engine.metrics.evaluate import evaluate_run

    path = tmp_path / "mine.txt"
    path.write_text("the cat sat on the mat\n" * 30 + "a dog ran\n" * 20, encoding="utf-8")
    run = tmp_path / "run"
    trainer = Trainer(tiny_cfg(str(path)), run)
    list(trainer.events(2))
    trainer.release_run_folder()
    model_words = trainer.spec.symbols
    # a new, most frequent word: every other word's id moves
    path.write_text("an owl ran\n" * 60 + "the cat sat on the mat\n" * 30, encoding="utf-8")
    now = load_dataset(DataConfig(str(path)))
    assert now.meta["symbols"].tokens != model_words.tokens
    read, note = in_vocabulary(now, model_words)
    assert read.meta["symbols"] == model_words and "'an', 'owl'" in note and "60 of its" in note
    assert model_words.decode_all(read.stored.numpy())[-1] == "the cat sat on the mat"
    assert model_words.decode_all(read.stored.numpy())[0] == f"{UNK} {UNK} ran"
    resumed = Trainer.resume(run)
    said = [e.message for e in resumed.events(3) if isinstance(e, Warned)]
    assert resumed.iteration == 3 and resumed.method.symbols == model_words
    assert any("vocabulary lacks ('an', 'owl')" in m for m in said), said
    resumed.release_run_folder()
    with pytest.warns(UserWarning) as caught:  # and that the file changed since training
        scored = evaluate_run(run, n=8, write=False)
    assert any("vocabulary lacks" in str(w.message) for w in caught)
    assert "'an'" in scored["vocabulary_changed"]
    # ebm score reads the file in the model's words too: the same sentence, the same score
    from ebm_engine.cli import main

    same = tmp_path / "same.txt"
    same.write_text("the cat sat on the mat\n" * 3, encoding="utf-8")
    other = tmp_path / "other.txt"  # its own vocabulary numbers the words otherwise
    other.write_text("an owl ran\n" * 9 + "the cat sat on the mat\n" * 3, encoding="utf-8")
    scores = {}
    for name, file in (("same", same), ("other", other)):
        out = tmp_path / f"{name}.csv"
        assert main(["score", "--run", str(run), "--data", str(file), "--out", str(out)]) == 0
        scores[name] = [line.rsplit(",", 1)[1] for line in out.read_text().splitlines()[1:]]
    assert scores["other"][-3:] == scores["same"], scores


def test_persistent_posterior_chains_continue_where_they_stopped():
    """Each drawn item's posterior latent is written back after the step (and only
    then), so its next chain starts from it; undrawn items keep theirs."""
    trainer = Trainer(tiny_cfg("grammar-text", post_persistent=True), None)
    method = trainer.method
    before = method.post_latents.clone()
    index = torch.tensor([3, 7, 11])
    method.batch_drawn(index)
    method.train_step(trainer.items[index], 0)
    assert torch.equal(method.post_latents, before)  # staged, not yet written
    method.apply_update()
    moved = (method.post_latents != before).any(1)
    assert moved[index].all() and moved.sum() == len(index)


def test_method_refuses_array_data():
    from ebm_engine.errors import ConfigError

    cfg = config_for("8gaussians", "toy2d").with_value("train.method", "latent_seq")
    with pytest.raises(ConfigError, match="cannot learn points data"):
        Trainer(cfg, None)


def test_followers_get_the_vocabulary_with_the_latest_samples(tmp_path):
    from ebm_engine.runs.rundir import RunDir

    cfg = tiny_cfg("grammar-text").with_value("train.sample_every", 1)
    list(Trainer(cfg, tmp_path / "run").events(1))
    snap = RunDir(tmp_path / "run").read_samples()
    assert snap["samples"].dtype == np.int64
    vocab = tuple(str(t) for t in snap["display"]["vocab"])
    assert vocab == load_model(tmp_path / "run", "cpu").spec.symbols.tokens


def test_exported_npz_of_token_ids_decodes_without_the_checkpoint(tmp_path):
    """ebm export --what samples to .npz: the ids with the vocabulary that decodes them
    and the iteration, as samples/latest.npz has them (it held only ids)."""
    from ebm_engine.cli import main

    cfg = tiny_cfg("grammar-text").with_value("train.sample_every", 1)
    list(Trainer(cfg, tmp_path / "run").events(1))
    for ext in (".npz", ".txt"):
        assert main(["export", "--run", str(tmp_path / "run"), "--what", "samples",
                     "--out", str(tmp_path / f"s{ext}")]) == 0
    with np.load(tmp_path / "s.npz") as z:
        spec = SymbolSpec(tuple(z["display_vocab"].tolist()), str(z["display_joiner"]),
                          str(z["display_checker"]), str(z["display_attribute"]),
                          tuple(z["display_attribute_values"].tolist()))
        lines = (tmp_path / "s.txt").read_text().splitlines()  # an invalid one marked so
        assert spec.decode_all(z["samples"]) == [line.removesuffix("\tinvalid") for line in lines]
        assert int(z["iteration"]) == 1 and str(z["kind"]) == "text"


def test_decoder_rate_follows_its_cosine_decay():
    """``gen_lr_end``: the decoder's rate falls from ``gen_lr`` towards ``gen_lr_end · gen_lr``
    at ``train.iterations``; the prior's rate stays."""
    cfg = tiny_cfg("grammar-text", gen_lr_end=0.1).with_value("train.iterations", 4)
    trainer = Trainer(cfg, None)
    list(trainer.events(4))
    method = trainer.method
    share = 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 3 / 4))  # set before the 4th step
    assert method.gen_opt.param_groups[0]["lr"] == pytest.approx(0.005 * share)
    assert method.opt.param_groups[0]["lr"] == pytest.approx(cfg.train.lr)


def test_attribute_guidance_sharpens_the_attribute_term():
    """``attr_guidance`` g adds −(g − 1) log p(y | z) to the prior energy, and chains run with
    it end where the prior's own classifier agrees with the asked-for class more often."""
    trainer = Trainer(tiny_cfg("grammar-text-controlled", "grammar-text-controlled"), None)
    method = trainer.method
    torch.manual_seed(0)
    for p in method.prior.parameters():  # a prior with strong class regions
        p.data.mul_(4)
    z, y = torch.randn(16, 8), torch.arange(16) % 4
    with torch.no_grad():
        gap = method.prior_energy(z, y, 3.0) - method.prior_energy(z, y)
        log_p = torch.log_softmax(method.prior(z), 1).gather(1, y[:, None])[:, 0]
    assert torch.allclose(gap, -2.0 * log_p, atol=1e-5)
    y = torch.arange(400) % 4

    def agreement(guidance: float) -> float:
        method.rng.manual_seed(1)
        with torch.no_grad():
            z = torch.from_numpy(list(method.prior_sample(y, 30, guidance=guidance))[-1].x)
            return float((method.prior(z).argmax(1) == y).float().mean())

    assert agreement(4.0) > agreement(1.0) + 0.1


def test_text_png_is_readable_words_apart(tmp_path):
    """A text sample PNG draws glyphs at least 12 px tall with a visible gap
    between words (the old 10 px bitmap font almost joined them)."""
    from PIL import Image

    from ebm_engine.export.samples import export_samples

    words = ["the", "tiger", "slept"]
    from ebm_engine.data.tokens import build_vocabulary

    spec = SymbolSpec(build_vocabulary([words]))
    items = encode([words], spec, 8)
    out = export_samples(items, "text", None, tmp_path / "t.png", symbols=spec)
    ink = np.asarray(Image.open(out).convert("L"))[8 + 21:] < 128  # below the caption
    rows, cols = np.nonzero(ink)
    assert rows.max() - rows.min() + 1 >= 12
    blank = ~ink[rows.min():rows.max() + 1, cols.min():cols.max() + 1].any(0)
    gaps = np.diff(np.flatnonzero(np.diff(np.r_[0, blank.astype(int), 0])))[::2]
    assert (gaps >= 4).sum() >= 2, gaps  # two spaces, each a few blank columns wide


def _grammar_samples() -> tuple[SymbolSpec, np.ndarray, list[str]]:
    from ebm_engine.data.text import grammar_vocabulary

    lines = simple_sentences(3)
    lines.insert(1, "these dog sleeps the")  # the grammar rejects it
    spec = SymbolSpec(grammar_vocabulary(), " ", "grammar")
    return spec, encode([s.split() for s in lines], spec, 24), lines


def test_text_export_marks_invalid_samples_and_reads_back_without_them(tmp_path):
    """The app marks rejected sentences; the .txt export dropped the mark. Now their lines
    end in TAB "invalid" (the sentence stays the first column), and the text reader skips
    them: an export read back as data still has the grammar's checker."""
    from ebm_engine.export.samples import export_samples

    spec, items, lines = _grammar_samples()
    with pytest.warns(UserWarning, match=r"1 of 4 samples are invalid: their lines in t\.txt"):
        out = export_samples(items, "text", None, tmp_path / "t.txt", symbols=spec)
    written = out.read_text().splitlines()
    assert written == [lines[0], f"{lines[1]}\tinvalid", *lines[2:]]
    with pytest.warns(UserWarning, match=r"skipped 1 line\(s\) marked invalid .*: 2$"):
        data = load_dataset(DataConfig(str(out)))
    assert data.meta["symbols"].checker == "grammar" and data.meta["skipped"] == [2]
    assert data.meta["symbols"].decode_all(data.stored.numpy()) == lines[:1] + lines[2:]
    # a user's own tab-separated lines, "invalid" a label among others: every line kept
    own = tmp_path / "labelled.txt"
    own.write_text("the cat sleeps .\tvalid\nthe cats sleeps .\tinvalid\n")
    assert len(load_dataset(DataConfig(str(own)))) == 2


def test_text_png_draws_invalid_samples_in_red(tmp_path):
    """The picture marks a rejected sentence as the app does: red, behind a cross."""
    import warnings

    from PIL import Image

    from ebm_engine.export.samples import export_samples

    spec, items, _ = _grammar_samples()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = export_samples(items, "text", None, tmp_path / "t.png", symbols=spec)
    pixels = np.asarray(Image.open(out).convert("RGB")).astype(int)
    red = (pixels[..., 0] > 150) & (pixels[..., 1:] < 100).all(-1)
    rows = np.flatnonzero(red.any(1))
    assert len(rows) > 5
    line = 18 + 9  # px: the font and the gap below it, after an 8 px margin and the caption
    assert {(r - 8 - 21) // line for r in rows} == {1}  # the second line, only


def test_text_png_caption_counts_the_sentences_and_the_invalid_ones(tmp_path):
    """The picture drew invalid lines red behind a ✗ but counted nothing: its caption
    now says "4 sentences, 1 invalid (red)" above the sentences, in grey."""
    import warnings

    from PIL import Image, ImageDraw

    from ebm_engine.export.samples import export_samples
    from ebm_engine.export.symbols import (
        TEXT_CAPTION_HEIGHT,
        TEXT_CAPTION_PX,
        TEXT_CAPTION_RGB,
        TEXT_MARGIN,
        text_caption,
        text_font,
    )

    assert text_caption(4, np.array([True, False, True, True])) == "4 sentences, 1 invalid (red)"
    assert text_caption(1, np.array([True])) == "1 sentence, 0 invalid"
    assert text_caption(3, None) == "3 sentences"  # user text: nothing was checked
    assert text_caption(2, np.array([True, True]), 1) == "2 sentences, 0 invalid, 1 parsed as asked"

    def caption_is(spec: SymbolSpec, items: np.ndarray, text: str) -> bool:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "1 of 4 samples are invalid"
            out = export_samples(items, "text", None, tmp_path / "t.png", symbols=spec)
        pixels = np.asarray(Image.open(out).convert("RGB"))
        band = pixels[:TEXT_MARGIN + TEXT_CAPTION_HEIGHT]
        expected = Image.new("RGB", (pixels.shape[1], len(band)), "white")
        ImageDraw.Draw(expected).text((TEXT_MARGIN, TEXT_MARGIN), text, fill=TEXT_CAPTION_RGB,
                                      font=text_font(TEXT_CAPTION_PX))
        return bool((band < 128).any()) and np.array_equal(band, np.asarray(expected))

    spec, items, lines = _grammar_samples()
    assert caption_is(spec, items, "4 sentences, 1 invalid (red)")
    # a controlled model's picture also counts the sentences whose parse has the mood asked
    mood = SymbolSpec(spec.tokens, " ", "grammar", "mood", ("statement", "question"))
    want = np.array([[0], [0], [1], [1]])  # statement, statement, question, question
    asked = np.concatenate([want, items], 1)
    hits = sum((p := grammar.check(t)) is not None and p.mood == mood.attribute_values[int(w)]
               for t, w in zip(lines, want[:, 0], strict=True))
    assert hits != 3  # not the valid count
    assert caption_is(mood, asked, f"4 sentences, 1 invalid (red), {hits} parsed as asked")


def _text_picture(tmp_path, text: str, name: str) -> np.ndarray:
    from PIL import Image

    from ebm_engine.data.tokens import build_vocabulary
    from ebm_engine.export.samples import export_samples

    words = text.split()
    spec = SymbolSpec(build_vocabulary([words]))
    out = export_samples(encode([words], spec, 8), "text", None, tmp_path / name, symbols=spec)
    return np.asarray(Image.open(out).convert("L"))


def test_text_png_draws_accented_and_greek_letters_not_boxes(tmp_path):
    """'café Ελλάδα' is drawn with real glyphs (Pillow's default font has ASCII only:
    every other letter was the .notdef box), and without a warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "… no glyph": that is the point here
        box = _text_picture(tmp_path, "\U0010ffff", "box.png")  # no font maps it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _text_picture(tmp_path, "café Ελλάδα", "both.png")
        for i, letter in enumerate(sorted(set("éΕλάδα"))):
            drawn = _text_picture(tmp_path, letter, f"{i}.png")
            assert drawn.shape != box.shape or (drawn != box).any(), f"{letter!r} is a box"


def test_text_png_counts_the_characters_its_font_lacks(tmp_path):
    """CJK has no glyph in DejaVu Sans: said in one line, not silently boxed."""
    with pytest.warns(UserWarning, match=r"^3 characters have no glyph .* \(日 本 語\)"):
        _text_picture(tmp_path, "日本 語 café", "cjk.png")


def test_the_bundle_copy_of_the_text_font_comes_first(tmp_path, monkeypatch):
    """The frozen app finds DejaVu Sans in resources/fonts (packaging/ebm-studio.spec puts
    it there; matplotlib is not bundled)."""
    import shutil

    from ebm_engine.export import symbols

    found = symbols.text_font(18)
    assert found.getname()[0] == "DejaVu Sans"
    (tmp_path / "resources" / "fonts").mkdir(parents=True)
    copy = shutil.copy(found.path, tmp_path / "resources" / "fonts" / "DejaVuSans.ttf")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    symbols.text_font.cache_clear()
    try:
        assert symbols.text_font(18).path == str(copy)
    finally:
        monkeypatch.undo()
        symbols.text_font.cache_clear()


def test_user_text_without_a_checker_reports_no_validity():
    """No grammar, no SMILES: nothing was checked, so no "valid 1 (higher is better)"."""
    from ebm_engine.data.tokens import build_vocabulary
    from ebm_engine.metrics.symbols import string_metrics

    samples = ["cat the on", "the cat sat", "sat sat sat"]
    spec = SymbolSpec(build_vocabulary([s.split() for s in samples]))
    out = string_metrics(spec, samples, {"the cat sat"})
    assert "valid" not in out
    assert out["unique"] == 1.0 and abs(out["novel"] - 2 / 3) < 1e-9 and "distinct_1" in out
    checked = SymbolSpec(spec.tokens, " ", "grammar")
    assert "valid" in string_metrics(checked, samples, set())



def test_uniqueness_and_novelty_of_no_valid_sample_are_undefined_not_zero():
    """`unique 0`, `novel 0` beside `valid 0` read as "all repeats of the training set";
    with no valid sample they are undefined, and the table says so."""
    import math

    from ebm_engine.data.tokens import build_vocabulary
    from ebm_engine.metrics.evaluate import format_table
    from ebm_engine.metrics.symbols import string_metrics

    samples = ["cat the on", "on on cat"]
    spec = SymbolSpec(build_vocabulary([s.split() for s in samples]), " ", "grammar")
    out = string_metrics(spec, samples, set())
    assert out["valid"] == 0.0 and math.isnan(out["unique"]) and math.isnan(out["novel"])
    table = format_table({"metrics": out, "better": {"unique": "higher"}})
    assert "undefined" in next(line for line in table.splitlines() if "unique" in line)


def test_distinct_ngrams_are_read_beside_the_datas_own(capsys):
    """distinct_1/2 said "higher is better", but random tokens beat sentences; they are
    for reference now, beside the same figures of as many training sentences."""
    from ebm_engine.cli import main
    from ebm_engine.metrics.symbols import BETTER, distinct_n

    assert BETTER["distinct_1"] == BETTER["distinct_2"] == "reference"
    words = [f"w{i}" for i in range(50)]
    garbage = [[words[(7 * i + j) % 50] for j in range(6)] for i in range(20)]
    sentences = [["the", "cat", "sat", "on", "the", "mat"]] * 20
    assert distinct_n(garbage, 1) > distinct_n(sentences, 1)
    assert main(["eval", "--run", "zoo:grammar-text-latent-seq", "--n", "40", "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)["metrics"]
    assert 0 < metrics["distinct_1_data"] < 1 and 0 < metrics["distinct_2_data"] <= 1


def test_controlled_text_says_what_was_asked_and_what_the_parse_has(tmp_path, capsys):
    """Each line was tagged with the attribute asked for, which read as the sentence's
    own; "did many goats that swim work ?" was tagged statement+present."""
    from ebm_engine.cli import main
    from ebm_engine.data.grammar import attribute_value, check

    out = tmp_path / "t.txt"
    assert main(["sample", "--run", "zoo:grammar-text-controlled-latent-seq", "--n", "12",
                 "--out", str(out)]) == 0
    for line in out.read_text().splitlines():
        head, _, sentence = line.partition("\t")
        assert head.startswith("asked ") and "; parsed " in head
        parse = check(sentence)
        got = attribute_value(parse, "mood+tense") if parse else "invalid"
        assert head.endswith(f"; parsed {got}")


def test_data_whose_attribute_classes_are_numbered_otherwise_is_read_in_the_models():
    """Column 0 indexes the attribute's classes: the same words with the classes in
    another order were taken as they were (only the words were compared)."""
    from ebm_engine.data.dataset import Dataset
    from ebm_engine.data.tokens import SPECIALS, SymbolSpec, encode, in_vocabulary
    from ebm_engine.errors import DataError

    words = (*SPECIALS, "a", "b")
    model = SymbolSpec(words, " ", "", "mood", ("statement", "question"))
    mine = SymbolSpec(words, " ", "", "mood", ("question", "statement"))
    items = encode([["a"], ["b"]], mine, 4, attributes=[0, 1])  # question, statement
    data = Dataset("mine", "text", items, (0.0, 1.0), {"symbols": mine})
    read, note = in_vocabulary(data, model)
    assert read.stored[:, 0].tolist() == [1, 0] and "mood classes" in note
    assert read.stored[:, 1:].tolist() == items[:, 1:].tolist()
    other = SymbolSpec(words, " ", "", "mood", ("question", "command"))
    with pytest.raises(DataError, match=r"mood \['command'\] are not among"):
        in_vocabulary(Dataset("mine", "text", items, (0.0, 1.0), {"symbols": other}), model)
