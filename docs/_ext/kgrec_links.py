"""Links from a page to a file of the repository outside ``docs/`` (``../experiments/README.md``).

GitHub follows them; Sphinx would take a ``.md`` target for a page it does not have and
warn. Such a link becomes a download link instead: the file is copied into the site, so
the link works there as on GitHub, and a link to a file that does not exist still fails
the build.
"""
from __future__ import annotations

import os
from pathlib import Path

from sphinx import addnodes


def _outside_links(app, doctree) -> None:
    srcdir = Path(app.srcdir).resolve()
    here = Path(app.env.doc2path(app.env.docname)).parent
    for node in list(doctree.findall(addnodes.pending_xref)):
        if node.get("reftype") != "myst" or node.get("refdomain") != "doc":
            continue
        target = Path(node["reftarget"])
        found = next((target.with_name(target.name + suffix) for suffix in app.config.source_suffix
                      if target.with_name(target.name + suffix).is_file()), None)
        if not target.is_absolute() or found is None or found.resolve().is_relative_to(srcdir):
            continue
        link = addnodes.download_reference("", "", *node.children, refdoc=node["refdoc"], refdomain=None,
                                           reftype="myst", refexplicit=node.get("refexplicit", True),
                                           reftarget=os.path.relpath(found, here))
        node.replace_self(link)


def setup(app):
    # Before Sphinx's download collector (priority 500) reads the download links.
    app.connect("doctree-read", _outside_links, priority=400)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
