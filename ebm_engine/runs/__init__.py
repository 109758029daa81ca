"""Run folders, checkpoints, metrics logs and following a run live."""
