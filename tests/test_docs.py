"""The docs site's generated configuration page lists every field of every config dataclass.

The page (``docs/configuration.rst``) is built here on its own, by Sphinx's text builder with
warnings as errors, from the ``kgrec-config`` directive of ``docs/_ext/kgrec_config.py``;
``scripts/test.sh`` builds the whole site the same way.
"""
from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

import pytest

from kg_recsys.config import RecommenderConfig

DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import kgrec_config  # noqa: E402  (docs/_ext is not a package)


def config_classes():
    return [RecommenderConfig] + [cls for _, cls in kgrec_config.config_sections()[1:]]


@pytest.fixture(scope="module")
def configuration_page(tmp_path_factory) -> str:
    from sphinx.application import Sphinx

    root = tmp_path_factory.mktemp("docs")
    source, out = root / "source", root / "out"
    source.mkdir()
    shutil.copy(DOCS / "configuration.rst", source / "index.rst")
    (source / "conf.py").write_text("extensions = ['kgrec_config']\n")
    app = Sphinx(str(source), str(source), str(out), str(root / "doctrees"), "text",
                 status=None, warningiserror=True, keep_going=False)
    app.build()
    return (out / "index.txt").read_text(encoding="utf-8")


def section_text(page: str, title: str) -> str:
    """The page from the heading ``title`` to the next heading."""
    lines = page.splitlines()
    start = next(i for i, line in enumerate(lines) if line == title and set(lines[i + 1]) == {"="})
    end = next((i - 1 for i in range(start + 2, len(lines) - 1)
                if lines[i + 1] and set(lines[i + 1]) == {"="}), len(lines))
    return "\n".join(lines[start:end])


def table_rows(text: str) -> list[list[str]]:
    """The cells of the text builder's grid table in ``text``, cut at the border's ``+``
    columns (a cell may hold ``|``, as ``str | None`` does), a row's wrapped lines joined."""
    lines = text.splitlines()
    border = next(line for line in lines if line.startswith("+-"))
    edges = [i for i, char in enumerate(border) if char == "+"]
    rows, current = [], None
    for line in lines:
        if line.startswith(("+", "|=")):
            if current:
                rows.append([" ".join(part).strip() for part in current])
            current = None
        elif line.startswith("|"):
            cells = [line[a + 1:b].strip() for a, b in zip(edges, edges[1:])]
            current = [[c] for c in cells] if current is None else [part + [c] for part, c in zip(current, cells)]
    # The first three columns hold names and values, which wrap without a space.
    return [[cell.replace("- ", "-").replace(" ", "") if i < 3 else cell for i, cell in enumerate(row)]
            for row in rows]


def test_every_config_field_has_a_docstring():
    _, missing = kgrec_config.config_reference_rst()
    assert missing == []
    docs = kgrec_config.field_docs()
    for cls in config_classes():
        for f in dataclasses.fields(cls):
            assert len(docs[(cls.__name__, f.name)]) > 10, f"{cls.__name__}.{f.name}"


def test_generated_page_lists_every_field_of_every_section(configuration_page):
    sections = dict(kgrec_config.config_sections())
    assert set(sections) == {None, "text", "model", "train", "recall", "rank"}
    for table, cls in sections.items():
        text = section_text(configuration_page, "Top-level keys" if table is None else f'"[{table}]"')
        rows = table_rows(text)
        assert rows[0][:3] == ["field", "type", "default"]
        assert [row[0] for row in rows[1:]] == [f'"{f.name}"' for f in dataclasses.fields(cls)], table
        for row, f in zip(rows[1:], dataclasses.fields(cls)):
            if isinstance(f.default, (int, float)) and not isinstance(f.default, bool):
                assert row[2] == f'"{f.default!r}"', f"{table}.{f.name}: default {f.default!r} not shown"
            assert row[3], f"{table}.{f.name}: no docstring shown"


def test_defaults_are_written_as_toml():
    assert kgrec_config.toml_value(True) == "``true``"
    assert kgrec_config.toml_value("softmax") == '``"softmax"``'
    assert kgrec_config.toml_value(None).startswith("none")


def test_a_field_without_docstring_is_reported(monkeypatch):
    docs = kgrec_config.field_docs()
    monkeypatch.setattr(kgrec_config, "field_docs",
                        lambda: {k: v for k, v in docs.items() if k != ("TrainConfig", "lr")})
    _, missing = kgrec_config.config_reference_rst()
    assert missing == ["TrainConfig.lr"]
