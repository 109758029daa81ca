"""Files and folders the engine writes get the modes a plain ``open``/``mkdir``
would give under the user's umask (a colleague must be able to follow a run
on a shared file system), never ``mkstemp``'s 0600 or ``mkdtemp``'s 0700."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ebm_engine import atomic

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")

# Runs in a fresh interpreter: the umask is process-wide, so setting it in the
# test process would race with anything else that creates files there.
CHILD = textwrap.dedent("""
    import json, os, stat, sys
    from pathlib import Path
    os.umask(int(sys.argv[2], 8))
    import numpy as np
    import torch
    from ebm_engine import atomic
    from ebm_engine.config import RunConfig
    from ebm_engine.runs.checkpoint import save_checkpoint
    from ebm_engine.runs.rundir import RunDir

    root = Path(sys.argv[1])
    run = RunDir(root / "run").create(RunConfig())
    atomic.write_bytes(root / "export.bin", b"abc")
    atomic.write_bytes(root / "export.bin", b"again")   # replacing an existing file
    atomic.write_with(root / "grid.png", lambda p: p.write_bytes(b"png"))
    # A writer that swaps in its own 0600 file (safetensors does).
    from safetensors.torch import save_file
    atomic.write_with(root / "w.safetensors", lambda p: save_file({"a": torch.ones(2)}, str(p)))
    run.write_samples(3, "points", np.zeros((2, 2), np.float32), np.zeros(2, np.float32), None)
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters())
    net(torch.ones(1, 2)).sum().backward()
    opt.step()
    folder = save_checkpoint(run.checkpoint_path(5), networks={"energy": net},
                             optimizers={"energy": opt}, tensors={}, state={"iteration": 5})
    save_checkpoint(folder, networks={"energy": net}, optimizers={"energy": opt},
                    tensors={}, state={"iteration": 5})   # replacing an existing checkpoint
    run.mark_latest(folder)
    modes = {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
             for p in root.rglob("*")}
    print(json.dumps({"umask": atomic.current_umask(), "modes": modes}))
""")


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_written_files_and_folders_follow_the_umask(tmp_path: Path, umask: int) -> None:
    out = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), oct(umask)],
                         capture_output=True, text=True, timeout=120,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["umask"] == umask
    modes = report["modes"]
    # Nothing half-written or temporary is left behind.
    assert not [p for p in modes if Path(p).name.startswith(".")], modes
    expected_files = {
        "export.bin", "grid.png", "w.safetensors", "run/config.json", "run/samples/latest.npz",
        "run/checkpoints/latest", "run/checkpoints/iter_0000005/model.safetensors",
        "run/checkpoints/iter_0000005/optimizer.safetensors",
        "run/checkpoints/iter_0000005/state.safetensors",
        "run/checkpoints/iter_0000005/state.json",
    }
    expected_dirs = {"run", "run/samples", "run/checkpoints", "run/checkpoints/iter_0000005"}
    assert expected_files | expected_dirs <= set(modes)
    for name in expected_files:
        assert modes[name] == 0o666 & ~umask, f"{name}: {oct(modes[name])}"
    for name in expected_dirs:
        assert modes[name] == 0o777 & ~umask, f"{name}: {oct(modes[name])}"


def test_temp_names_are_exclusive_and_cleaned_up(tmp_path: Path) -> None:
    a = atomic.temp_file(tmp_path, prefix=".x.", suffix=".tmp")
    b = atomic.temp_file(tmp_path, prefix=".x.", suffix=".tmp")
    d = atomic.temp_dir(tmp_path, prefix=".d.", suffix=".tmp")
    assert a != b and a.is_file() and b.is_file() and d.is_dir()
    assert a.name.startswith(".x.") and a.name.endswith(".tmp")
    umask = atomic.current_umask()
    assert stat.S_IMODE(a.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~umask
    # A failed write leaves neither a temp file nor a changed target.
    target = tmp_path / "keep.txt"
    atomic.write_text(target, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".keep")) == []


def test_current_umask_does_not_change_the_umask() -> None:
    value = atomic.current_umask()
    assert 0 <= value <= 0o777
    assert atomic.current_umask() == value
