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
                                                "coverage@10", "novelty@10"}
    assert set(result["seconds"]["kg_only"]) == {"fit", "score"}
    printed = capsys.readouterr().out
    assert "recall@10" in printed and "kg_only" in printed and str(out) in printed


def test_merge_adds_models_to_a_result_of_the_same_split(tmp_path):
    out = tmp_path / "r.json"
    common = ["--protocol", "cold-item", "--k", "10", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
              "--no-progress"]
    assert main(["evaluate", "demo", *common, "--models", "popularity,kg_only"]) == 0
    first = json.loads(out.read_text())
    assert main(["evaluate", "demo", *common, "--models", "kg_only,text_knn", "--merge"]) == 0
    merged = json.loads(out.read_text())
    assert list(merged["models"]) == ["popularity", "kg_only", "text_knn"]
    assert merged["models"]["popularity"] == first["models"]["popularity"]
    assert merged["models"]["kg_only"] == first["models"]["kg_only"]  # same split, same seed
    assert set(merged["seconds"]) == set(merged["models"])
    assert "training" not in merged  # none of these models trains with early stopping


def test_merge_refuses_a_result_of_another_split(tmp_path, capsys):
    out = tmp_path / "r.json"
    common = ["--k", "10", "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--no-progress",
              "--models", "popularity"]
    assert main(["evaluate", "demo", "--protocol", "cold-item", *common]) == 0
    before = out.read_text()
    assert main(["evaluate", "demo", "--protocol", "cold-item", "--seed", "3", "--merge", *common]) == 2
    assert "seed" in capsys.readouterr().err
    assert out.read_text() == before
    assert main(["evaluate", "demo", "--protocol", "warm", "--merge", "--out", str(tmp_path / "none.json"),
                 "--models", "popularity", "--no-progress", "--cache-dir", str(tmp_path / "c")]) == 2
    assert "does not exist" in capsys.readouterr().err


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


def test_no_progress_reaches_the_training_of_kg_recsys_and_its_ablations():
    from kg_recsys.evaluation import EvalContext, create_scorer

    for name in ("kg_recsys", "kg_recsys_no_gnn"):
        assert create_scorer(name, EvalContext("warm", progress=False)).progress is False
        # Without --no-progress the bars stay on.
        assert create_scorer(name, EvalContext("warm")).progress is True


def test_config_reaches_kg_recsys_and_its_ablations_and_is_recorded(tmp_path, capsys):
    from kg_recsys.cli.train import build_config
    from kg_recsys.evaluation import EvalContext, create_scorer

    config_file = tmp_path / "draws.toml"
    config_file.write_text("[train]\nepochs = 2\n\n[rank]\ndraws = 2\n")
    config = build_config(str(config_file))
    assert create_scorer("kg_recsys", EvalContext("warm", config=config)).config.rank.draws == 2
    ablated = create_scorer("kg_recsys_no_gnn", EvalContext("warm", config=config)).config
    assert ablated.rank.draws == 2 and ablated.train.epochs == 2 and ablated.model.use_gnn is False

    out = tmp_path / "r.json"
    common = ["--protocol", "warm", "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--no-progress"]
    assert main(["evaluate", "demo", *common, "--models", "kg_recsys", "--config", str(config_file)]) == 0
    result = json.loads(out.read_text())
    # Only the settings that differ from the defaults, so a reader sees what was changed.
    assert result["config"] == {"train": {"epochs": 2}, "rank": {"draws": 2}}
    assert 0.0 <= result["models"]["kg_recsys"]["recall@20"] <= 1.0
    # Where training stopped: the GNN's kept epoch, and each ranker draw's kept state.
    training = result["training"]["kg_recsys"]
    assert 0 <= training["gnn_kept_epoch"] < training["gnn_epochs"] <= 2
    assert [d["draw"] for d in training["ranker_draws"]] == [0, 1]
    assert all(d["kept_epoch"] is not None and d["kept_check"] >= 0 for d in training["ranker_draws"])
    # Results of another configuration never share a file.
    before = out.read_text()
    assert main(["evaluate", "demo", *common, "--models", "popularity", "--merge"]) == 2
    assert "config" in capsys.readouterr().err and out.read_text() == before


def test_a_bad_config_file_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[rank]\ndraws = 0\n")
    code = main(["evaluate", "demo", "--protocol", "warm", "--models", "kg_recsys", "--config", str(bad),
                 "--out", str(tmp_path / "r.json"), "--cache-dir", str(tmp_path / "c"), "--no-progress"])
    assert code == 2
    assert "[rank] draws: must be positive" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_model_seed_retrains_on_the_same_split_and_is_recorded(tmp_path, capsys):
    common = ["--protocol", "warm", "--k", "10", "--models", "kg_only,bpr_mf", "--cache-dir", str(tmp_path / "c"),
              "--no-progress"]
    paths = {name: tmp_path / f"{name}.json" for name in ("plain", "same", "other")}
    assert main(["evaluate", "demo", *common, "--out", str(paths["plain"])]) == 0
    assert main(["evaluate", "demo", *common, "--model-seed", "0", "--out", str(paths["same"])]) == 0
    assert main(["evaluate", "demo", *common, "--model-seed", "7", "--out", str(paths["other"])]) == 0
    plain, same, other = (json.loads(path.read_text()) for path in paths.values())
    assert "model_seed" not in plain and same["model_seed"] == 0 and other["model_seed"] == 7
    assert same["models"] == plain["models"]  # --model-seed equal to --seed changes nothing
    assert other["split"] == plain["split"] and other["seed"] == plain["seed"] == 0
    assert other["models"]["kg_only"] == plain["models"]["kg_only"]  # no training draws, ties broken alike
    assert other["models"]["bpr_mf"] != plain["models"]["bpr_mf"]  # trained from another seed
    # Runs of different model seeds never share a file.
    before = paths["other"].read_text()
    assert main(["evaluate", "demo", *common, "--merge", "--out", str(paths["other"])]) == 2
    assert "model_seed" in capsys.readouterr().err and paths["other"].read_text() == before


def test_a_model_seed_gets_its_own_default_result_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    common = ["evaluate", "demo", "--protocol", "warm", "--models", "kg_only", "--no-progress"]
    assert main(common) == 0
    assert main([*common, "--model-seed", "3"]) == 0
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == \
        ["demo-warm-seed0-model3.json", "demo-warm-seed0.json"]
    assert "model_seed" not in json.loads((tmp_path / "results" / "demo-warm-seed0.json").read_text())
