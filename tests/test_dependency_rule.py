"""DESIGN.md §2: the core never imports Qt — checked by importing every module except
``app.gui`` in a fresh interpreter where PyQt6 and pyqtgraph cannot be imported."""

import pkgutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = r"""
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PyQt6', 'pyqtgraph', 'PySide6'):
            raise ImportError(f'{name} is blocked: the core must not import Qt')
sys.meta_path.insert(0, Block())
mods = sys.argv[1:]
for m in mods:
    importlib.import_module(m)
print(len(mods))
"""


def all_modules() -> list[str]:
    out = []
    for pkg in ("daq", "mock_daq", "protocols", "analysis", "app"):
        out.append(pkg)
        for info in pkgutil.walk_packages([str(ROOT / pkg)], prefix=f"{pkg}."):
            if info.name.startswith("app.gui"):
                continue
            out.append(info.name)
    return out


def test_everything_but_the_gui_imports_without_qt():
    mods = all_modules()
    p = subprocess.run([sys.executable, "-c", SCRIPT, *mods], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode == 0, p.stderr
    assert int(p.stdout.strip()) == len(mods)
