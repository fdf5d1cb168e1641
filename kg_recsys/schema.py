"""The entity graph's schema: node labels, relation types and id rules, in one place.

Every store, reader and model imports its names from here. Names that come from data
(KG relation names, attribute columns) pass :func:`check_relation_name` before they are
used as a Cypher relationship type, so that data can never inject Cypher.
"""
from __future__ import annotations

import re
from typing import Final, TypedDict

USER: Final = "User"
ITEM: Final = "Item"
ENTITY: Final = "Entity"
NODE_LABELS: Final = (USER, ITEM, ENTITY)

#: user -> item; properties: scenario, kind, weight, timestamp.
INTERACTED: Final = "INTERACTED"
#: item -> entity that the item *is* in an external KG (from ``links.csv``).
SAME_AS: Final = "SAME_AS"
#: user -> item; model output written back for Cypher inspection.
RECOMMENDED: Final = "RECOMMENDED"
#: relation types the project itself defines; others come from data and are checked.
RESERVED_RELATIONS: Final = frozenset({INTERACTED, SAME_AS, RECOMMENDED})

DEFAULT_SCENARIO: Final = "default"
DEFAULT_KIND: Final = "interaction"

#: Relation names from data: a letter first, then letters, digits, ``_ . : -``. Quoted
#: with backticks in Cypher, so dots (``film.film.actor``) are fine; backticks never are.
_RELATION_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.:\-]{0,127}$")
#: Ids are free text but bounded and printable, so they survive CSV, RDF and Cypher.
_MAX_ID_LENGTH: Final = 512


#: Scenario and kind values are free text but bounded: Neo4j indexes scenarios, an index entry
#: holds about 8 KB, and a longer value aborted a whole batch of good rows there while the
#: embedded store took it. Both stores check with :func:`check_scenario`, so they agree.
MAX_SCENARIO_LENGTH: Final = 256


class SchemaError(ValueError):
    """A name or id that the schema does not allow."""


def check_relation_name(name: str) -> str:
    """Return ``name`` if it is safe as a relationship type, else raise :class:`SchemaError`."""
    if not isinstance(name, str) or not _RELATION_NAME.match(name):
        raise SchemaError(
            f"relation name {name!r} is not allowed: use a letter first, then letters, digits "
            "or _ . : - (at most 128 characters)"
        )
    return name


def check_label(label: str) -> str:
    if label not in NODE_LABELS:
        raise SchemaError(f"node label {label!r} is not one of {NODE_LABELS}")
    return label


def check_id(value: object) -> str:
    """Normalise an id to a non-empty, stripped string without control characters."""
    text = str(value).strip() if value is not None else ""
    if not text:
        raise SchemaError("id is empty")
    if len(text) > _MAX_ID_LENGTH:
        raise SchemaError(f"id is longer than {_MAX_ID_LENGTH} characters")
    if any(ord(ch) < 32 for ch in text):
        raise SchemaError("id contains a control character")
    return text


def check_scenario(value: str, what: str = "scenario") -> str:
    """Return ``value`` if it is a valid scenario (or, with ``what="kind"``, interaction kind):
    non-empty, at most :data:`MAX_SCENARIO_LENGTH` characters, no control characters; else
    raise :class:`SchemaError`."""
    if not isinstance(value, str) or not value:
        raise SchemaError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_SCENARIO_LENGTH:
        raise SchemaError(f"{what} is {len(value)} characters long; at most {MAX_SCENARIO_LENGTH} are allowed")
    if any(ord(ch) < 32 for ch in value):
        raise SchemaError(f"{what} {value[:40]!r} contains a control character")
    return value


def attribute_entity_id(attribute: str, value: str) -> str:
    """Id of the Entity node that stands for an attribute value, e.g. ``genre=Comedy``."""
    return f"{attribute}={value}"


def interaction_key(scenario: str, kind: str, timestamp: float | None) -> str:
    """Identity of one interaction between a user and an item, the same in every store.

    Two rows with the same user, item, scenario, kind and timestamp are the same event,
    so re-ingesting them merges instead of duplicating. Scenario and kind are free text, so
    each has ``\\`` and ``|`` escaped before the parts are joined with ``|``: then
    ``("a|b", "c")`` and ``("a", "b|c")`` get different keys, and the key of a value with
    neither character is what it always was (``movie|rating|978300760.0``).
    """
    stamp = "" if timestamp is None else repr(float(timestamp))
    return f"{_escape_key_part(scenario)}|{_escape_key_part(kind)}|{stamp}"


def _escape_key_part(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|") if "|" in text or "\\" in text else text


class NodeRow(TypedDict, total=False):
    id: str  # required
    text: str | None
    scenario: str | None


class InteractionRow(TypedDict, total=False):
    user_id: str  # required
    item_id: str  # required
    scenario: str
    kind: str
    weight: float
    timestamp: float | None


class RelationRow(TypedDict):
    src_label: str
    src_id: str
    relation: str
    dst_label: str
    dst_id: str
