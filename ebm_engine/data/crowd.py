"""The ``crowd-prediction`` demo: predict where a pedestrian walks next.

Tracks come from the built-in social-force plaza (:mod:`ebm_engine.data.crowd_sim`):
training windows from one simulation, held-out windows from another
(other agents, other seed). Each item is the 12 future positions of one
agent (4.8 s); ``meta["observed"]`` holds the 8 positions before them
(3.2 s), the condition a predictor sees (:func:`~ebm_engine.data.tracks.trajectory_dataset`).
``meta["scene"]`` holds the plaza's pillars and gates for views.
"""

from __future__ import annotations

from ebm_engine.config import DataConfig
from ebm_engine.data import crowd_sim
from ebm_engine.data._collect import int_option
from ebm_engine.data.catalogue import demo
from ebm_engine.data.dataset import Dataset
from ebm_engine.data.tracks import trajectory_dataset

#: Recorded frames of the training and held-out simulations, and their seeds.
TRAIN_FRAMES, HELDOUT_FRAMES = 2500, 800
TRAIN_SEED, HELDOUT_SEED = 0, 1
#: Frames between the starts of two windows of one agent (overlapping windows).
TRAIN_STRIDE, HELDOUT_STRIDE = 2, 4
#: Longest training simulation ``data.options.frames`` asks for (about 20 s to simulate).
MAX_FRAMES = 20_000


@demo("crowd-prediction", "trajectory",
      "pedestrians in a plaza with pillars (social-force simulator): observe 8 steps, predict 12",
      preset="crowd-prediction", expected_minutes=2.0, options=("frames",))
def load_crowd(cfg: DataConfig) -> Dataset:
    frames = int_option(cfg.options, "frames", TRAIN_FRAMES, 100, MAX_FRAMES)
    train = crowd_sim.simulate(frames, TRAIN_SEED)
    held = crowd_sim.simulate(min(HELDOUT_FRAMES, frames), HELDOUT_SEED)
    x0, y0, x1, y1 = crowd_sim.PLAZA.bounds
    dataset = trajectory_dataset("crowd-prediction", train, stride=TRAIN_STRIDE, heldout=held,
                                 extent=(x0 - 1.0, x1 + 1.0, y0 - 1.0, y1 + 1.0),
                                 source="built-in social-force simulator")
    dataset.meta["scene"] = crowd_sim.PLAZA.to_meta()
    dataset.meta["frame_seconds"] = crowd_sim.FRAME_DT
    return dataset
