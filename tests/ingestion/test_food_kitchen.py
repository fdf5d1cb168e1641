"""The amazon-food-kitchen reader's parsing rules, on small hand-made files (no data needed)."""
from __future__ import annotations

import pytest

from ingest import IngestError, Rejects, ingest_source
from ingest.datasets import AmazonFoodKitchenSource, item_title, open_dataset
from kg_recsys.store.memory import MemoryStore


def write_food_kitchen(folder, lines: dict[str, str]) -> None:
    """Three food items (global ids 0-2) and two kitchen items (global ids 3-4)."""
    folder.mkdir(parents=True)
    files = {
        "num.txt": "3\n2\n",
        "items_A.tsv": "local_index\tasin\ttitle\n0\tFA0\tTea &amp; Biscuits\n"
                       '1\tFA1\t"Salmon, 6-Count \n6 Oz cans"\n2\tFA2\tCaf&amp;#233 Mocha\n',
        "items_B.tsv": "local_index\tasin\ttitle\n0\tKB0\tWhisk\n1\tKB1\t6&quot; Pan\n",
        "train_A.txt": "", "train_B.txt": "", "train_overlap.txt": "", "valid.txt": "", "test.txt": "",
    }
    files.update(lines)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")


def rows(source: AmazonFoodKitchenSource) -> tuple[list[dict], Rejects]:
    rejects = Rejects()
    list(source.nodes(rejects))
    return list(source.interactions(rejects)), rejects


def test_global_ids_users_per_file_and_positions_as_timestamps(tmp_path):
    write_food_kitchen(tmp_path / "amazon-food-kitchen", {
        "train_A.txt": "1\t0,2,1,\n2\t1\n",  # the first line ends with a comma
        "train_B.txt": "1\t4,3\n",
        "train_overlap.txt": "1\t3,0,3\n",  # kitchen item 0 twice in one line
    })
    source = open_dataset("amazon-food-kitchen", tmp_path)
    inter, rejects = rows(source)
    assert len(rejects) == 0
    got = [(r["user_id"], r["item_id"], r["scenario"], r["timestamp"]) for r in inter]
    assert got == [("A:1", "FA0", "food", 0.0), ("A:1", "FA2", "food", 1.0), ("A:1", "FA1", "food", 2.0),
                   ("A:2", "FA1", "food", 0.0),
                   ("B:1", "KB1", "kitchen", 0.0), ("B:1", "KB0", "kitchen", 1.0),
                   ("overlap:1", "KB0", "kitchen", 0.0), ("overlap:1", "FA0", "food", 1.0),
                   ("overlap:1", "KB0", "kitchen", 2.0)]
    assert {(r["kind"], r["weight"]) for r in inter} == {("review", 1.0)}

    store = MemoryStore(None)
    summary = ingest_source(source, store, progress=False)
    # A:1 and B:1 are two users; the repeated item of overlap:1 stays two events.
    assert summary.rejected == 0 and summary.duplicates == 0
    assert summary.nodes["User"] == 4 and summary.nodes["Item"] == 5
    assert summary.relationships == {"INTERACTED": 9}
    assert (store.node("Item", "FA0")["text"], store.node("Item", "FA0")["scenario"]) == ("Tea & Biscuits", "food")
    assert store.node("Item", "FA1")["text"] == "Salmon, 6-Count 6 Oz cans"  # quoted title with a line break
    assert store.node("Item", "FA2")["text"] == "Café Mocha"  # escaped twice in the source
    assert store.node("Item", "KB1")["scenario"] == "kitchen" and store.node("Item", "KB1")["text"] == '6" Pan'


def test_bad_rows_are_rejected_with_file_line_and_field(tmp_path):
    write_food_kitchen(tmp_path / "amazon-food-kitchen", {
        "items_B.tsv": "local_index\tasin\ttitle\n0\tKB0\tWhisk\n1\tFA0\tSame ASIN as a food item\n"
                       "7\tKB7\tPast num.txt\n",
        "valid.txt": "1\t0,x7,3\n2\t0,,3\n3\t9\n4\t4\n5\t,\n6\t\nseven\t1\n8 0,1\n",
        "test.txt": "1\t0\n1\t1\n",
    })
    inter, rejects = rows(open_dataset("amazon-food-kitchen", tmp_path))
    got = {(r.file.rsplit("/", 1)[-1], r.line, r.field) for r in rejects.items}
    assert got == {
        ("items_B.tsv", 3, "asin"),  # FA0 is already food item 0
        ("items_B.tsv", 4, "local_index"),  # 7 >= 2 kitchen items
        ("valid.txt", 1, "item_ids"),  # x7
        ("valid.txt", 2, "item_ids"),  # an empty id between two commas
        ("valid.txt", 3, "item_ids"),  # 9 >= 5 items
        ("valid.txt", 4, "item_ids"),  # kitchen item 1, whose row was rejected
        ("valid.txt", 5, "item_ids"),  # only a comma
        ("valid.txt", 6, "item_ids"),  # no ids
        ("valid.txt", 7, "row"),
        ("valid.txt", 8, "(row)"),  # no tab
        ("test.txt", 2, "row"),  # user 1 of test.txt again
    }
    assert len(rejects) == len(got)
    message = {(r.line, r.field): r.message for r in rejects.items if r.file.endswith("valid.txt")}
    assert "id 2 of the line" in message[(1, "item_ids")] and "'x7'" in message[(1, "item_ids")]
    assert "kitchen item 1" in message[(4, "item_ids")]
    # A bad id costs its own interaction only; the others keep their positions.
    got = [(r["user_id"], r["item_id"], r["timestamp"]) for r in inter]
    assert got == [("valid:1", "FA0", 0.0), ("valid:1", "KB0", 2.0), ("valid:2", "FA0", 0.0), ("valid:2", "KB0", 2.0),
                   ("test:1", "FA0", 0.0)]


def test_missing_or_malformed_num_is_a_clear_error(tmp_path):
    write_food_kitchen(tmp_path / "amazon-food-kitchen", {"num.txt": "8661\n"})
    with pytest.raises(IngestError, match="num.txt.*two lines"):
        open_dataset("amazon-food-kitchen", tmp_path)
    with pytest.raises(IngestError, match="amazon-food-kitchen"):
        open_dataset("amazon-food-kitchen", tmp_path / "elsewhere")


def test_item_title_unescapes_and_joins_white_space():
    assert item_title("Pots &amp; Pans") == "Pots & Pans"
    assert item_title("Caf&amp;#233 Escapes") == "Café Escapes"
    assert item_title("a\tb \n c") == "a b c"
    assert item_title("  ") is None
