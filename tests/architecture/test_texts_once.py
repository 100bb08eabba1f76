"""Every page text is defined once (no I/O but reading the sources): a key written twice in a
texts dict silently keeps the second, so a page showed the other text. The workspace's dose
outcome "refused" read "The form had expired…", and the citizen portal's main menu was
announced as "NAV", the sector's name."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEXTS = sorted(ROOT.glob("services/*/http/texts.py"))


@pytest.mark.parametrize("path", TEXTS, ids=lambda p: p.parts[-3])
def test_no_text_key_is_written_twice(path: Path):
    twice = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            twice += sorted({k for k in keys if keys.count(k) > 1})
    assert not twice, f"{path.relative_to(ROOT)}: {twice}"


def test_the_texts_are_found():
    assert {p.parts[-3] for p in TEXTS} >= {"citizen", "workspace"}


def test_the_texts_say_what_the_pages_mean():
    from services.citizen.http.texts import texts as citizen
    from services.workspace.http.texts import texts as workspace
    assert workspace("nb")["refused"] == "Avslått av pasienten"
    assert workspace("en")["form_refused_title"] == "The form was refused"
    assert citizen("nb")["main_nav"] == "Hovedmeny" and citizen("nb")["nav"] == "NAV"
