"""PyInstaller hook: ``skimage.data`` with its pictures.

The texture demos (texture-*, frame-texture: brick, grass, gravel) and
single-image (rocket, or any of ``ebm_engine.data.single_image.PHOTOS``) read
pictures that ship inside scikit-image's package (``skimage/data/*.png``,
``*.jpg``); without them in the bundle scikit-image wants to download them
with pooch, which the bundle lacks. This hook replaces the one of
pyinstaller-hooks-contrib, so it does what that one does too (the lazy
loader's ``__init__.pyi`` and the submodules).
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

# every data file (pictures, __init__.pyi, README); not the .py modules
datas = collect_data_files("skimage.data")
hiddenimports = collect_submodules("skimage.data", filter=lambda name: name != "skimage.data.tests")
