"""The pretrained zoo: `ebm zoo`, and zoo:NAME wherever a run is taken; the zoo is never written."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from benchmarks import build_zoo
from ebm_engine.cli import main
from ebm_engine.data.toy2d import eight_gaussian_modes, toy_points
from ebm_engine.learning.loading import load_model
from ebm_engine.runs import zoo
from ebm_engine.runs.checkpoint import load_checkpoint
from ebm_engine.runs.rundir import RunDir


def _files(folder):
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def tiny_zoo(tmp_path, monkeypatch):
    """A zoo holding one tiny entry, installed the way build_zoo installs one."""
    monkeypatch.setattr(zoo, "zoo_dir", lambda: tmp_path / "zoo")
    run = tmp_path / "work" / "tiny-ml"
    assert main(["train", "--data", "8gaussians", "--steps", "3", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    assert main(["eval", "--run", str(run), "--n", "64", "--steps", "2"]) == 0
    grid = tmp_path / "work" / "grid.png"  # ebm sample writes outside the run it reads
    assert main(["sample", "--run", str(run), "--n", "16", "--steps", "2",
                 "--out", str(grid)]) == 0
    grid.replace(run / zoo.SAMPLES_FILE)
    recipe = build_zoo.Recipe("tiny-ml", "8gaussians", "toy2d", "ml", 3)
    return build_zoo._install(run, recipe, 1.0, {})


def test_zoo_lists_and_every_run_command_takes_zoo_names(tiny_zoo, tmp_path, capsys):
    before = _files(tiny_zoo)
    assert sorted(p.name for p in tiny_zoo.iterdir()) == [
        "checkpoints", "config.json", "eval.json", "samples.png", "zoo.json"]
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    line = next(row for row in out.splitlines() if row.startswith("tiny-ml"))
    assert "ml" in line and "8gaussians" in line and "kl_samples" in line and "MB" in line
    assert "METRIC: each entry's own `ebm eval --run zoo:NAME`" in out  # not `ebm demos`' run
    assert main(["zoo", "tiny-ml"]) == 0
    assert "ebm train --data 8gaussians --preset toy2d" in capsys.readouterr().out

    grid = tmp_path / "grid.png"
    assert main(["sample", "--run", "zoo:tiny-ml", "--n", "8", "--steps", "2",
                 "--out", str(grid)]) == 0
    assert grid.stat().st_size > 0
    capsys.readouterr()
    assert main(["eval", "--run", "zoo:tiny-ml", "--n", "32", "--steps", "2", "--json"]) == 0
    assert "kl_samples" in json.loads(capsys.readouterr().out)["metrics"]

    new = tmp_path / "continued"
    assert main(["train", "--resume", "zoo:tiny-ml", "--out", str(new), "--steps", "2",
                 "--quiet"]) == 0
    assert RunDir(new).latest_checkpoint().name == "iter_0000005"  # 3 in the zoo + 2 more
    events = RunDir(new).read_events()
    assert [e["event"] for e in events][:1] == ["forked"]
    # The zoo ships no optimiser state: the continued run says it starts fresh ones,
    # and its own checkpoints carry optimiser state again.
    resumed = next(e for e in events if e["event"] == "resumed")
    assert "fresh" in resumed["optimizers"]
    assert load_checkpoint(RunDir(new).latest_checkpoint()).optimizer
    assert _files(tiny_zoo) == before  # never written: not by sample, eval nor resume


def test_zoo_checkpoints_ship_without_optimiser_state(tiny_zoo, tmp_path, capsys):
    ckpt = load_checkpoint(RunDir(tiny_zoo).latest_checkpoint())
    assert ckpt.optimizer == {} and ckpt.optimizer_dropped and ckpt.model
    # --strip on an entry built before stripping: same result, nothing else changes.
    assert build_zoo._strip_installed(["tiny-ml"]) == 0
    assert "tiny-ml" in capsys.readouterr().out
    assert load_checkpoint(RunDir(tiny_zoo).latest_checkpoint()).optimizer == {}
    info = json.loads((tiny_zoo / zoo.RECIPE_FILE).read_text(encoding="utf-8"))
    assert info["preset_iterations"] == 1500 and info["iterations"] == 3
    entry = zoo.entries()["tiny-ml"]
    assert entry.shortened and "shortened" in entry.iterations_text()
    assert main(["zoo"]) == 0
    assert "3/1500*" in capsys.readouterr().out
    # Weights over the size cap ship as float16; loading casts them back to float32.
    assert build_zoo.halve_weights(RunDir(tiny_zoo).latest_checkpoint()) > 0
    model = load_model("zoo:tiny-ml", device="cpu")
    assert {p.dtype for p in model.method.networks()["energy"].parameters()} == {torch.float32}
    assert main(["sample", "--run", "zoo:tiny-ml", "--n", "8", "--steps", "2",
                 "--out", str(tmp_path / "half.png")]) == 0
    # A plain run's checkpoint (not stripped) resumes with its optimiser state, no note.
    run = tmp_path / "plain"
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    assert main(["train", "--resume", str(run), "--steps", "3", "--quiet"]) == 0
    resumed = next(e for e in RunDir(run).read_events() if e["event"] == "resumed")
    assert "optimizers" not in resumed


def test_halve_converts_an_installed_entry_and_scores_it_again(tiny_zoo, tmp_path, capsys):
    """``--halve`` on an entry built before the float16 rule: smaller weights, a fresh
    eval of what ships, the recipe's record kept."""
    before = json.loads((tiny_zoo / zoo.RECIPE_FILE).read_text(encoding="utf-8"))
    weights = RunDir(tiny_zoo).latest_checkpoint() / "model.safetensors"
    size = weights.stat().st_size
    (tiny_zoo / "eval.json").unlink()  # the fresh eval must come back
    assert build_zoo._rescore_installed(["tiny-ml"], tmp_path / "halve") == 0
    info = json.loads((tiny_zoo / zoo.RECIPE_FILE).read_text(encoding="utf-8"))
    assert info["weights_dtype"] == "float16" and info["command"] == before["command"]
    weights = RunDir(tiny_zoo).latest_checkpoint() / "model.safetensors"
    assert weights.stat().st_size < 0.75 * size
    assert json.loads((tiny_zoo / "eval.json").read_text(encoding="utf-8"))["metrics"]
    assert "tiny-ml: " in capsys.readouterr().out
    assert build_zoo._rescore_installed(["tiny-mk"], tmp_path / "halve") == 2


def test_halving_keeps_the_pca_flows_whitening_exact(tmp_path):
    """In float16 the 'pca' flow's basis was orthogonal to 3.6e-4 only (log q off by
    0.3 nats); the whitening stays float32, the weights around it are halved."""
    import torch
    from safetensors.torch import load_file, save_file

    basis = torch.linalg.qr(torch.randn(16, 16, generator=torch.Generator().manual_seed(0)))[0].contiguous()
    tensors = {"flow.basis": basis, "flow.mean": torch.randn(16), "flow.scale": torch.rand(16) + 0.1,
               "flow.couplings.layers.0.net.0.weight": torch.randn(8, 16), "energy.w": torch.randn(4)}
    save_file(tensors, str(tmp_path / "model.safetensors"))
    (tmp_path / "state.json").write_text("{}", encoding="utf-8")
    build_zoo.halve_weights(tmp_path)
    kept = load_file(str(tmp_path / "model.safetensors"))
    assert {k for k, v in kept.items() if v.dtype == torch.float32} == set(build_zoo.EXACT)
    assert torch.equal(kept["flow.basis"], basis)


def test_rescore_evaluates_and_draws_an_entry_again_keeping_its_weights(tiny_zoo, tmp_path):
    """``--rescore`` (after a change to how a trained model samples): a fresh eval and
    grid, the weights and the recipe's record untouched."""
    weights = RunDir(tiny_zoo).latest_checkpoint() / "model.safetensors"
    before = weights.read_bytes()
    (tiny_zoo / "eval.json").unlink()
    (tiny_zoo / zoo.SAMPLES_FILE).unlink()
    assert build_zoo._rescore_installed(["tiny-ml"], tmp_path / "again", halve=False) == 0
    assert (RunDir(tiny_zoo).latest_checkpoint() / "model.safetensors").read_bytes() == before
    assert json.loads((tiny_zoo / "eval.json").read_text(encoding="utf-8"))["metrics"]
    assert (tiny_zoo / zoo.SAMPLES_FILE).is_file()
    info = json.loads((tiny_zoo / zoo.RECIPE_FILE).read_text(encoding="utf-8"))
    assert "rescored_at" in info and "weights_dtype" not in info
    assert build_zoo._rescore_installed([], tmp_path / "again", halve=False) == 2


def test_zoo_is_read_only_and_bad_names_get_a_hint(tiny_zoo, tmp_path, capsys):
    assert main(["train", "--resume", "zoo:tiny-ml", "--steps", "1", "--quiet"]) == 2
    assert "read-only" in capsys.readouterr().err
    assert main(["sample", "--run", "zoo:tiny-mk", "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "did you mean 'tiny-ml'" in err and "\n" not in err
    assert main(["train", "--resume", "zoo:tiny-ml", "--out", str(tiny_zoo), "--quiet"]) == 2
    assert "read-only" in capsys.readouterr().err
    # what an entry does not ship is said as such, with what to do instead
    grid = tmp_path / "x.npz"  # (a .png is its preview picture)
    assert main(["export", "--run", "zoo:tiny-ml", "--what", "samples", "--out", str(grid)]) == 2
    assert f"draw new ones with ebm sample --run zoo:tiny-ml --out {grid}" in \
        capsys.readouterr().err
    assert main(["export", "--run", "zoo:tiny-ml", "--what", "metrics",
                 "--out", str(tmp_path / "m.csv")]) == 2
    assert "ships without its training history" in capsys.readouterr().err


def test_no_command_writes_into_the_zoo(tiny_zoo, tmp_path, capsys):
    """Every output path inside the zoo is refused in one line, whichever run is read:
    a sample over an entry's preview, an export or scores beside it, a fork or a new
    run that `ebm zoo` would then list as a pretrained model."""
    run = tmp_path / "plain"
    assert main(["train", "--data", "8gaussians", "--steps", "2", "--out", str(run), "--quiet",
                 "--set", "sampler.n_steps=2"]) == 0
    capsys.readouterr()
    before = _files(tiny_zoo.parent)
    link = tmp_path / "link"  # a link into the zoo is inside it too
    link.symlink_to(tiny_zoo)
    refused = [
        ["sample", "--run", "zoo:tiny-ml", "--n", "8", "--steps", "2",
         "--out", str(tiny_zoo / zoo.SAMPLES_FILE)],
        ["sample", "--run", str(run), "--n", "8", "--steps", "2", "--out", str(link / "s.png")],
        ["export", "--run", "zoo:tiny-ml", "--what", "config", "--out", str(tiny_zoo / "c.json")],
        ["export", "--run", str(run), "--what", "metrics", "--out", str(tiny_zoo)],
        ["export", "--run", str(run), "--what", "checkpoint", "--out", str(tiny_zoo / "ck")],
        ["score", "--run", str(run), "--data", "8gaussians", "--out", str(tiny_zoo / "s.csv")],
        ["train", "--resume", "zoo:tiny-ml", "--out", str(tiny_zoo.parent / "newentry"),
         "--steps", "1", "--quiet"],
        ["train", "--data", "8gaussians", "--steps", "1", "--quiet",
         "--out", str(tiny_zoo.parent / "new2")],
    ]
    for argv in refused:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert "zoo" in err and "read-only" in err and "\n" not in err, (argv, err)
    assert _files(tiny_zoo.parent) == before
    assert sorted(p.name for p in tiny_zoo.parent.iterdir()) == ["tiny-ml"]
    assert list(zoo.entries()) == ["tiny-ml"]


def test_build_zoo_has_a_recipe_per_demo_and_digits_method():
    from ebm_engine.data import demos
    from ebm_engine.presets import available_presets

    recipes = build_zoo.recipes()
    presets = set(available_presets())
    for name, info in demos().items():
        if info.preset in presets:
            assert any(r.data == name for r in recipes.values()), name
    assert recipes["digits-ml"].train_args(zoo.zoo_dir()).count("--steps") == 0  # the full preset
    assert {"digits-coopnets", "digits-recovery", "8gaussians-ml", "8gaussians-fce"} <= set(recipes)
    assert recipes["8gaussians-fce"].preset == "toy2d-fce"


def test_shipped_zoo_entries_are_complete_and_small():
    entries = zoo.entries()
    assert sum(e.size for e in entries.values()) <= 50e6
    for e in entries.values():
        names = {p.name for p in e.path.iterdir()}
        assert {"config.json", "checkpoints", "eval.json", "samples.png", "zoo.json"} <= names, e.name
        assert RunDir(e.path).latest_checkpoint() is not None and e.metric, e.name
        assert len([p for p in (e.path / "checkpoints").iterdir() if p.is_dir()]) == 1, e.name
        assert e.size <= build_zoo.MAX_ENTRY_MB * 1e6, e.name
        ckpt = load_checkpoint(RunDir(e.path).latest_checkpoint())
        assert ckpt.optimizer_dropped and not ckpt.optimizer, e.name


def test_sampling_past_a_models_few_persistent_chains_says_they_repeat(tmp_path, capsys):
    """FRAME keeps 4 chains: 8 draws continue each twice, and ``ebm sample`` says so."""
    out = tmp_path / "draws.npz"
    assert main(["sample", "--run", "zoo:frame-texture-frame", "--n", "8", "--steps", "2",
                 "--out", str(out)]) == 0
    assert "keeps 4 persistent chains" in capsys.readouterr().out
    with np.load(out) as z:
        x = z["samples"].reshape(8, -1)
    # draw k and k + 4 continue one chain: closer to each other than to any other chain
    dist = ((x[:, None] - x[None]) ** 2).mean(-1)
    for k in range(4):
        others = [dist[k, j] for j in range(8) if j not in (k, k + 4)]
        assert dist[k, k + 4] < min(others)
    assert main(["sample", "--run", "zoo:frame-texture-frame", "--n", "4", "--steps", "2",
                 "--out", str(tmp_path / "four.png")]) == 0
    assert "persistent chains" not in capsys.readouterr().out


@pytest.mark.parametrize("demo", ["8gaussians", "rings", "moons", "pinwheel", "checkerboard"])
def test_shipped_2d_models_sample_by_their_data(demo, tmp_path):
    """`ebm sample` of a shipped 2D ML model stays by the data: under the former energy
    penalty (energy_l2 0.1) 1-32 % of these samples lay farther than 1 from every data
    point, scattered out to radius 17 over a flat plateau."""
    out = tmp_path / "draws.npz"
    assert main(["sample", "--run", f"zoo:{demo}-ml", "--n", "1000", "--out", str(out)]) == 0
    with np.load(out) as z:
        x = torch.from_numpy(z["samples"]).float()
    data = torch.from_numpy(toy_points(demo, 5000, seed=1)).float()
    far = float((torch.cdist(x, data).min(1).values > 1.0).float().mean())
    assert far < 0.01, far


def test_shipped_2d_coopnets_keeps_the_modes_apart(tmp_path):
    """The shipped 8gaussians CoopNets model draws the eight modes without bridges between
    them: under the former revision noise (noise_scale 0.5, z in R⁴) 9 % of its samples lay
    more than 3 standard deviations (0.75) from every mode; the data has 1 % there."""
    out = tmp_path / "draws.npz"
    assert main(["sample", "--run", "zoo:8gaussians-coopnets", "--n", "2000", "--out", str(out)]) == 0
    with np.load(out) as z:
        x = z["samples"]
    dist = np.linalg.norm(x[:, None] - eight_gaussian_modes()[None], axis=2)
    off = float((dist.min(1) > 0.75).mean())
    assert off < 0.05, off
    assert np.bincount(dist.argmin(1), minlength=8).min() > 0.06 * len(x)


# How often a run draws, records and saves: what it shows, not what it learns.
SHOWN_ONLY = {"train.sample_every", "train.record_every", "train.checkpoint_every",
              "train.snapshot_size", "description"}


def _flat(raw: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def test_every_shipped_entry_is_its_preset_trained():
    """The grammar-text entry was built before its preset changed (z_dim 32 where the
    preset says 16, σ₀ 1.0 where its About says 0.7 …): Load pretrained showed another
    model than the demo's, and Reset then trained those settings "from scratch". Every
    value a preset sets must be the entry's (its iterations too, unless its recipe
    says how many it trained)."""
    from ebm_engine.presets import config_for

    for entry in zoo.entries().values():
        info = json.loads((entry.path / zoo.RECIPE_FILE).read_text(encoding="utf-8"))
        preset = _flat(config_for(info["data"], info["preset"]).to_dict())
        saved = _flat(json.loads((entry.path / "config.json").read_text(encoding="utf-8")))
        skip = SHOWN_ONLY | ({"train.iterations"} if info.get("iterations") else set())
        differ = {k: (v, saved.get(k, "(missing)")) for k, v in preset.items()
                  if k not in skip and saved.get(k, "(missing)") != v}
        assert not differ, f"{entry.name} (preset value, entry's): {differ}; rebuild it: " \
                           f"python -m benchmarks.build_zoo {entry.name}"
