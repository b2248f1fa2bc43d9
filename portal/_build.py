"""Build step: a built package carries the compiled catalogs and the migrations.

``translations/`` (``messages.pot`` and the ``.po`` files) and ``migrations/`` stay at the
top of the repository as the source. A wheel, or ``pip install .``, also gets
``portal/translations/<lang>/LC_MESSAGES/messages.mo``, compiled here, and a copy of
``migrations/`` as ``portal/migrations/``; at run time ``portal.source_folder()`` prefers
those packaged copies. An editable install (``make``) runs from the checkout and needs
neither.

setuptools runs this in pip's isolated build environment, where none of the portal's
dependencies are installed: import only the standard library, setuptools and Babel
(``[build-system] requires`` in pyproject.toml), and from ``portal`` only the file
``catalogs.py``, which needs no more, loaded by its path.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from setuptools.command.build_py import build_py as _build_py


def _load_catalogs():
    # setuptools loads this file by its path, without the portal package on sys.path
    # (``import portal.catalogs`` fails there): load its sibling the same way.
    spec = importlib.util.spec_from_file_location(
        "_portal_build_catalogs", Path(__file__).with_name("catalogs.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compile_catalog = _load_catalogs().compile_catalog

SOURCE_ROOT = Path(__file__).resolve().parent.parent
# Alembic's files; never bytecode or editor leftovers.
MIGRATION_PATTERNS = ("*.py", "*.ini", "*.mako", "README")


def catalog_sources(root: Path = SOURCE_ROOT) -> list[tuple[Path, Path]]:
    """Each ``.po`` file under ``translations/``, with its ``.mo`` path inside the package."""
    found = sorted((root / "translations").glob("*/LC_MESSAGES/messages.po"))
    return [(po, Path("translations") / po.relative_to(root / "translations").with_suffix(".mo"))
            for po in found]


def migration_sources(root: Path = SOURCE_ROOT) -> list[tuple[Path, Path]]:
    """Each file of ``migrations/``, with its path inside the package."""
    folder = root / "migrations"
    found = {path for pattern in MIGRATION_PATTERNS for path in folder.rglob(pattern)}
    return [(path, path.relative_to(root)) for path in sorted(found)
            if "__pycache__" not in path.parts]


class build_py(_build_py):
    """setuptools' ``build_py``, then the compiled catalogs and the migrations."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            # The checkout is the package: translations/ (compiled by make) and
            # migrations/ are found at its top.
            return
        package = Path(self.build_lib) / "portal"
        for folder in ("translations", "migrations"):
            # A build folder left from an earlier build must not keep a removed file.
            shutil.rmtree(package / folder, ignore_errors=True)
        for po, relative in catalog_sources():
            compile_catalog(po, package / relative)
        for path, relative in migration_sources():
            (package / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, package / relative)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        package = Path(self.build_lib) / "portal"
        extra = [relative for _, relative in (*catalog_sources(), *migration_sources())]
        return [*outputs, *(str(package / relative) for relative in extra)]
