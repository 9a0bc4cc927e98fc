"""Tests for littlecats.messages: both catalogs are complete and consistent."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from littlecats.messages import LANGUAGES, Catalog, CatalogMissing

SOURCE = Path(__file__).parent.parent / "littlecats"


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_languages_have_the_same_ids_and_fields():
    """Every message exists in Portuguese and English, with the same placeholders."""
    for domain in ("littlecats", "web", "irc"):
        pt, en = Catalog("pt", domain), Catalog("en", domain)
        assert pt.ids() == en.ids()
        for msgid in pt.ids():
            assert _fields(pt.template(msgid)) == _fields(en.template(msgid)), msgid


def test_every_id_used_in_code_exists():
    """Every message id the server code names is in the catalog (no English-only strings)."""
    ids = Catalog("pt").ids() | Catalog("pt", "irc").ids()
    pattern = re.compile(
        r'(?:line|text|template|sendMessage|ChatError|NicknameRejected)\(\s*"([a-z-]+)"'
    )
    used = set()
    for path in SOURCE.rglob("*.py"):
        used |= set(pattern.findall(path.read_text(encoding="utf-8")))
    assert used, "the pattern found no ids at all"
    assert used <= ids, used - ids


def test_seed_sentences_are_exact():
    """The Portuguese join and leave notices are the seed's exact sentences."""
    pt = Catalog("pt")
    assert pt.text("joined", nick="X") == "*** O cliente X entrou no chat dos Little Cats."
    assert pt.text("left", nick="X") == "*** X saiu do chat dos Little Cats."
    assert pt.text("log-connected", nick="X", ip="1.2.3.4", port=5) == (
        "X se conectou com o IP 1.2.3.4 por meio da porta 5."
    )


def test_user_text_with_braces_is_safe():
    """User text is a field value, so braces in it are shown as typed."""
    assert Catalog("pt").text("public", nick="a", text="{nick} {0} }{") == "<a> {nick} {0} }{"


def test_unknown_language_rejected():
    """Only the shipped languages are accepted."""
    with pytest.raises(ValueError, match="pt"):
        Catalog("fr")
    assert set(LANGUAGES) == {"pt", "en"}


def test_missing_compiled_catalog_is_explained(monkeypatch, tmp_path):
    """Running from a tree whose catalogs were never built gives a clear error."""
    monkeypatch.setattr("littlecats.messages.LOCALE_DIR", tmp_path)
    with pytest.raises(CatalogMissing, match="pip install"):
        Catalog("pt")


def test_help_lines_exist():
    """Every line /help shows is in the catalog."""
    from littlecats.commands import HELP_LINES

    assert set(HELP_LINES) <= Catalog("en").ids()
