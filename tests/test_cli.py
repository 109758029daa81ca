"""The `ebm` command: demos, train → sample on digits, export, bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ebm_engine.cli import main
from ebm_engine.runs import zoo
from ebm_engine.runs.rundir import RunDir


def test_demos_lists_the_catalogue(capsys):
    assert main(["demos"]) == 0
    out = capsys.readouterr().out
    for name in ("8gaussians", "rings", "moons", "pinwheel", "checkerboard", "digits",
                 "texture-brick", "texture-grass", "texture-gravel"):
        assert name in out


def test_train_then_sample_digits(tmp_path, capsys):
    run = tmp_path / "R"
    assert main(["train", "--data", "digits", "--steps", "30", "--out", str(run), "--quiet",
                 "--set", "train.batch_size=16", "--set", "sampler.n_steps=10"]) == 0
    assert RunDir(run).latest_checkpoint().name == "iter_0000030"
    png = tmp_path / "g.png"
    assert main(["sample", "--run", str(run), "--n", "16", "--steps", "10", "--out", str(png)]) == 0
    img = np.asarray(Image.open(png))
    assert img.ndim == 3 and img.shape[0] >= 4 * 16 and img.std() > 0
    gif = tmp_path / "chain.gif"
    assert main(["sample", "--run", str(run), "--n", "4", "--steps", "10", "--out", str(gif)]) == 0
    assert Image.open(gif).n_frames > 1
    npz = tmp_path / "s.npz"
    assert main(["sample", "--run", str(run), "--n", "3", "--steps", "2", "--out", str(npz)]) == 0
    with np.load(npz) as z:
        assert z["samples"].shape == (3, 1, 16, 16) and z["energy"].shape == (3,)
    # Resume: 5 more iterations continue the same run, and the line says how many ran.
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--steps", "5", "--quiet"]) == 0
    assert RunDir(run).latest_checkpoint().name == "iter_0000035"
    assert "trained 5 iterations (now at 35)" in capsys.readouterr().out
    # Exports from the run folder.
    assert main(["export", "--run", str(run), "--what", "metrics", "--out", str(tmp_path / "m.csv")]) == 0
    assert (tmp_path / "m.csv").read_text().count("\n") == 36
    assert main(["export", "--run", str(run), "--what", "samples", "--out", str(tmp_path / "s.png")]) == 0
    assert main(["export", "--run", str(run), "--what", "checkpoint", "--out", str(tmp_path / "ck")]) == 0
    assert (tmp_path / "ck" / "model.safetensors").is_file()
    capsys.readouterr()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--data", "nosuchdemo", "--out", "{tmp}/r"], "no such file or folder"),
        (["train", "--data", "digits", "--out", "{tmp}/r", "--set", "sampler.step_size=-1"],
         "sampler.step_size must be > 0, got -1"),
        (["train", "--data", "digits", "--out", "{tmp}/r", "--set", "nonsense"], "--set expects KEY=VALUE"),
        (["sample", "--run", "{tmp}/missing", "--out", "{tmp}/x.png"], "not a checkpoint"),
        (["train", "--resume", "{tmp}/missing"], "no checkpoint"),
        # --method on a resume was ignored: the run went on as it was
        (["train", "--resume", "{tmp}/missing", "--method", "coopnets"], "drop --data/--config"),
        # devices other than the four names died with a torch traceback
        (["sample", "--run", "zoo:moons-ml", "--device", "gpu", "--out", "{tmp}/x.png"],
         "device 'gpu' is not one of auto, cpu, cuda, cuda:N, mps"),
        (["eval", "--run", "zoo:moons-ml", "--device", "meta", "--no-write"], "is not one of"),
        (["sample", "--run", "zoo:moons-ml", "--n", "4", "--out", "{tmp}/noext"],
         "as a file without extension; use .png"),
        # said before sampling, naming the flag (a negative record step was taken silently)
        (["sample", "--run", "zoo:digits-ml", "--scale", "0", "--out", "{tmp}/x.png"],
         "--scale must be >= 1"),
        (["sample", "--run", "zoo:digits-ml", "--record-every", "-1", "--out", "{tmp}/x.gif"],
         "--record-every must be >= 0"),
        # ebm sample's --option was "unrecognized arguments" here
        (["train", "--data", "digits", "--option", "average=0.5", "--out", "{tmp}/r"],
         "--set train.options.average=0.5"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err


def test_bad_input_from_a_real_process_and_run_untouched(tmp_path):
    run = tmp_path / "R"
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    proc = subprocess.run(
        [sys.executable, "-m", "ebm_engine", "train", "--data", "digits", "--out", str(run)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "already holds a run" in proc.stderr
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # the module itself runs too (it did nothing and exited 0: a script thought it had run)
    proc = subprocess.run([sys.executable, "-m", "ebm_engine.cli", "train", "--data", "digits",
                           "--out", str(run)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "already holds a run" in proc.stderr


def test_out_refuses_a_folder_of_other_files_and_leaves_it_alone(tmp_path, capsys):
    runs = tmp_path / "runs"
    (runs / "older-run").mkdir(parents=True)
    (runs / "notes.txt").write_text("mine")
    assert main(["train", "--data", "8gaussians", "--steps", "1", "--out", str(runs),
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is a folder of other files, not a run" in err and str(runs / "run1") in err
    assert sorted(p.name for p in runs.iterdir()) == ["notes.txt", "older-run"]
    empty = tmp_path / "empty"
    empty.mkdir()  # an empty folder made for the run is fine
    assert main(["train", "--data", "8gaussians", "--steps", "1", "--out", str(empty),
                 "--quiet", "--set", "sampler.n_steps=2"]) == 0


def test_a_run_killed_before_its_first_checkpoint_gets_advice_that_leads_out(tmp_path, capsys):
    from ebm_engine.presets import config_for
    from ebm_engine.runs.rundir import RunDir

    run = tmp_path / "k9"
    RunDir(run).create(config_for("8gaussians"))  # what kill -9 leaves before a checkpoint
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 2
    resume_err = capsys.readouterr().err
    assert "no checkpoint to resume from" in resume_err and "--out NEW" in resume_err
    assert main(["train", "--data", "8gaussians", "--out", str(run), "--quiet"]) == 2
    out_err = capsys.readouterr().err
    assert "nothing to resume" in out_err and "use --resume" not in out_err


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`ebm zoo | head -1`: stdout's reader closes early; no traceback, exit 141 (SIGPIPE)."""
    code = ("import os, sys\n"
            "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"  # a pipe whose reader is gone
            "from ebm_engine.cli import main\n"
            "sys.exit(main(['zoo']))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 141
    assert proc.stderr == ""


def test_sample_checks_its_target_before_it_samples(tmp_path, capsys, monkeypatch):
    # A mistyped extension or folder was reported only after the whole draw (minutes for
    # --n 5000); now before any chain runs.
    import ebm_engine.learning.loading as loading

    real = loading.load_model

    def load(*args, **kwargs):
        loaded = real(*args, **kwargs)

        def refuse(*a, **k):
            raise AssertionError("sampled before --out was checked")

        loaded.method.sample = refuse
        return loaded

    monkeypatch.setattr(loading, "load_model", load)
    for out, says in (("x.foo", "cannot write image samples as .foo; use .png"),
                      ("missing/x.png", "does not exist")):
        assert main(["sample", "--run", "zoo:digits-ml", "--n", "4",
                     "--out", str(tmp_path / out)]) == 2
        err = capsys.readouterr().err
        assert says in err and "Traceback" not in err


def _tree(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def test_resume_from_an_older_checkpoint_goes_on_in_a_new_folder(tmp_path, capsys):
    """`--resume RUN/checkpoints/iter_N --out NEW`: the run goes on from N in NEW, its
    curves cut at N, and RUN is left as it was. In place, only the latest will do;
    a checkpoint copied out of its run (`ebm export --what checkpoint`) needs --out."""
    import json

    run = tmp_path / "R"
    assert main(["train", "--data", "8gaussians", "--steps", "12", "--out", str(run), "--quiet",
                 "--set", "train.checkpoint_every=4"]) == 0
    before = _tree(run)
    older = run / "checkpoints" / "iter_0000004"
    assert main(["train", "--resume", str(older), "--steps", "2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "iter_0000004 is not the latest checkpoint" in err and "--out NEW" in err
    assert "Traceback" not in err and _tree(run) == before

    new = tmp_path / "N"
    assert main(["train", "--resume", str(older), "--out", str(new), "--steps", "3",
                 "--quiet"]) == 0
    assert "trained 3 iterations (now at 7)" in capsys.readouterr().out
    assert _tree(run) == before
    assert RunDir(new).latest_checkpoint().name == "iter_0000007"
    iterations = [int(line.split(",")[0]) for line in
                  (new / "metrics.csv").read_text().splitlines()[1:]]
    assert iterations == list(range(1, 8))  # 1–4 from the run, then 5–7: no 5–12 of old
    forked = json.loads((new / "events.jsonl").read_text().splitlines()[0])
    assert forked["event"] == "forked" and forked["checkpoint"] == "iter_0000004"

    latest = run / "checkpoints" / "iter_0000012"  # in place: the latest is the run itself
    assert main(["train", "--resume", str(latest), "--steps", "2", "--quiet"]) == 0
    assert RunDir(run).latest_checkpoint().name == "iter_0000014"

    copy = tmp_path / "copy"
    assert main(["export", "--run", str(run), "--what", "checkpoint", "--out", str(copy)]) == 0
    assert main(["train", "--resume", str(copy), "--steps", "1", "--quiet"]) == 2
    assert "outside a run folder" in capsys.readouterr().err
    assert main(["train", "--resume", str(copy), "--out", str(tmp_path / "C"), "--steps", "1",
                 "--quiet"]) == 0
    assert RunDir(tmp_path / "C").latest_checkpoint().name == "iter_0000015"


def test_export_takes_the_checkpoint_that_reads_and_stays_out_of_the_run(tmp_path, capsys):
    """`export --what checkpoint` copied a damaged latest checkpoint without a word
    (sample, eval and resume pass it over); `--out RUN/metrics.csv` replaced the run's
    curves; a `.gif` of the saved samples was one still frame."""
    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "6", "--set",
                 "train.checkpoint_every=3", "--set", "sampler.n_steps=2", "--out", str(run),
                 "--quiet"]) == 0
    model = run / "checkpoints" / "iter_0000006" / "model.safetensors"
    model.write_bytes(model.read_bytes()[:300])
    capsys.readouterr()
    assert main(["export", "--run", str(run), "--what", "checkpoint",
                 "--out", str(tmp_path / "ck")]) == 0
    assert "iter_0000006 cannot be read" in capsys.readouterr().err
    assert json.loads((tmp_path / "ck" / "state.json").read_text())["iteration"] == 3
    curves = (run / "metrics.csv").read_bytes()
    for what, out in (("config", run / "metrics.csv"), ("checkpoint", run / "checkpoints" / "c")):
        assert main(["export", "--run", str(run), "--what", what, "--out", str(out)]) == 2
        assert "would write over what the run" in capsys.readouterr().err
    assert (run / "metrics.csv").read_bytes() == curves and not (run / "checkpoints" / "c").exists()
    assert main(["export", "--run", str(run), "--out", str(tmp_path / "s.gif")]) == 2
    assert "ebm sample --run" in capsys.readouterr().err and not (tmp_path / "s.gif").exists()
    assert main(["export", "--run", str(run), "--out", f"{tmp_path / 's.png'}/"]) == 2
    assert "names a folder" in capsys.readouterr().err and not (tmp_path / "s.png").exists()
    # sample and score wrote there too: the run's samples replaced, config.json a CSV
    config, latest = (run / "config.json").read_bytes(), run / "samples" / "latest.npz"
    saved = latest.read_bytes()
    ck = run / "checkpoints" / "iter_0000003"
    for args in (["sample", "--run", str(run), "--n", "2", "--out", str(latest)],
                 ["sample", "--checkpoint", str(ck), "--n", "2", "--out", str(ck / "x.npz")],
                 ["score", "--run", str(run), "--data", "8gaussians",
                  "--out", str(run / "config.json")]):
        assert main(args) == 2, args
        assert "would write over what the run" in capsys.readouterr().err
    assert latest.read_bytes() == saved
    # a new file of the user's beside the run's own is fine
    assert main(["sample", "--run", str(run), "--n", "2", "--out", str(run / "mine.npz")]) == 0
    assert (run / "config.json").read_bytes() == config and not (ck / "x.npz").exists()


def test_outputs_stay_out_of_any_runs_own_files(tmp_path, capsys):
    """`--out A/data.json` replaced the run's data record (resume then said the data
    changed), and every output could go over ANOTHER run's files: `export --run A
    --out B/metrics.csv`, `B/config.json`, `B/checkpoints/…`, `sample --out
    B/samples/latest.npz`."""
    from ebm_engine.runs import data_record
    from ebm_engine.runs.rundir import RUN_FILES

    assert data_record.DATA_FILE in RUN_FILES and "tensorboard" in RUN_FILES
    a, b = tmp_path / "A", tmp_path / "B"
    for run in (a, b):
        assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run),
                     "--quiet", "--set", "sampler.n_steps=2"]) == 0
    (a / "tensorboard").mkdir(exist_ok=True)
    capsys.readouterr()
    before = {p: p.read_bytes() for run in (a, b) for p in run.rglob("*") if p.is_file()}
    for argv in (["export", "--run", str(a), "--what", "metrics", "--out", str(a / "data.json")],
                 ["export", "--run", str(a), "--what", "config",
                  "--out", str(a / "tensorboard" / "x")],
                 ["export", "--run", str(a), "--what", "metrics", "--out", str(b / "metrics.csv")],
                 ["export", "--run", str(a), "--what", "config", "--out", str(b / "config.json")],
                 ["export", "--run", str(a), "--what", "metrics", "--out", str(b / "data.json")],
                 ["export", "--run", str(a), "--what", "checkpoint",
                  "--out", str(b / "checkpoints" / "iter_0000999")],
                 ["sample", "--run", str(a), "--n", "2", "--steps", "1",
                  "--out", str(b / "samples" / "latest.npz")],
                 ["score", "--run", str(a), "--data", "8gaussians",
                  "--out", str(b / "events.jsonl")]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "would write over what the run in" in err and "\n" not in err, argv
    assert {p: p.read_bytes() for run in (a, b) for p in run.rglob("*") if p.is_file()} == before
    assert not (b / "checkpoints" / "iter_0000999").exists()
    # beside another run's files is fine, as beside the run's own
    assert main(["export", "--run", str(a), "--what", "metrics",
                 "--out", str(b / "a-metrics.csv")]) == 0


def test_export_into_a_folder_a_zip_and_no_file_for_a_folder_name(tmp_path, capsys):
    """`--out FOLDER` failed for metrics and config ("is a directory") and refused a
    checkpoint; `--out ck.zip` made a folder named ck.zip; `--out x.png/` wrote x.png."""
    import zipfile

    folder = tmp_path / "d"
    folder.mkdir()
    run = "zoo:rings-ml"
    for what in ("config", "checkpoint"):
        assert main(["export", "--run", run, "--what", what, "--out", str(folder)]) == 0
    name = json.loads((folder / "config.json").read_text())["data"]["source"]
    assert name == "rings" and (folder / "iter_0001500" / "model.safetensors").is_file()

    assert main(["export", "--run", run, "--what", "checkpoint",
                 "--out", str(tmp_path / "ck.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "ck.zip") as z:
        z.extractall(tmp_path / "unpacked")
    assert main(["sample", "--checkpoint", str(tmp_path / "unpacked" / "iter_0001500"),
                 "--n", "2", "--steps", "1", "--out", str(tmp_path / "s.npz")]) == 0
    capsys.readouterr()

    for args in (["export", "--run", run, "--what", "checkpoint", "--out", "ck.tar.gz"],
                 ["export", "--run", run, "--what", "config", "--out", "nod/"],
                 ["sample", "--run", run, "--n", "2", "--out", "x.png/"]):
        args[-1] = str(tmp_path / args[-1]) + ("/" if args[-1].endswith("/") else "")
        assert main(args) == 2, args
        assert capsys.readouterr().err.count("\n") == 1
    assert not any((tmp_path / n).exists() for n in ("ck.tar.gz", "nod", "x.png"))
    # a pretrained model's export is the preview picture it ships
    assert main(["export", "--run", run, "--out", str(tmp_path / "p.png")]) == 0
    assert (tmp_path / "p.png").read_bytes() == (zoo.resolve(run) / "samples.png").read_bytes()


def test_sample_refuses_a_huge_seed_a_folder_as_out_and_takes_each_xyz(tmp_path, capsys):
    """A seed torch cannot take was a traceback; an existing folder as --out was
    "a file without extension"; --each refused .xyz for point clouds."""
    for argv in (["sample", "--run", "zoo:8gaussians-ml", "--n", "2", "--seed", "9" * 25,
                  "--out", str(tmp_path / "x.png")],
                 ["eval", "--run", "zoo:8gaussians-ml", "--seed", "-1", "--no-write"]):
        with pytest.raises(SystemExit) as stop:
            main(argv)
        assert stop.value.code == 2 and "--seed: must be 0" in capsys.readouterr().err
    assert main(["sample", "--run", "zoo:8gaussians-ml", "--n", "2", "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert main(["sample", "--run", "zoo:shapes-points-ml", "--n", "2", "--steps", "1", "--each",
                 "--out", str(tmp_path / "c.xyz")]) == 0
    assert sorted(p.name for p in tmp_path.glob("c_*.xyz")) == ["c_000.xyz", "c_001.xyz"]
    # a series that cannot be written whole is refused before the sampling, none of it left
    (tmp_path / "d_001.xyz").mkdir()
    assert main(["sample", "--run", "zoo:shapes-points-ml", "--n", "2", "--steps", "1", "--each",
                 "--out", str(tmp_path / "d.xyz")]) == 2
    assert "d_001.xyz: it is a folder" in capsys.readouterr().err
    assert not (tmp_path / "d_000.xyz").exists()


def test_scale_enlarges_animations_and_says_where_it_does_nothing(tmp_path, capsys):
    """--scale was ignored for .gif/.mp4 and for every non-pixel format without a word."""
    widths = {}
    for k in (1, 3):
        out = tmp_path / f"s{k}.gif"
        assert main(["sample", "--run", "zoo:digits-ml", "--n", "4", "--steps", "2",
                     "--scale", str(k), "--out", str(out)]) == 0
        widths[k] = Image.open(out).size[0]
    assert widths[3] == 3 * widths[1]
    capsys.readouterr()
    assert main(["sample", "--run", "zoo:digits-ml", "--n", "2", "--steps", "1", "--scale", "2",
                 "--out", str(tmp_path / "x.npz")]) == 0
    assert "note: --scale" in capsys.readouterr().out
    # frames no player opens are refused before the sampling, nothing written
    assert main(["sample", "--run", "zoo:digits-ml", "--n", "64", "--scale", "100",
                 "--out", str(tmp_path / "big.gif")]) == 2
    assert "--scale 100 makes .gif frames" in capsys.readouterr().err
    assert not (tmp_path / "big.gif").exists()


def test_an_enlarged_animation_that_cannot_fit_in_memory_is_refused(tmp_path, capsys,
                                                                     monkeypatch):
    """Only PNG grids were sized against the free memory: 21 frames at --scale 20
    took about 260 MB (8 GB at larger scales) before the first was encoded."""
    import ebm_engine.preflight as preflight

    monkeypatch.setattr(preflight, "available_memory", lambda device: 100 * 2**20)
    assert main(["sample", "--run", "zoo:digits-ml", "--n", "16", "--scale", "20",
                 "--out", str(tmp_path / "big.gif")]) == 2
    err = capsys.readouterr().err
    assert "--scale 20 makes 21 frames of" in err and "free" in err
    assert not (tmp_path / "big.gif").exists()


def test_a_long_sampling_says_so_first_and_an_sdf_line_counts_what_it_holds(tmp_path, capsys):
    from ebm_engine.commands.sample import LONG_CHAIN, _count

    assert main(["sample", "--run", "zoo:8gaussians-ml", "--n", "2", "--steps",
                 str(LONG_CHAIN * 100), "--out", str(tmp_path / "x.npz")]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("sampling 2 chains for") and "Ctrl-C" in first
    sdf = tmp_path / "m.sdf"
    sdf.write_text("a\n$$$$\nb\n$$$$\n", encoding="utf-8")
    assert _count(3, sdf) == "the 2 valid of 3 samples"
    assert _count(1, tmp_path / "x.png") == "1 sample"


def test_methods_name_lists_that_methods_knobs(capsys):
    """Three texts said `ebm methods` lists each method's knobs; it listed names only."""
    from ebm_engine.methods import available_methods

    assert main(["methods", "recovery"]) == 0
    out = capsys.readouterr().out
    knobs = available_methods()["recovery"].knobs()
    assert all(f"  {k.name}  (default {k.default!r}" in out for k in knobs)
    assert "fixed once a run starts" in out
    assert main(["methods", "ml"]) == 0
    out = capsys.readouterr().out
    assert "; in data units)" in out and "; × train.lr)" in out and "in in" not in out
    assert main(["methods", "recovry"]) == 2
    assert "did you mean 'recovery'" in capsys.readouterr().err


def test_a_checkpoint_with_non_finite_weights_is_passed_over(tmp_path, capsys):
    """Damaged bytes that kept the file's size gave NaN weights: resume rolled back to
    them three times and sampling wrote NaN samples with "wrote"."""
    import numpy as np
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    assert main(["train", "--data", "8gaussians", "--steps", "6", "--set",
                 "train.checkpoint_every=3", "--set", "sampler.n_steps=2", "--out", str(run),
                 "--quiet"]) == 0
    model = run / "checkpoints" / "iter_0000006" / "model.safetensors"
    weights = load_file(str(model))
    key = next(k for k, t in weights.items() if t.is_floating_point())
    weights[key].view(-1)[0] = float("nan")
    save_file(weights, str(model))
    capsys.readouterr()
    out = tmp_path / "s.npz"
    assert main(["sample", "--run", str(run), "--n", "4", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "iter_0000006 cannot be read" in err and f"non-finite values in {key}" in err
    assert np.isfinite(np.load(out)["samples"]).all()
    assert main(["train", "--resume", str(run), "--steps", "1", "--quiet"]) == 0
    assert "using iter_0000003" in capsys.readouterr().err


def test_an_animation_without_chain_steps_is_refused_and_settled_chains_are_said(
        tmp_path, capsys):
    """FCE draws from its flow in one go: `--out x.gif` wrote one still frame and said
    "wrote"; a persistent model's GIF starts from finished samples without a word."""
    out = tmp_path / "x.gif"
    assert main(["sample", "--run", "zoo:digits-fce", "--n", "4", "--out", str(out)]) == 2
    assert "one still frame (this model draws its samples in one go" in capsys.readouterr().err
    assert main(["sample", "--run", "zoo:8gaussians-ml", "--n", "4", "--steps", "0",
                 "--out", str(out)]) == 2
    assert "one still frame (0 steps make no chain)" in capsys.readouterr().err
    assert main(["sample", "--run", "zoo:digits-class-conditional-conditional-coop",
                 "--condition", "3", "--n", "2", "--steps", "0", "--out", str(out)]) == 2
    assert "one still frame (0 steps make no chain)" in capsys.readouterr().err
    assert not out.exists()
    assert main(["sample", "--run", "zoo:digits-ml", "--n", "4", "--steps", "4",
                 "--out", str(out)]) == 0
    assert "starts from finished samples" in capsys.readouterr().out and out.exists()
