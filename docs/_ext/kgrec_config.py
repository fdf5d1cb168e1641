"""The ``kgrec-config`` directive: the configuration reference, generated from the code.

Every section of :class:`kg_recsys.config.RecommenderConfig` (a field whose default is a
config dataclass: ``[text]``, ``[model]``, ...) becomes a heading and a table of its
fields: name, type, default and the ``#:`` comment above the field in
``kg_recsys/config.py``. The fields of ``RecommenderConfig`` itself that are not sections
(``unknown_user``) get a table of their own (top-level keys of the TOML file).

A field without a ``#:`` comment is a warning, so it fails the ``-W`` build: the project
keeps a docstring per field, and this page is where a user reads them.
"""
from __future__ import annotations

import dataclasses
import json
import textwrap

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.pycode import ModuleAnalyzer
from sphinx.util import logging
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)

CONFIG_MODULE = "kg_recsys.config"


def config_sections():
    """``[(toml_table, dataclass)]``: ``(None, RecommenderConfig)`` for the top-level keys,
    then one entry per section field of ``RecommenderConfig``, in field order."""
    from kg_recsys.config import RecommenderConfig

    sections = [(None, RecommenderConfig)]
    for f in dataclasses.fields(RecommenderConfig):
        kind = f.default_factory if f.default_factory is not dataclasses.MISSING else None
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            sections.append((f.name, kind))
    return sections


def field_docs() -> dict[tuple[str, str], str]:
    """``(class name, field name) -> docstring`` from the ``#:`` comments of the config module."""
    analyzer = ModuleAnalyzer.for_module(CONFIG_MODULE)
    return {key: " ".join(line.strip() for line in lines).strip()
            for key, lines in analyzer.find_attr_docs().items()}


def toml_value(value) -> str:
    """A default as it is written in the TOML file (``true``, ``"softmax"``, ``0.0001``)."""
    if value is None:
        return "none (leave the key out)"  # TOML has no null
    if isinstance(value, bool):
        return f"``{str(value).lower()}``"
    if isinstance(value, str):
        return f"``{json.dumps(value)}``"
    return f"``{value!r}``"


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return toml_value(f.default)
    return f"the ``[{f.name}]`` table"  # a section: its own table below


def config_reference_rst() -> tuple[str, list[str]]:
    """The reference as reStructuredText, and the fields (``Class.field``) that have no
    ``#:`` docstring."""
    docs = field_docs()
    missing, out = [], []
    for table, cls in config_sections():
        title = "Top-level keys" if table is None else f"``[{table}]``"
        out += [title, "~" * 40, ""]
        summary = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        out += [f"{summary} (:class:`~{cls.__module__}.{cls.__name__}`)", ""]
        out += [".. list-table::", "   :header-rows: 1", "   :widths: 22 18 18 42", "",
                "   * - field", "     - type", "     - default", "     - what it does"]
        for f in dataclasses.fields(cls):
            doc = docs.get((cls.__name__, f.name), "")
            if not doc:
                missing.append(f"{cls.__name__}.{f.name}")
            type_text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
            body = textwrap.wrap(doc, 90) or [""]
            out += [f"   * - ``{f.name}``", f"     - ``{type_text}``", f"     - {_default(f)}",
                    f"     - {body[0]}"] + [f"       {line}" for line in body[1:]]
        out.append("")
    return "\n".join(out), missing


class ConfigReference(Directive):
    """``.. kgrec-config::``: the tables of :func:`config_reference_rst`."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        text, missing = config_reference_rst()
        if missing:
            logger.warning("config field(s) without a '#:' docstring in %s: %s", CONFIG_MODULE,
                           ", ".join(missing), location=self.state.document.current_source)
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(text.splitlines(), source=CONFIG_MODULE), container)
        return container.children


def setup(app):
    app.add_directive("kgrec-config", ConfigReference)
    # A change to the config module re-renders the page (Sphinx's own cache would not know).
    app.connect("env-get-outdated", lambda app, env, added, changed, removed: ["configuration"])
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
