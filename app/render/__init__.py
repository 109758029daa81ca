"""VTK rendering of 3D samples (GUI-thread views and offscreen turntables)."""
