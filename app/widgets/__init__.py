"""Widgets the main window composes (status bar, run summary, samples area)."""
