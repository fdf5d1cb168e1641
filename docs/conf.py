"""Sphinx configuration of the kg-recsys docs site.

Built with warnings as errors by ``scripts/test.sh``:
``python -m sphinx -W --keep-going -b html docs docs/_build/html -q``.
Pages are MyST markdown (``*.md``) or reStructuredText (``*.rst``, where a directive builds
the page: the configuration tables and the API reference). Nothing is executed but imports:
autodoc imports the package, the configuration page reads ``kg_recsys/config.py``.
"""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, not an installed copy
sys.path.insert(0, str(Path(__file__).resolve().parent / "_ext"))

project = "kg-recsys"
author = "the kg-recsys team"
copyright = "the kg-recsys team"
release = version = "0.1.0"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "kgrec_config",
    "kgrec_links",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# MyST: $...$ and $$...$$ maths, ::: fences, heading anchors for links such as results.md#protocols.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3

# Google-style docstrings; ``Shapes:`` (what tensors and arrays go in and out) is a section too.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_custom_sections = ["Shapes"]
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
# Typing-only names (``from __future__ import annotations``) may not resolve; that is not an error.
autodoc_type_aliases = {}

html_theme = "alabaster"
html_title = "kg-recsys"
html_static_path = []
