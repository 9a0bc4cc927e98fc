"""
Packaging: `twistd littlecats` is found after `pip install .` and after `pip install -e .`,
from any directory, in fresh virtual environments built from the tracked files only.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A copy of the tracked files, as a clean clone would have them (no built catalogs)."""
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    tree = tmp_path_factory.mktemp("source") / "littlecats"
    for name in filter(None, files):
        target = tree / name.decode()
        if (ROOT / name.decode()).is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name.decode(), target)
    assert not list(tree.rglob("*.mo"))
    return tree


def _install(tmp_path: Path, *pip_args: str) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *pip_args],
        check=True,
        cwd=tmp_path,
    )
    return venv


def _check_twistd(venv: Path, elsewhere: Path) -> None:
    listing = subprocess.run(
        [str(venv / "bin" / "twistd"), "--help"], cwd=elsewhere, capture_output=True, text=True
    )
    assert "littlecats" in listing.stdout, listing.stdout + listing.stderr
    plugin_help = subprocess.run(
        [str(venv / "bin" / "twistd"), "littlecats", "--help"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
    )
    assert "--listen" in plugin_help.stdout and "--lang" in plugin_help.stdout
    catalogs = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from littlecats.messages import Catalog;"
            "print(Catalog('pt').text('joined', nick='X'))",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        check=True,
    )
    assert catalogs.stdout.strip() == "*** O cliente X entrou no chat dos Little Cats."


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_plugin_found_after_install(source, tmp_path, editable):
    """After `pip install .` or `pip install -e .`, twistd lists littlecats from any directory."""
    tree = tmp_path / "tree"
    shutil.copytree(source, tree)
    args = ["-e", str(tree)] if editable else [str(tree)]
    venv = _install(tmp_path, *args)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _check_twistd(venv, elsewhere)
    if not editable:
        site = next((venv / "lib").glob("python*/site-packages"))
        assert (site / "twisted" / "plugins" / "littlecats_plugin.py").is_file()
        assert not (site / "twisted" / "plugins" / "__init__.py").read_text().count("littlecats")
