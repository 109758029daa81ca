"""PyInstaller run-time hook: settings the frozen app needs before any import."""

import os

# torch's inductor / dynamo try to compile at run time; the bundle has no compiler.
os.environ.setdefault("TORCHDYNAMO_DISABLE", "1")
# Keep Qt from looking for plugins outside the bundle.
os.environ.pop("QT_PLUGIN_PATH", None)
