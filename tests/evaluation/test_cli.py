"""``kgrec evaluate`` end to end on the built-in synthetic ``demo`` dataset."""
from __future__ import annotations

import json

import pytest

from kg_recsys.cli import main


def test_evaluate_writes_json_and_prints_table(tmp_path, capsys):
    out = tmp_path / "r.json"
    code = main(["evaluate", "demo", "--protocol", "cold-item", "--models", "popularity,kg_only", "--k", "10",
                 "--seed", "1", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress"])
    assert code == 0
    result = json.loads(out.read_text())
    assert result["dataset"] == "demo" and result["protocol"] == "cold-item" and result["k"] == 10
    assert result["seed"] == 1 and result["users"] > 0
    assert list(result["models"]) == ["popularity", "kg_only"]
    assert set(result["models"]["kg_only"]) == {"recall@10", "ndcg@10", "hit@10", "mrr@10", "precision@10",
                                                "coverage@10"}
    assert set(result["seconds"]["kg_only"]) == {"fit", "score"}
    printed = capsys.readouterr().out
    assert "recall@10" in printed and "kg_only" in printed and str(out) in printed


@pytest.mark.parametrize("argv, message", [
    (["--protocol", "warm", "--models", "nope"], "unknown model"),
    (["--protocol", "cross-scenario", "--models", "popularity"], "scenarios in this data"),
    (["--protocol", "warm", "--source-scenario", "books", "--models", "popularity"], "cross-scenario only"),
    (["--protocol", "warm", "--k", "0", "--models", "popularity"], "--k"),
])
def test_user_errors_exit_2_with_a_message(tmp_path, capsys, argv, message):
    code = main(["evaluate", "demo", *argv, "--out", str(tmp_path / "r.json"), "--cache-dir", str(tmp_path / "c"),
                 "--no-progress"])
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
