"""PyInstaller hook: RDKit's data folder ``rdkit/Data``.

RDKit finds it next to its package (``RDConfig.RDDataDir``): the molecules demo
reads ``NCI/first_5K.smi`` from it (``ebm_engine.data.molecules``), descriptors
read ``Crippen.txt`` and ``FragmentDescriptors.csv``, and the molecule drawings
(``ebm sample`` PNGs, the molecule view) their font ``Fonts/``. PyInstaller
collects RDKit's modules, not its data files.
"""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("rdkit", subdir="Data")
