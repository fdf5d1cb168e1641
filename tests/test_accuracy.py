"""Accuracy on real data, in the same harness as ``kgrec evaluate``: slow, and it asserts
numbers. The full tables (all protocols, ablations, baselines) come from
``benchmarks/evaluate_all.sh``; this keeps the headline claim under test on every CI run."""
import pytest

from ingest import load_snapshot
from kg_recsys.evaluation import make_split
from kg_recsys.evaluation.harness import evaluate
from kg_recsys.evaluation.registry import EvalContext, create_scorer


@pytest.mark.slow
def test_cold_items_beat_text_and_popularity_on_ml100k(data_dir):
    snapshot = load_snapshot("ml-100k-kg", data_dir=data_dir)
    split = make_split(snapshot, "cold-item", 0)
    scorers = [create_scorer(name, EvalContext("cold-item")) for name in ("kg_recsys", "text_knn", "popularity")]
    result = evaluate(split, scorers, k=20, seed=0, progress=False)["models"]
    ours = result["kg_recsys"]["recall@20"]
    # Measured 0.23 against text_knn's 0.15 on this split; 10% relative is the project's bar.
    assert ours >= 1.1 * result["text_knn"]["recall@20"], result
    assert ours >= 1.1 * result["popularity"]["recall@20"], result
    assert result["kg_recsys"]["ndcg@20"] > result["text_knn"]["ndcg@20"], result
