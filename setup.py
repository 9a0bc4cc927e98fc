"""
Build hook: compile the gettext catalogs while the package is built.

The .po files under littlecats/locale/ are the source of every user-visible string; the .mo
files the server loads are built from them here, never committed.  A normal build writes them
into the build tree (so they land in the wheel); an editable build writes them beside the .po
files, where the path-entry editable install finds them.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

LOCALE = Path("littlecats") / "locale"


class BuildWithCatalogs(build_py):
    def run(self) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        root = Path(".") if self.editable_mode else Path(self.build_lib)
        for po in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
            with po.open("rb") as f:
                catalog = read_po(f)
            mo = root / po.with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with mo.open("wb") as f:
                write_mo(f, catalog)
        super().run()


setup(cmdclass={"build_py": BuildWithCatalogs})
