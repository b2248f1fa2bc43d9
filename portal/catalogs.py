"""Compiling translation catalogs: at build time (portal/_build.py) and, for a checkout
nobody ran ``make`` in, at start-up (portal/i18n.py). Only Babel: setuptools runs the
build where none of the portal's other dependencies are installed."""

from __future__ import annotations

from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po


def compile_catalog(po: Path, mo: Path) -> None:
    """Compile one catalog as ``pybabel compile`` does, but refuse one with errors."""
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    errors = [f"{po}:{message.lineno}: {error}"
              for message, message_errors in catalog.check() for error in message_errors]
    if errors:
        raise SystemExit("translation catalog errors:\n" + "\n".join(errors))
    mo.parent.mkdir(parents=True, exist_ok=True)
    with mo.open("wb") as target:
        write_mo(target, catalog)
