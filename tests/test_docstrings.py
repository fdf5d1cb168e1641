"""The public API's docstrings: Google style, as the docs site's API reference renders them.

Every function, method and class that ``kg_recsys`` exports, and ``ingest.ingest_source`` and
``ingest.frames.ingest_frames``, has a docstring; one with parameters has an ``Args:``
section naming each of them (a class: its constructor's, or a ``#:`` comment per dataclass
field); one that returns something has ``Returns:``; one with an array or tensor in its
signature has ``Shapes:``. Methods a store inherits from :class:`GraphStore` may take the
protocol's docstring (``inspect.getdoc`` does).
"""
from __future__ import annotations

import dataclasses
import inspect
import re

import numpy as np
import pytest
from sphinx.pycode import ModuleAnalyzer

import ingest
import ingest.frames
import kg_recsys

#: Names whose docstrings are still being written (none now: keep it empty).
EXEMPT: set[str] = set()

ARRAY_TYPES = re.compile(r"\b(ndarray|Tensor)\b")
SECTION = re.compile(r"^(\w[\w ]*):\s*$")


def public_api() -> dict[str, object]:
    names = {name: getattr(kg_recsys, name) for name in kg_recsys.__all__ if name != "__version__"}
    names["ingest_source"] = ingest.ingest_source
    names["ingest_frames"] = ingest.frames.ingest_frames
    return names


def sections(doc: str) -> dict[str, list[str]]:
    """``{"Args": [lines], "Returns": [...], ...}``: the lines under each ``Name:`` heading."""
    found: dict[str, list[str]] = {}
    current = None
    for line in doc.splitlines():
        match = SECTION.match(line)
        if match and not line.startswith(" "):
            current = found.setdefault(match.group(1), [])
        elif current is not None and (line.startswith(" ") or not line.strip()):
            current.append(line)
        else:
            current = None
    return found


def documented_args(lines: list[str]) -> set[str]:
    """The names an ``Args:`` section documents: ``name:``, ``name (type):``, ``a, b: ...``."""
    body = [line for line in lines if line.strip()]
    if not body:
        return set()
    indent = min(len(line) - len(line.lstrip()) for line in body)
    names = set()
    for line in body:
        if len(line) - len(line.lstrip()) == indent and ":" in line:
            head = re.sub(r"\(.*?\)", "", line.split(":", 1)[0])
            names.update(part.strip().lstrip("*") for part in head.split(","))
    return names


def signature_problems(function, doc: str, *, skip_first: bool) -> list[str]:
    signature = inspect.signature(function)
    params = [p for p in signature.parameters.values()][1 if skip_first else 0:]
    found = sections(doc)
    problems = []
    if params:
        if "Args" not in found:
            problems.append("no Args: section")
        else:
            missing = [p.name for p in params if p.name not in documented_args(found["Args"])]
            if missing:
                problems.append(f"Args: does not name {', '.join(missing)}")
    returns = signature.return_annotation
    if function.__name__ != "__init__" and returns not in (None, "None", inspect.Signature.empty) \
            and "Returns" not in found and "Yields" not in found:
        problems.append(f"returns {returns} but has no Returns: section")
    annotations = [str(p.annotation) for p in params] + [str(returns)]
    if any(ARRAY_TYPES.search(a) for a in annotations) and "Shapes" not in found:
        problems.append("an array or tensor goes in or out, but there is no Shapes: section")
    return problems


def is_own_init(cls) -> bool:
    init = cls.__dict__.get("__init__")
    return inspect.isfunction(init) and init.__qualname__ == f"{cls.__qualname__}.__init__"


def field_docs(cls) -> dict[str, list[str]]:
    docs = ModuleAnalyzer.for_module(cls.__module__).find_attr_docs()
    return {attr: lines for (owner, attr), lines in docs.items() if owner == cls.__qualname__}


def class_problems(name: str, cls) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    doc = cls.__dict__.get("__doc__") or ""
    if dataclasses.is_dataclass(cls) and doc.startswith(f"{cls.__name__}("):
        doc = ""  # written by @dataclass, not by us
    if not doc.strip():
        problems[name] = ["no docstring"]
    elif dataclasses.is_dataclass(cls):
        comments = field_docs(cls)
        args = documented_args(sections(inspect.cleandoc(doc)).get("Args", []))
        missing = [f.name for f in dataclasses.fields(cls) if not comments.get(f.name) and f.name not in args]
        if missing:
            problems[name] = [f"fields without a '#:' comment or an Args: entry: {', '.join(missing)}"]
    elif is_own_init(cls):
        found = signature_problems(cls.__init__, inspect.cleandoc(doc), skip_first=True)
        if found:
            problems[name] = [f"constructor: {p}" for p in found]
    for attr, value in cls.__dict__.items():
        qualified = f"{name}.{attr}"
        if attr.startswith("_") or qualified in EXEMPT or dataclasses.is_dataclass(cls) and attr in {
                f.name for f in dataclasses.fields(cls)}:
            continue
        if isinstance(value, property):
            if not inspect.getdoc(value):
                problems[qualified] = ["no docstring"]
            continue
        function = getattr(cls, attr)
        if not callable(function) or inspect.isclass(function):
            continue
        method_doc = inspect.getdoc(function)
        if not method_doc:
            problems[qualified] = ["no docstring"]
            continue
        found = signature_problems(function, method_doc, skip_first=not isinstance(value, staticmethod))
        if found:
            problems[qualified] = found
    return problems


def api_problems() -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    for name, obj in public_api().items():
        if name in EXEMPT:
            continue
        if inspect.isclass(obj):
            problems.update(class_problems(name, obj))
        else:
            doc = inspect.getdoc(obj)
            found = signature_problems(obj, doc, skip_first=False) if doc else ["no docstring"]
            if found:
                problems[name] = found
    return problems


def test_public_api_has_args_returns_and_shapes_sections():
    problems = api_problems()
    assert not problems, "docstrings of the public API:\n" + "\n".join(
        f"  {name}: {'; '.join(found)}" for name, found in sorted(problems.items()))


def test_the_check_finds_a_missing_section():
    def undocumented(user_ids: list[str], k: int = 10) -> np.ndarray:
        """Top items.

        Args:
            user_ids: the users.
        """

    problems = signature_problems(undocumented, inspect.getdoc(undocumented), skip_first=False)
    assert problems == ["Args: does not name k", "returns np.ndarray but has no Returns: section",
                        "an array or tensor goes in or out, but there is no Shapes: section"]


@pytest.mark.parametrize("name", sorted(EXEMPT))
def test_exempt_names_exist(name):
    """An exemption for a name that no longer exists would hide nothing but rot."""
    owner, _, attr = name.partition(".")
    obj = public_api()[owner]
    assert not attr or hasattr(obj, attr)
