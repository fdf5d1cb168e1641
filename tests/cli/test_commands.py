"""``kgrec train``, ``recommend``, ``explain`` and ``demo`` on the embedded store, in-process.

(Named ``test_commands.py``: ``tests/evaluation/test_cli.py`` already takes the basename
``test_cli`` in pytest's default import mode.)
"""
from __future__ import annotations

import contextlib
import io
import json

import pytest

from kg_recsys.cli import build_parser, main

COMMANDS = {
    "train": ["--store", "--model-dir", "--config", "--epochs", "--seed", "--k", "--no-write-back"],
    "recommend": ["--store", "--model-dir", "--k", "--scenario", "--text", "--json"],
    "explain": ["--store", "--model-dir", "--max-paths", "--json"],
    "forget": ["--store", "--model-dir"],
    "demo": ["--out", "--epochs", "--no-eval"],
    "ingest": ["--store", "--data-dir", "--rejects", "--encoding", "kgrec ingest ml-100k-kg --data-dir"],
    "export": ["--store", "--format", "--out", "kgrec export --store memory:graph --format nt"],
}


def kgrec(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as stop:  # argparse: --help, usage errors
            code = stop.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``(store URI, model dir, train summary)`` after ``kgrec train demo`` on a memory store."""
    root = tmp_path_factory.mktemp("kgrec")
    store, model = f"memory:{root / 'graph'}", str(root / "model")
    code, out, err = kgrec("train", "demo", "--store", store, "--model-dir", model, "--epochs", "3", "--k", "5",
                           "--no-progress")
    assert code == 0, err
    return store, model, json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_exits_0_and_lists_options(command):
    code, out, _ = kgrec(command, "--help")
    assert code == 0
    for option in COMMANDS[command]:
        assert option in out, f"kgrec {command} --help does not mention {option}"
    assert "examples:" in out


def test_top_level_help_lists_the_commands():
    text = build_parser().format_help()
    for command in COMMANDS:
        assert command in text


def test_train_prints_a_summary_and_writes_back(trained):
    store_uri, model, summary = trained
    assert summary["nodes"]["User"] == 300 and summary["epochs"] == 3
    assert summary["recommended_written"] == 300 * 5
    from kg_recsys import open_store

    with open_store(store_uri) as store:
        written = store.recommendations("u001", "kg_recsys")
    assert [r.rank for r in written] == [1, 2, 3, 4, 5]


def test_recommend_table_and_json(trained):
    store, model, _ = trained
    code, out, _ = kgrec("recommend", "u001", "u002", "--store", store, "--model-dir", model, "--k", "4", "--json")
    assert code == 0
    result = json.loads(out)
    assert [r["user"] for r in result] == ["u001", "u002"]
    assert all(len(r["items"]) == 4 for r in result)
    scores = [e["score"] for e in result[0]["items"]]
    assert scores == sorted(scores, reverse=True)
    # The written-back top-5 starts with the same items as the command's answer.
    from kg_recsys import open_store

    with open_store(store) as opened:
        assert [r.item_id for r in opened.recommendations("u001", "kg_recsys")][:4] == \
            [e["item"] for e in result[0]["items"]]

    code, out, _ = kgrec("recommend", "u001", "--store", store, "--model-dir", model, "--k", "3",
                         "--scenario", "books")
    assert code == 0 and out.splitlines()[0] == "u001" and len(out.splitlines()) == 5
    code, out, _ = kgrec("recommend", "--text", "haunted houses and ghosts", "--store", store, "--model-dir", model,
                         "--json", "--k", "3")
    assert code == 0 and len(json.loads(out)[0]["items"]) == 3


def test_explain_prints_scores_and_paths(trained):
    store, model, _ = trained
    _, out, _ = kgrec("recommend", "u003", "--store", store, "--model-dir", model, "--k", "1", "--json")
    item = json.loads(out)[0]["items"][0]["item"]
    code, out, _ = kgrec("explain", "u003", item, "--store", store, "--model-dir", model)
    assert code == 0
    assert "recall score" in out and "ranking score" in out and "User:u003 -[INTERACTED]->" in out
    assert "  in words: Because " in out and "  interests of u003: " in out
    code, out, _ = kgrec("explain", "u003", item, "--store", store, "--model-dir", model, "--json", "--max-paths", "2",
                         "--interests", "3")
    result = json.loads(out)
    assert code == 0 and 1 <= len(result["paths"]) <= 2
    assert result["paths"][0]["nodes"][-1]["id"] == item
    assert result["text"].startswith("Because ") and len(result["interests"]) == 3
    assert result["paths"][0]["kind"] in ("content", "collaborative", "profile")


@pytest.mark.parametrize("argv, message", [
    (["recommend", "nobody"], "unknown user"),
    (["recommend"], "at least one USER"),
    (["recommend", "u001", "--scenario", "podcasts"], "unknown scenario"),
    (["explain", "nobody", "b001"], "unknown user"),
    (["explain", "u001", "no-such-item"], "unknown item"),
])
def test_user_mistakes_exit_2_without_traceback(trained, argv, message):
    store, model, _ = trained
    code, out, err = kgrec(*argv, "--store", store, "--model-dir", model)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_missing_model_says_train_first(tmp_path):
    code, _, err = kgrec("recommend", "u001", "--store", f"memory:{tmp_path / 'g'}", "--model-dir",
                         str(tmp_path / "none"))
    assert code == 2 and "run `kgrec train" in err


def test_train_errors(tmp_path):
    code, _, err = kgrec("train", "--store", f"memory:{tmp_path / 'empty'}", "--model-dir", str(tmp_path / "m"),
                         "--no-progress")
    assert code == 2 and "no interactions" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[train]\nepochz = 3\n")
    code, _, err = kgrec("train", "--config", str(bad), "--store", f"memory:{tmp_path / 'g'}")
    assert code == 2 and "epochz" in err
    code, _, err = kgrec("train", "--epochs", "0")
    assert code == 2 and "at least 1" in err
    code, _, err = kgrec("train", "no-such-dataset", "--store", f"memory:{tmp_path / 'g'}", "--no-progress")
    assert code == 2 and "unknown source" in err


def test_demo_runs_end_to_end(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = kgrec("demo", "--out", "demo", "--epochs", "2", "--no-progress")
    assert code == 0, err
    for part in ("1. demo dataset", "3. evaluation", "5. recommendations", "6. one explanation", "7. write back",
                 "where everything is"):
        assert part in out
    result = json.loads((tmp_path / "demo" / "eval_cold_item.json").read_text())
    assert set(result["models"]) == {"kg_recsys", "popularity", "text_knn"}
    assert result["models"]["kg_recsys"]["recall@20"] > result["models"]["popularity"]["recall@20"] * 0.5
    assert (tmp_path / "demo" / "model" / "model.safetensors").is_file()
    # What the demo prints as "try:" works.
    code, out, err = kgrec("recommend", "u001", "--store", "memory:demo/graph", "--model-dir", "demo/model")
    assert code == 0 and out.startswith("u001"), err


def test_forget_removes_the_user_from_the_store_and_the_saved_model(tmp_path):
    store, model = f"memory:{tmp_path / 'graph'}", str(tmp_path / "model")
    code, _, err = kgrec("train", "demo", "--store", store, "--model-dir", model, "--epochs", "1", "--no-progress")
    assert code == 0, err
    code, out, err = kgrec("forget", "u002", "--store", store, "--model-dir", model)
    assert code == 0, err
    assert json.loads(out)["forgotten"] == "u002"
    code, _, err = kgrec("recommend", "u002", "--store", store, "--model-dir", model)
    assert code == 2 and "unknown user" in err
    from kg_recsys import open_store

    with open_store(store) as opened:
        assert "u002" not in opened.snapshot().users.ids.tolist()
        assert opened.recommendations("u002", "kg_recsys") == []
    code, _, err = kgrec("forget", "u002", "--store", store, "--model-dir", model)
    assert code == 2 and "unknown user 'u002'" in err


def test_help_loads_neither_torch_nor_the_text_model():
    import subprocess
    import sys

    code = ("import sys, contextlib, io\n"
            "from kg_recsys.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    try:\n        main(['--help'])\n    except SystemExit:\n        pass\n"
            "heavy = [m for m in ('torch', 'torch_geometric', 'transformers', 'networkx') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "", f"kgrec --help imported {done.stdout.strip()}"
