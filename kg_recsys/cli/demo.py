"""``kgrec demo``: the whole pipeline on the synthetic demo data, on the embedded store.

Generate -> ingest -> evaluate (cold items) -> train -> recommend -> explain -> write back.
Needs nothing but the project (no data download, no Neo4j).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from kg_recsys.cli import CliError
from kg_recsys.cli.train import positive

_EPILOG = """\
examples:
  kgrec demo                       # everything under .kgrec/demo
  kgrec demo --out /tmp/kgdemo --epochs 10 --no-eval
afterwards:
  kgrec recommend u001 --store memory:.kgrec/demo/graph --model-dir .kgrec/demo/model
  kgrec explain u001 b115 --store memory:.kgrec/demo/graph --model-dir .kgrec/demo/model
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="run the whole pipeline on the built-in demo data",
        description="Generate the synthetic demo dataset (300 users, 400 books and movies, a small KG), ingest "
                    "it into an embedded store, compare kg-recsys with popularity and text-kNN on cold items "
                    "(items never seen in training), train on everything, show recommendations, a cold user "
                    "served from text and one explanation, write vectors and RECOMMENDED back, and print where "
                    "everything is. About a minute on two cores.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=".kgrec/demo", metavar="DIR",
                        help="folder for the data, graph, model and results (default: .kgrec/demo)")
    parser.add_argument("--epochs", type=positive, default=10, metavar="N", help="training epochs (default: 10)")
    parser.add_argument("--seed", type=int, default=0, metavar="N", help="data and training seed (default: 0)")
    parser.add_argument("--no-eval", action="store_true", help="skip the cold-item evaluation")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run)


def _say(title: str) -> None:
    print(f"\n== {title}", flush=True)


def run(args: argparse.Namespace) -> int:
    from ingest import ingest_source
    from kg_recsys import MemoryStore, Recommender, RecommenderConfig
    from kg_recsys.cli.explain import format_explanation
    from kg_recsys.cli.recommend import format_table
    from kg_recsys.datasets.demo import write_demo_dataset

    started = time.perf_counter()
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CliError(f"cannot create {out}: {error.strerror or error}") from None
    progress = not args.no_progress
    base = RecommenderConfig()
    config = dataclasses.replace(base, train=dataclasses.replace(base.train, epochs=args.epochs, seed=args.seed,
                                                                 progress=progress))

    _say("1. demo dataset")
    data = out / "data"
    if not (data / "interactions.csv").is_file():
        write_demo_dataset(data, seed=args.seed)
    print(f"canonical CSV folder: {data}")

    _say("2. ingest into the embedded graph store")
    store = MemoryStore(out / "graph")
    try:
        summary = ingest_source(str(data), store, progress=progress)
        print(json.dumps({"nodes": summary.to_json()["nodes"], "relationships": summary.to_json()["relationships"]}))

        results = None
        if not args.no_eval:
            _say("3. evaluation: cold items (20% of items never seen in training), Recall@20 etc.")
            results = _evaluate(store, config, args.seed, progress)
            if results is not None:
                (out / "eval_cold_item.json").write_text(json.dumps(results, indent=1))

        _say("4. train on everything")
        recommender = Recommender(config).fit(store)
        recommender.save(out / "model")
        last = recommender.fitted.history[-1] if recommender.fitted.history else {}
        print(f"epochs: {len(recommender.fitted.history)}, last: {json.dumps(last)}")

        _say("5. recommendations")
        users = recommender.snapshot.users
        row = recommender.snapshot.items.index()
        items = recommender.snapshot.items

        def entries(ids, scores):
            return [{"rank": r + 1, "item": str(i), "score": float(s), "scenario": str(items.scenario[row[i]]),
                     "text": str(items.text[row[i]])} for r, (i, s) in enumerate(zip(ids, scores)) if i]

        shown = users.ids[:2].tolist()
        ids, scores = recommender.recommend(shown, k=5)
        for n, user in enumerate(shown):
            print(format_table(f"{user}: {users.text[n]}", entries(ids[n], scores[n])) + "\n")
        profile = "I love dragons, wizards and epic quests"
        ids, scores = recommender.recommend_for_text(profile, k=5)
        print(format_table(f"cold user from text: {profile!r}", entries(ids, scores)))

        _say("6. one explanation")
        best, _ = recommender.recommend(shown[0], k=1)
        print(format_explanation(recommender.explain(shown[0], str(best[0])), recommender.interests(shown[0], k=5)))

        _say("7. write back (vectors + RECOMMENDED) to the store")
        written = recommender.write_back(k=10)
        print(f"{written} RECOMMENDED relationships written")
    finally:
        store.close()

    _say("where everything is")
    graph = f"memory:{out / 'graph'}"
    print(f"data:    {data}\ngraph:   {out / 'graph'}  (--store {graph})\nmodel:   {out / 'model'}")
    if results is not None:
        print(f"results: {out / 'eval_cold_item.json'}")
    print(f"try:     kgrec recommend {shown[0]} --store {graph} --model-dir {out / 'model'}")
    print(f"         kgrec explain {shown[0]} {best[0]} --store {graph} --model-dir {out / 'model'}")
    print(f"done in {time.perf_counter() - started:.0f} s")
    return 0


def _evaluate(store, config, seed: int, progress: bool) -> dict | None:
    try:
        from kg_recsys.evaluation import create_scorer, evaluate, format_table, make_split
        from kg_recsys.evaluation.kgrec_scorer import KGRecScorer
    except ImportError as error:  # the evaluation package is optional for the demo
        print(f"(skipped: kg_recsys.evaluation is not available: {error})")
        return None
    split = make_split(store.snapshot(), "cold-item", seed=seed)
    scorers = [KGRecScorer(config), create_scorer("popularity"), create_scorer("text_knn")]
    result = evaluate(split, scorers, k=20, seed=seed, progress=progress)
    print(format_table(result))
    return result
