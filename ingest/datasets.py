"""Readers for the real data sets in the data folder (``--data-dir`` or ``$KGREC_DATA_DIR``), each
mapped onto the one schema.

==========================  ===============================================================
name                        mapping
==========================  ===============================================================
``lastfm-kg``               plays: User -[INTERACTED scenario=listening kind=play weight=count]-> Item;
                            friends: User -[friend]-> User; artist tags: Item -[tag]-> Entity(tag=NAME);
                            Satori KG: Entity(kg:N) -[relation]-> Entity(kg:M); Item -[SAME_AS]-> Entity(kg:N)
``ml-100k-kg``              ratings (kind=rating, weight=rating, timestamp); genre, gender, occupation,
                            age_group attributes; Freebase KG over ``m.*`` ids; ``.link`` as SAME_AS
``ml-100k-kg-relinked``     as ``ml-100k-kg``, but ``.link`` is read as keyed by MovieLens-1M ids (which
                            it is) and re-keyed to ml-100k ids by title and year through
                            ``ml-1m/movies.dat``; links without a match are rejected rows
``ml-1m``                   as ml-100k from the classic ``::`` files; MKR KG over ``kg:N`` ids
``douban-cdr``              book and music ratings (scenarios ``book``, ``music``); items ``book:ID`` and
                            ``music:ID`` because the two id spaces overlap; users shared
``amazon-cdr-ids/A_B``      DisenCDR pair: folder ``A_B`` holds domain A, folder ``B_A`` domain B (the
                            loader of DisenCDR reads them so); users are shared, items ``A:ID``/``B:ID``
``amazon-food-kitchen``     LLMCDSR's Amazon Grocery (scenario ``food``) and Home and Kitchen (``kitchen``):
                            items by ASIN with their titles as text, users ``FILE:ROW``, kind=review,
                            the position in a user's line as timestamp (see
                            :class:`AmazonFoodKitchenSource`)
==========================  ===============================================================

Amazon interpretation (DisenCDR ``utils/loader.py``): for ``--dataset sport_cloth`` the
*source* domain is ``dataset/sport_cloth/{train,test}.txt`` and the *target* domain is the
reversed folder ``dataset/cloth_sport``; it asserts both have the same number of users, so
user ids are one shared space while item ids are per domain. Each line is
``user<TAB>item<TAB>1``. We read ``train.txt`` and ``test_original.txt`` (``test.txt`` is a
subset of it, without the users and items that the train file lacks) as implicit
``kind=review`` interactions, weight from the third column.
"""
from __future__ import annotations

import difflib
import functools
import html
import os
import re
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Iterable, Iterator

from kg_recsys.schema import (DEFAULT_SCENARIO, ENTITY, ITEM, SAME_AS, USER, InteractionRow, RelationRow,
                              attribute_entity_id)
from ingest import fast
from ingest.base import (IngestError, NodeRecord, Rejects, RowError, fix_mojibake, parse_float, parse_id,
                         parse_relation, read_csv, read_lines, require_file)
from kg_recsys.store.base import InteractionColumns

AMAZON_PREFIX = "amazon-cdr-ids/"
RELINKED_ML100K = "ml-100k-kg-relinked"
FOOD_KITCHEN = "amazon-food-kitchen"
DATASET_NAMES = ("lastfm-kg", "ml-100k-kg", RELINKED_ML100K, "ml-1m", "douban-cdr", f"{AMAZON_PREFIX}<pair>",
                 FOOD_KITCHEN)


def is_dataset_name(name: str) -> bool:
    return name in _READERS or name == RELINKED_ML100K or name.startswith(AMAZON_PREFIX)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'x'?)"`` for the known name closest to a mistyped one, else ``""``."""
    found = difflib.get_close_matches(name, list(known), n=1, cutoff=0.7)
    return f" (did you mean {found[0]!r}?)" if found else ""


def suggest_dataset(text: str) -> str:
    """:func:`did_you_mean` over the dataset names and ``demo`` (an Amazon pair's prefix too)."""
    head, slash, tail = text.partition("/")
    if slash and tail and did_you_mean(head + "/", [AMAZON_PREFIX]):
        return f" (did you mean {AMAZON_PREFIX + tail!r}?)"
    return did_you_mean(text, [*DATASET_NAMES[:-1], "demo"])


def open_dataset(name: str, data_dir: Path):
    """The reader for a dataset name, reading from ``data_dir/<dataset folder>``."""
    if name.startswith(AMAZON_PREFIX):
        return AmazonCdrSource(data_dir / "amazon-cdr-ids", name[len(AMAZON_PREFIX):])
    if name == RELINKED_ML100K:
        movies = data_dir / "ml-1m" / "movies.dat"
        if not movies.is_file():
            raise IngestError(f"{movies}: not found; {RELINKED_ML100K} re-keys ml-100k.link through MovieLens-1M's "
                              f"movies.dat, so {data_dir} needs ml-1m/movies.dat beside ml-100k-kg/ (or use "
                              "ml-100k-kg, whose links are read as shipped)")
        return Ml100kSource(_dataset_folder(data_dir, "ml-100k-kg"), relink_through=movies)
    return _READERS[name](_dataset_folder(data_dir, name))


def _dataset_folder(data_dir: Path, name: str) -> Path:
    folder = data_dir / name
    if not folder.is_dir():
        raise IngestError(f"{folder}: dataset folder not found; pass --data-dir (or set KGREC_DATA_DIR) to the "
                          f"folder that holds {name}/")
    return folder


# ------------------------------------------------------------------ shared helpers
def _fields(path: Path, separator: str, width: int, rejects: Rejects | None, header: bool = False
            ) -> Iterator[tuple[int, list[str], str]]:
    """``(line, fields, raw)`` of a delimited text file. A line with the wrong number of
    fields is rejected (or skipped when ``rejects`` is None: a second pass over a file
    whose rejects the other pass reports)."""
    for number, line in read_lines(path):
        if header and number == 1:
            continue
        fields = line.split(separator)
        if len(fields) != width:
            if not line.strip():
                continue
            if rejects is not None:
                rejects.add(path, number, "(row)", f"expected {width} fields separated by {separator!r}, "
                            f"got {len(fields)}", line)
            continue
        yield number, fields, line


def _attribute(src_label: str, src_id: str, column: str, value: str) -> tuple[NodeRecord, RelationRow]:
    entity_id = attribute_entity_id(column, value)
    return ((ENTITY, {"id": entity_id, "text": value, "scenario": None}, False),
            {"src_label": src_label, "src_id": src_id, "relation": column, "dst_label": ENTITY, "dst_id": entity_id})


def _kg_relations(triples: Path, links: Path | None, rejects: Rejects, entity: Callable[[str], str],
                  separator: str = "\t", header: bool = False) -> Iterator[RelationRow]:
    """KG triples ``head relation tail`` and item -> entity links (none without ``links``),
    with entity ids mapped."""
    for number, (h, r, t), raw in _fields(triples, separator, 3, rejects, header):
        try:
            yield {"src_label": ENTITY, "src_id": entity(parse_id(h, "head")),
                   "relation": parse_relation(r, "relation"), "dst_label": ENTITY,
                   "dst_id": entity(parse_id(t, "tail"))}
        except RowError as error:
            rejects.add(triples, number, error.field, error.message, raw)
    if links is None:
        return
    for number, (item, e), raw in _fields(links, separator, 2, rejects, header):
        try:
            yield {"src_label": ITEM, "src_id": parse_id(item, "item_id"), "relation": SAME_AS,
                   "dst_label": ENTITY, "dst_id": entity(parse_id(e, "entity_id"))}
        except RowError as error:
            rejects.add(links, number, error.field, error.message, raw)


def _kg_entity(raw_id: str) -> str:
    """KGCN/MKR entity ids are bare integers; prefixed so they read as KG entities."""
    return f"kg:{raw_id}"


AGE_GROUPS = {1: "under 18", 18: "18-24", 25: "25-34", 35: "35-44", 45: "45-49", 50: "50-55", 56: "56+"}
ML1M_OCCUPATIONS = (
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer", "programmer",
    "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer", "tradesman/craftsman",
    "unemployed", "writer",
)
GENDERS = {"M": "male", "F": "female"}


def age_group(age: int) -> str:
    """MovieLens-1M's age bands, so that both MovieLens sets share attribute values."""
    for lower in (56, 50, 45, 35, 25, 18):
        if age >= lower:
            return AGE_GROUPS[lower]
    return AGE_GROUPS[1]


def user_text(age: str | None, gender: str | None, occupation: str | None) -> str:
    """``"a 24 year old male technician"``; parts that are unknown are left out."""
    words = ["a"]
    if age and age[0].isdigit() and not age.endswith("+"):
        words.append(f"{age} year old")
    if gender:
        words.append(gender)
    words.append(occupation if occupation and occupation not in ("other", "none") else "person")
    if age == "under 18":
        words.append("under 18")
    elif age and age.endswith("+"):
        words.append(f"aged {age[:-1]} or older")
    return " ".join(words)


def _required_float(value: str | None, field_name: str) -> float:
    weight = parse_float(value, field_name, None)
    if weight is None:
        raise RowError(field_name, "required value is missing")
    return weight


@functools.lru_cache(maxsize=None)
def _rating_parsers(weight_field: str = "rating") -> dict[str, Callable[[str | None], object]]:
    """The field parsers of a rating row, in the order :func:`_rating` applies them (a row's
    first bad field is the one its reject names); the fast path runs the same ones."""
    return {"weight": functools.partial(_required_float, field_name=weight_field),
            "user_id": functools.partial(parse_id, field_name="user_id"),
            "item_id": functools.partial(parse_id, field_name="item_id"),
            "timestamp": functools.partial(parse_float, field_name="timestamp", default=None)}


def _rating(user: str, item: str, rating: str, stamp: str | None, scenario: str, kind: str,
            weight_field: str = "rating") -> InteractionRow:
    """An interaction whose weight is required (a rating, a play count)."""
    parse = _rating_parsers(weight_field)
    weight = parse["weight"](rating)
    return {"user_id": parse["user_id"](user), "item_id": parse["item_id"](item), "scenario": scenario,
            "kind": kind, "weight": weight, "timestamp": parse["timestamp"](stamp)}


def _rating_columns(path: Path, separator: str, columns: dict[str, int | None], scenario: str, kind: str,
                    rows: Callable[[], Iterator[InteractionRow]], rejects: Rejects) -> Iterator[InteractionColumns]:
    """A rating file's interactions as columns (see :mod:`ingest.fast`): ``columns`` names each
    of ``user_id``, ``item_id``, ``weight``, ``timestamp``'s field (``None``: absent); a file
    that is not plain is read by ``rows``, the row path."""
    width = sum(column is not None for column in columns.values())
    fields = fast.read_plain(path, separator, width, header=False)
    if fields is None:
        yield from fast.columns_of(rows())
        return
    parsers = {**_rating_parsers(), "scenario": lambda _: scenario, "kind": lambda _: kind}

    def row(text: dict[str, str | None]) -> InteractionRow:
        return _rating(text["user_id"], text["item_id"], text["weight"], text["timestamp"], scenario, kind)

    yield fast.parse_columns(fields, len(fields[0]), {**columns, "scenario": None, "kind": None}, parsers, row,
                             path, 1, separator, rejects)


# ------------------------------------------------------------------ Last.fm (HetRec 2011) + Satori KG
class LastfmSource:
    """HetRec 2011 Last.fm with the KGCN Satori KG (see the module docstring).

    Args:
        folder: the ``lastfm-kg`` folder.
        top_tags: how many of an artist's most used tags are appended to its text. (default: ``5``)
    """

    SCENARIO = "listening"

    def __init__(self, folder: str | os.PathLike, top_tags: int = 5) -> None:
        self.folder = Path(folder)
        self.name = "lastfm-kg"
        self.top_tags = top_tags
        self._files = {key: require_file(self.folder / name, what) for key, name, what in (
            ("artists", "artists.dat", "id name url pictureURL"), ("tags", "tags.dat", "tagID tagValue"),
            ("artist_tags", "artist_tags.tsv", "artistID tagID"),
            ("plays", "user_artists.dat", "userID artistID weight"),
            ("friends", "user_friends.dat", "userID friendID"), ("kg", "kg.txt", "head relation tail"),
            ("links", "item_index2entity_id.txt", "artist id, entity id"))}
        self._pending: list[RelationRow] = []

    def files(self) -> list[Path]:
        return list(self._files.values())

    def nodes(self, rejects: Rejects) -> Iterator[NodeRecord]:
        f = self._files
        tag_names: dict[str, str] = {}
        for number, (tag_id, value), raw in _fields(f["tags"], "\t", 2, rejects, header=True):
            value = fix_mojibake(value.strip())
            try:
                entity_id = parse_id(attribute_entity_id("tag", value), "tagValue")
            except RowError as error:
                rejects.add(f["tags"], number, error.field, error.message, raw)
                continue
            tag_names[tag_id.strip()] = value
            yield ENTITY, {"id": entity_id, "text": value, "scenario": None}, True
        self._pending = []
        usage: dict[str, Counter] = defaultdict(Counter)
        for number, (artist, tag_id), raw in _fields(f["artist_tags"], "\t", 2, rejects, header=True):
            tag = tag_names.get(tag_id.strip())
            if tag is None:
                rejects.add(f["artist_tags"], number, "tagID", f"tag id {tag_id!r} is not in tags.dat", raw)
                continue
            try:
                artist_id = parse_id(artist, "artistID")
            except RowError as error:
                rejects.add(f["artist_tags"], number, error.field, error.message, raw)
                continue
            usage[artist_id][tag] += 1
            self._pending.append({"src_label": ITEM, "src_id": artist_id, "relation": "tag", "dst_label": ENTITY,
                                  "dst_id": attribute_entity_id("tag", tag)})
        for number, (artist, name, _url, _picture), raw in _fields(f["artists"], "\t", 4, rejects, header=True):
            try:
                artist_id = parse_id(artist, "id")
            except RowError as error:
                rejects.add(f["artists"], number, error.field, error.message, raw)
                continue
            text = fix_mojibake(name.strip())
            tags = [tag for tag, _ in usage.get(artist_id, Counter()).most_common(self.top_tags)]
            if tags:
                text = f"{text}. Tags: {', '.join(tags)}" if text else f"Tags: {', '.join(tags)}"
            yield ITEM, {"id": artist_id, "text": text or None, "scenario": self.SCENARIO}, True

    def interactions(self, rejects: Rejects) -> Iterator[InteractionRow]:
        path = self._files["plays"]
        for number, (user, artist, count), raw in _fields(path, "\t", 3, rejects, header=True):
            try:
                yield _rating(user, artist, count, None, self.SCENARIO, "play", weight_field="weight")
            except RowError as error:
                rejects.add(path, number, error.field, error.message, raw)

    def relations(self, rejects: Rejects) -> Iterator[RelationRow]:
        yield from self._pending
        self._pending = []
        path = self._files["friends"]
        for number, (user, friend), raw in _fields(path, "\t", 2, rejects, header=True):
            try:
                yield {"src_label": USER, "src_id": parse_id(user, "userID"), "relation": "friend",
                       "dst_label": USER, "dst_id": parse_id(friend, "friendID")}
            except RowError as error:
                rejects.add(path, number, error.field, error.message, raw)
        yield from _kg_relations(self._files["kg"], self._files["links"], rejects, _kg_entity)


# ------------------------------------------------------------------ MovieLens-100k (RecBole atomic files)
class _AtomicFile:
    """A RecBole atomic file: tab separated, header ``name:type``; columns by name."""

    def __init__(self, path: Path, required: tuple[str, ...]) -> None:
        self.path = require_file(path, "RecBole atomic file")
        first = next(read_lines(path), (1, ""))[1]
        self.names = [column.split(":", 1)[0].strip() for column in first.split("\t")]
        for column in required:
            if column not in self.names:
                raise IngestError(f"{path}: required column {column!r} is missing from the header "
                                  f"({first.strip()}); RecBole atomic files name each column as name:type")
        self.position = {name: i for i, name in enumerate(self.names)}

    def rows(self, rejects: Rejects | None) -> Iterator[tuple[int, dict[str, str], str]]:
        for number, fields, raw in _fields(self.path, "\t", len(self.names), rejects, header=True):
            yield number, dict(zip(self.names, fields)), raw


def _movie(item_id: str, title: str, genres: list[str], pending: list[RelationRow]) -> Iterator[NodeRecord]:
    """A MovieLens movie: its node (title and genres as text), its genre entities; the
    genre relations go to ``pending`` (relations are written after all nodes)."""
    text = f"{title}. Genres: {', '.join(genres)}" if genres else title
    yield ITEM, {"id": item_id, "text": text or None, "scenario": None}, True
    for genre in genres:
        node, relation = _attribute(ITEM, item_id, "genre", genre)
        yield node
        pending.append(relation)


class Ml100kSource:
    """MovieLens-100k in RecBole's atomic files with the Freebase KG.

    Args:
        folder: the ``ml-100k-kg`` folder.
        prefix: the atomic files' stem. (default: ``"ml-100k"``)
        relink_through: MovieLens-1M's ``movies.dat``. RecBole's ``ml-100k.link`` is keyed
            by MovieLens-1M movie ids, not ml-100k ones (ml-100k item 313, *Titanic*, is
            linked to ML-1M movie 313, *The Swan Princess*; RecSysDatasets issue #130).
            Given this file, each link is re-keyed to the ml-100k movies of the same title
            and year (:func:`movie_key`); a link without one is a rejected row. Without it,
            the links are read as shipped. (default: ``None``)
    """

    def __init__(self, folder: str | os.PathLike, prefix: str = "ml-100k",
                 relink_through: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder)
        self.name = RELINKED_ML100K if relink_through is not None else "ml-100k-kg"
        stem = self.folder / prefix
        self.inter = _AtomicFile(Path(f"{stem}.inter"), ("user_id", "item_id", "rating"))
        self.item = _AtomicFile(Path(f"{stem}.item"), ("item_id", "movie_title"))
        self.user = _AtomicFile(Path(f"{stem}.user"), ("user_id",))
        self.kg = _AtomicFile(Path(f"{stem}.kg"), ("head_id", "relation_id", "tail_id"))
        self.link = _AtomicFile(Path(f"{stem}.link"), ("item_id", "entity_id"))
        self.ml1m_movies = None if relink_through is None else \
            require_file(Path(relink_through), "MovieID::Title (Year)::Genres (MovieLens-1M movies.dat)")
        self._pending: list[RelationRow] = []
        #: ml-100k item ids per :func:`movie_key`, filled while reading the items.
        self._items_by_key: dict[tuple[str, str], list[str]] = defaultdict(list)

    def files(self) -> list[Path]:
        files = [f.path for f in (self.inter, self.item, self.user, self.kg, self.link)]
        return files + ([self.ml1m_movies] if self.ml1m_movies is not None else [])

    def nodes(self, rejects: Rejects) -> Iterator[NodeRecord]:
        self._pending = []
        self._items_by_key = defaultdict(list)
        for number, row, raw in self.item.rows(rejects):
            try:
                item_id = parse_id(row["item_id"], "item_id")
            except RowError as error:
                rejects.add(self.item.path, number, error.field, error.message, raw)
                continue
            title, year = row["movie_title"].strip(), row.get("release_year", "").strip()
            self._items_by_key[movie_key(title, year)].append(item_id)
            yield from _movie(item_id, f"{title} ({year})" if year else title, row.get("class", "").split(),
                              self._pending)
        for number, row, raw in self.user.rows(rejects):
            try:
                user_id = parse_id(row["user_id"], "user_id")
                age_text = row.get("age", "").strip()
                if age_text and not age_text.isdigit():
                    raise RowError("age", f"{age_text!r} is not a whole number")
            except RowError as error:
                rejects.add(self.user.path, number, error.field, error.message, raw)
                continue
            age = int(age_text) if age_text else None
            gender = GENDERS.get(row.get("gender", "").strip())
            occupation = row.get("occupation", "").strip() or None
            yield USER, {"id": user_id, "text": user_text(str(age) if age is not None else None, gender, occupation),
                         "scenario": None}, True
            for column, value in (("age_group", age_group(age) if age is not None else None), ("gender", gender),
                                  ("occupation", occupation)):
                if value:
                    node, relation = _attribute(USER, user_id, column, value)
                    yield node
                    self._pending.append(relation)

    def interactions(self, rejects: Rejects) -> Iterator[InteractionRow]:
        for number, row, raw in self.inter.rows(rejects):
            try:
                yield _rating(row["user_id"], row["item_id"], row["rating"], row.get("timestamp"),
                              DEFAULT_SCENARIO, "rating")
            except RowError as error:
                rejects.add(self.inter.path, number, error.field, error.message, raw)

    def relations(self, rejects: Rejects) -> Iterator[RelationRow]:
        yield from self._pending
        self._pending = []
        if self.ml1m_movies is None:
            yield from _kg_relations(self.kg.path, self.link.path, rejects, lambda e: e, header=True)
            return
        yield from _kg_relations(self.kg.path, None, rejects, lambda e: e, header=True)
        ml1m_keys = self._ml1m_movie_keys(rejects)
        for number, row, raw in self.link.rows(rejects):
            try:
                ml1m_id, entity_id = parse_id(row["item_id"], "item_id"), parse_id(row["entity_id"], "entity_id")
            except RowError as error:
                rejects.add(self.link.path, number, error.field, error.message, raw)
                continue
            key = ml1m_keys.get(ml1m_id)
            items = self._items_by_key.get(key, []) if key is not None else []
            if not items:
                why = (f"MovieLens-1M movie {ml1m_id} is not in {self.ml1m_movies.name}" if key is None else
                       f"no ml-100k movie has the title and year of MovieLens-1M movie {ml1m_id} {key}")
                rejects.add(self.link.path, number, "item_id", why, raw)
            # ml-100k lists a few films twice under two ids: each gets the link.
            for item_id in items:
                yield {"src_label": ITEM, "src_id": item_id, "relation": SAME_AS, "dst_label": ENTITY,
                       "dst_id": entity_id}

    def _ml1m_movie_keys(self, rejects: Rejects) -> dict[str, tuple[str, str]]:
        keys = {}
        for number, (movie, title, _genres), raw in _fields(self.ml1m_movies, "::", 3, rejects):
            match = re.fullmatch(r"(.*)\((\d{4})\)", title.strip())
            if match is None:
                rejects.add(self.ml1m_movies, number, "Title", f"{title!r} does not end in a (year)", raw)
                continue
            keys[movie.strip()] = movie_key(match.group(1), match.group(2))
        return keys


def movie_key(title: str, year: str) -> tuple[str, str]:
    """A film's title and year as both MovieLens sets can match them: mojibake undone,
    trailing parentheses (alternative titles) dropped, accents folded, lower case, runs of
    other characters as one space. ``("Wings of Desire (Der Himmel über Berlin)", "1987")``
    and ``("Wings of Desire", "1987")`` give the same key."""
    text = fix_mojibake(title).strip()
    while (shorter := re.sub(r"\s*\([^()]*\)\s*$", "", text)) not in (text, ""):
        text = shorter
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip(), year.strip()


# ------------------------------------------------------------------ MovieLens-1M + MKR KG
class Ml1mSource:
    """MovieLens-1M's ``::`` files (UTF-8 or latin-1) with the MKR KG."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.name = "ml-1m"
        self._files = {key: require_file(self.folder / name, what) for key, name, what in (
            ("ratings", "ratings.dat", "UserID::MovieID::Rating::Timestamp"),
            ("movies", "movies.dat", "MovieID::Title::Genres"),
            ("users", "users.dat", "UserID::Gender::Age::Occupation::Zip-code"),
            ("kg", "kg_mkr.txt", "head relation tail"),
            ("links", "item_index2entity_id_mkr.txt", "movie id, entity id"))}
        self._pending: list[RelationRow] = []

    def files(self) -> list[Path]:
        return list(self._files.values())

    def nodes(self, rejects: Rejects) -> Iterator[NodeRecord]:
        self._pending = []
        path = self._files["movies"]
        for number, (movie, title, genres_text), raw in _fields(path, "::", 3, rejects):
            try:
                item_id = parse_id(movie, "MovieID")
            except RowError as error:
                rejects.add(path, number, error.field, error.message, raw)
                continue
            yield from _movie(item_id, fix_mojibake(title.strip()),
                              [g.strip() for g in genres_text.split("|") if g.strip()], self._pending)
        path = self._files["users"]
        for number, (user, gender_code, age_code, occupation_code, _zip), raw in _fields(path, "::", 5, rejects):
            try:
                user_id = parse_id(user, "UserID")
                age = AGE_GROUPS.get(int(age_code)) if age_code.strip().isdigit() else None
                if age is None:
                    raise RowError("Age", f"{age_code!r} is not one of the codes {sorted(AGE_GROUPS)}")
                code = int(occupation_code) if occupation_code.strip().isdigit() else -1
                if not 0 <= code < len(ML1M_OCCUPATIONS):
                    raise RowError("Occupation", f"{occupation_code!r} is not a code 0-{len(ML1M_OCCUPATIONS) - 1}")
            except RowError as error:
                rejects.add(path, number, error.field, error.message, raw)
                continue
            gender, occupation = GENDERS.get(gender_code.strip()), ML1M_OCCUPATIONS[code]
            yield USER, {"id": user_id, "text": user_text(age, gender, occupation), "scenario": None}, True
            for column, value in (("age_group", age), ("gender", gender), ("occupation", occupation)):
                if value:
                    node, relation = _attribute(USER, user_id, column, value)
                    yield node
                    self._pending.append(relation)

    def interactions(self, rejects: Rejects) -> Iterator[InteractionRow]:
        path = self._files["ratings"]
        for number, (user, movie, rating, stamp), raw in _fields(path, "::", 4, rejects):
            try:
                yield _rating(user, movie, rating, stamp, DEFAULT_SCENARIO, "rating")
            except RowError as error:
                rejects.add(path, number, error.field, error.message, raw)

    def interaction_columns(self, rejects: Rejects) -> Iterator[InteractionColumns]:
        """:meth:`interactions` as columns (the fast path, :mod:`ingest.fast`): the same rows and rejects."""
        return _rating_columns(self._files["ratings"], "::", {"user_id": 0, "item_id": 1, "weight": 2, "timestamp": 3},
                               DEFAULT_SCENARIO, "rating", lambda: self.interactions(rejects), rejects)

    def relations(self, rejects: Rejects) -> Iterator[RelationRow]:
        yield from self._pending
        self._pending = []
        yield from _kg_relations(self._files["kg"], self._files["links"], rejects, _kg_entity)


# ------------------------------------------------------------------ cross-domain rating sets
class _CrossDomainSource:
    """Shared users, one item id space per scenario (items ``SCENARIO:ID``). Subclasses
    list ``(scenario, file)`` pairs in ``self.parts``."""

    kind = "rating"
    parts: list[tuple[str, Path]]

    def files(self) -> list[Path]:
        return [path for _, path in self.parts]

    def nodes(self, rejects: Rejects) -> Iterator[NodeRecord]:
        # Items carry their scenario; their bad rows are rejected once, in interactions().
        for scenario, path in self.parts:
            seen: set[str] = set()
            for _, fields, _ in _fields(path, "\t", 3, None):
                item = fields[1].strip()
                if item and item not in seen:
                    seen.add(item)
                    try:
                        yield ITEM, {"id": parse_id(f"{scenario}:{item}", "item"), "text": None,
                                     "scenario": scenario}, False
                    except RowError:
                        continue

    def interactions(self, rejects: Rejects) -> Iterator[InteractionRow]:
        for scenario, path in self.parts:
            for number, (user, item, rating), raw in _fields(path, "\t", 3, rejects):
                try:
                    row = _rating(user, item, rating, None, scenario, self.kind)
                    row["item_id"] = f"{scenario}:{row['item_id']}"
                    yield row
                except RowError as error:
                    rejects.add(path, number, error.field, error.message, raw)

    def relations(self, rejects: Rejects) -> Iterator[RelationRow]:
        return iter(())


class DoubanSource(_CrossDomainSource):
    """Douban book and music ratings (GA-DTCDR): ``user<TAB>item<TAB>rating``."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.name = "douban-cdr"
        self.parts = [(scenario, require_file(self.folder / f"douban_{scenario}" / "ratings.dat",
                                              "user<TAB>item<TAB>rating"))
                      for scenario in ("book", "music")]


class AmazonCdrSource(_CrossDomainSource):
    """One DisenCDR Amazon pair ``A_B`` (see the module docstring for the interpretation)."""

    kind = "review"

    def __init__(self, folder: str | os.PathLike, pair: str) -> None:
        self.folder = Path(folder)
        domains = pair.strip("/").split("_")
        if len(domains) != 2 or not all(domains):
            raise IngestError(f"{AMAZON_PREFIX}{pair}: a pair is two domains joined by '_', e.g. "
                              f"{AMAZON_PREFIX}sport_cloth")
        self.name = f"{AMAZON_PREFIX}{pair}"
        first, second = domains
        self.parts = []
        for scenario, sub in ((first, f"{first}_{second}"), (second, f"{second}_{first}")):
            if not (self.folder / sub).is_dir():
                pairs = sorted(p.name for p in self.folder.iterdir() if p.is_dir()) if self.folder.is_dir() else []
                raise IngestError(f"{self.folder / sub}: folder of domain {scenario!r} is missing; pair "
                                  f"{pair!r} needs both {first}_{second}/ and {second}_{first}/ under "
                                  f"{self.folder} (check --data-dir){did_you_mean(pair, pairs)}")
            for split in ("train.txt", "test_original.txt"):
                self.parts.append((scenario, require_file(self.folder / sub / split, "user<TAB>item<TAB>1")))


# ------------------------------------------------------------------ Amazon food + kitchen (LLMCDSR), with titles
class AmazonFoodKitchenSource:
    """Amazon Grocery_and_Gourmet_Food and Home_and_Kitchen as LLMCDSR prepared them, with
    item titles (the folder's ``README.md`` describes the files).

    - **Scenarios:** ``food`` (domain A, ``items_A.tsv``) and ``kitchen`` (domain B,
      ``items_B.tsv``). An id ``g`` of the ``.txt`` files is global: ``g < F`` is food item
      ``g``, otherwise kitchen item ``g - F``, where ``F`` (8,661) is the first line of
      ``num.txt`` and the second line (27,637) bounds the kitchen ids.
    - **Items** are their ASIN (``B000BIZT3E``): Amazon's own stable id, which any metadata
      or KG linked later is keyed by. No ASIN is in both files; one that were would be
      rejected there rather than merge a food and a kitchen item. The scenario is the
      node's ``scenario``. The text is the title with HTML entities unescaped (the files keep
      ``&amp;``; one title is escaped twice, ``Caf&amp;#233``, so unescaping repeats until
      nothing changes) and each run of white space as one space (a few quoted titles hold a
      line break or a tab).
    - **Users** are ``FILE:ROW`` (``A:12``, ``B:9``, ``overlap:17``, ``valid:3``,
      ``test:5`` for ``train_A``, ``train_B``, ``train_overlap``, ``valid``, ``test``),
      because each file numbers its users from 1 again. A row number repeated in a file
      is rejected, never merged. Users have no text.
    - **Interactions:** every id of all five files, ``kind=review``, ``weight=1``. The
      source's own split (train files, then the last id of each ``valid``/``test`` line as
      the target) is not kept: the evaluation harness makes its own splits
      (:func:`kg_recsys.evaluation.splits.make_split`), so ``valid`` and ``test`` users are
      users active in both scenarios like those of ``train_overlap``.
    - **Order:** there are no timestamps, so an id's position in its line (0, 1, ...) is
      its timestamp: ``--temporal`` splits then order each user's items as the line does.
      Positions of different users are not comparable, and no split compares them.
    - **Repeats:** the schema's interaction key includes the timestamp
      (:func:`kg_recsys.schema.interaction_key`), so an item repeated within a line would
      stay as distinct events at its positions (none is repeated in the shipped files).
    - **Trailing comma:** a line may end with one comma (the README says some do; the
      shipped files have none); it ends the list and is not an id. Any other empty id (two
      commas, a comma first, a line with no ids) is a reject.
    - **Rejects:** file, line and field (``row``, ``item_ids``; for the items files
      ``local_index``, ``asin``) for a bad row number, a non-integer or out-of-range id or
      one whose item row is missing, a bad or repeated item row. A bad id costs only its own
      interaction: the rest of the line is kept, at its original positions.

    Args:
        folder: the ``amazon-food-kitchen`` folder.
    """

    SCENARIOS = ("food", "kitchen")
    kind = "review"
    #: Interaction files (without ``.txt``) and the prefix of their users' ids.
    USER_FILES = (("train_A", "A"), ("train_B", "B"), ("train_overlap", "overlap"), ("valid", "valid"),
                  ("test", "test"))
    ITEM_COLUMNS = ["local_index", "asin", "title"]

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.name = FOOD_KITCHEN
        self.num = require_file(self.folder / "num.txt", "number of food items, then of kitchen items, a line each")
        self.item_files = [require_file(self.folder / f"items_{domain}.tsv", "local_index<TAB>asin<TAB>title")
                           for domain in ("A", "B")]
        self.user_files = [(prefix, require_file(self.folder / f"{stem}.txt", "row<TAB>id,id,..."))
                           for stem, prefix in self.USER_FILES]
        self.item_counts = self._read_num()
        #: Per scenario, local index -> ASIN; filled by :meth:`nodes`.
        self._items: list[dict[int, str]] | None = None

    def files(self) -> list[Path]:
        return [self.num, *self.item_files, *(path for _, path in self.user_files)]

    def _read_num(self) -> tuple[int, int]:
        values = [line.strip() for _, line in read_lines(self.num) if line.strip()]
        if len(values) != 2 or not all(v.isascii() and v.isdigit() for v in values):
            raise IngestError(f"{self.num}: expected two lines, the number of food items and of kitchen items "
                              f"(8661 and 27637), got {values!r}; the .txt files' item ids cannot be read without them")
        return int(values[0]), int(values[1])

    def nodes(self, rejects: Rejects) -> Iterator[NodeRecord]:
        yield from self._load_items(rejects)

    def _load_items(self, rejects: Rejects) -> list[NodeRecord]:
        records: list[NodeRecord] = []
        items: list[dict[int, str]] = [{}, {}]
        first_asin: dict[str, str] = {}  # ASIN -> "file:line" of its row
        for scenario, path, count, local in zip(self.SCENARIOS, self.item_files, self.item_counts, items):
            rows = read_csv(path, multiline=("title",), delimiter="\t")
            header = next(rows, None)
            if header is None or [f.strip() for f in header.fields] != self.ITEM_COLUMNS:
                raise IngestError(f"{path}: the header must be {chr(9).join(self.ITEM_COLUMNS)!r}, got "
                                  f"{header.raw if header else ''!r}")
            line_of: dict[int, int] = {}
            for record in rows:
                if not record.fields and record.error is None:
                    continue  # a blank line
                try:
                    if record.error is not None:
                        raise record.error
                    if len(record.fields) != 3:
                        raise RowError("(row)", f"expected 3 fields separated by tabs, got {len(record.fields)}")
                    index_text, asin_text, title = record.fields
                    index = _whole_number(index_text, "local_index")
                    if index >= count:
                        raise RowError("local_index", f"{index} is not below {count}, the number of {scenario} items "
                                       f"in {self.num.name}")
                    if index in line_of:
                        raise RowError("local_index", f"{index} is already the item of line {line_of[index]}")
                    asin = parse_id(asin_text, "asin")
                    if asin in first_asin:
                        raise RowError("asin", f"{asin} is already the item of {first_asin[asin]}")
                except RowError as error:
                    rejects.add(path, record.line, error.field, error.message, record.raw)
                    continue
                line_of[index] = record.line
                first_asin[asin] = f"{path.name}:{record.line}"
                local[index] = asin
                records.append((ITEM, {"id": asin, "text": item_title(title), "scenario": scenario}, True))
        self._items = items
        return records

    def interactions(self, rejects: Rejects) -> Iterator[InteractionRow]:
        if self._items is None:  # nodes() was not read first: its rejects are reported here, once
            self._load_items(rejects)
        for prefix, path in self.user_files:
            line_of: dict[int, int] = {}
            for number, (row_text, ids_text), raw in _fields(path, "\t", 2, rejects):
                try:
                    row = _whole_number(row_text, "row")
                    if row in line_of:
                        raise RowError("row", f"user {row} is already the user of line {line_of[row]}; users are "
                                       "numbered once per file")
                    tokens = ids_text.split(",")
                    if len(tokens) > 1 and not tokens[-1].strip():
                        tokens.pop()  # a trailing comma ends the list; it is not an id
                    if len(tokens) == 1 and not tokens[0].strip():
                        raise RowError("item_ids", "the line has no item ids")
                except RowError as error:
                    rejects.add(path, number, error.field, error.message, raw)
                    continue
                line_of[row] = number
                user = f"{prefix}:{row}"
                for position, token in enumerate(tokens):
                    try:
                        item, scenario = self._item(token)
                    except RowError as error:
                        rejects.add(path, number, error.field, f"id {position + 1} of the line: {error.message}", raw)
                        continue
                    yield {"user_id": user, "item_id": item, "scenario": scenario, "kind": self.kind, "weight": 1.0,
                           "timestamp": float(position)}

    def _item(self, token: str) -> tuple[str, str]:
        """The ASIN and scenario of a global id."""
        text = token.strip()
        if not text:
            raise RowError("item_ids", "empty id (two commas in a row, or a comma first)")
        g = _whole_number(text, "item_ids")
        food, kitchen = self.item_counts
        if g >= food + kitchen:
            raise RowError("item_ids", f"{g} is not below {food + kitchen}, the number of items in {self.num.name}")
        domain, local = (0, g) if g < food else (1, g - food)
        asin = self._items[domain].get(local)
        if asin is None:
            raise RowError("item_ids", f"{g} is {self.SCENARIOS[domain]} item {local}, which "
                           f"{self.item_files[domain].name} does not hold (or rejected)")
        return asin, self.SCENARIOS[domain]

    def relations(self, rejects: Rejects) -> Iterator[RelationRow]:
        return iter(())


def _whole_number(text: str, field_name: str) -> int:
    value = text.strip()
    if not value:
        raise RowError(field_name, "required value is missing")
    if not (value.isascii() and value.isdigit()):
        raise RowError(field_name, f"{value!r} is not a whole number")
    return int(value)


def item_title(title: str) -> str | None:
    """A title as item text: HTML entities unescaped until none is left (``Caf&amp;#233`` ->
    ``Café``), runs of white space as one space; ``None`` when nothing is left."""
    text = title
    for _ in range(3):  # the one title escaped twice needs two; a third would change nothing
        unescaped = html.unescape(text)
        if unescaped == text:
            break
        text = unescaped
    return " ".join(text.split()) or None


_READERS = {"lastfm-kg": LastfmSource, "ml-100k-kg": Ml100kSource, "ml-1m": Ml1mSource, "douban-cdr": DoubanSource,
            FOOD_KITCHEN: AmazonFoodKitchenSource}
