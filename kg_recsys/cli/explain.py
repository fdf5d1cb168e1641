"""``kgrec explain USER ITEM``: why the model scores an item for a user."""
from __future__ import annotations

import argparse
import json

from kg_recsys.cli import CliError
from kg_recsys.cli.train import add_store_options, load_model, positive

_EPILOG = """\
examples:
  kgrec explain u001 b115
  kgrec explain u001 b115 --max-paths 10 --json
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "explain", help="score breakdown and graph paths from a user to an item",
        description="Explain the score of ITEM for USER: the recall score (dot product of their vectors), the "
                    "ranker's score, and the graph paths that tie them (user -> item -> shared entity <- item, "
                    "co-interactions, shared user attributes), strongest first, and the strongest two in "
                    "words; then the user's interests (the entities their history links to most). Every hop "
                    "printed is a relationship in the store; path weights are those of "
                    "graphs/queries/why_recommended.cypher.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("user", metavar="USER", help="user id")
    parser.add_argument("item", metavar="ITEM", help="item id")
    add_store_options(parser)
    parser.add_argument("--max-paths", type=positive, default=5, metavar="N", help="paths to show (default: 5)")
    parser.add_argument("--interests", type=positive, default=5, metavar="N",
                        help="the user's top interests to show (default: 5)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kg_recsys.cli.ingest import open_cli_store

    store = open_cli_store(args.store)
    try:
        recommender = load_model(args.model_dir, store)
        if args.user not in set(recommender.snapshot.users.ids.tolist()):
            raise CliError(f"unknown user {args.user!r} (not in {args.store})")
        if args.item not in set(recommender.snapshot.items.ids.tolist()):
            raise CliError(f"unknown item {args.item!r} (not in {args.store})")
        explanation = recommender.explain(args.user, args.item, max_paths=args.max_paths)
        interests = recommender.interests(args.user, k=args.interests)
    finally:
        store.close()
    if args.json:
        print(json.dumps(explanation_to_json(explanation, interests)))
    else:
        print(format_explanation(explanation, interests))
    return 0


def explanation_to_json(explanation, interests=None) -> dict:
    return {
        "user": explanation.user_id, "item": explanation.item_id,
        "recall_score": explanation.recall_score, "rank_score": explanation.rank_score,
        "text": explanation.text(),
        "paths": [{"weight": p.weight, "kind": p.kind,
                   "nodes": [{"label": s.label, "id": s.id, "text": s.text} for s in p.nodes],
                   "relations": list(p.relations), "forward": list(p.forward)} for p in explanation.paths],
        "interests": [{"entity": i.entity_id, "name": i.name, "weight": i.weight} for i in interests or []],
    }


def format_explanation(explanation, interests=None) -> str:
    rank = "n/a (no ranker)" if explanation.rank_score is None else f"{explanation.rank_score:.4f}"
    lines = [f"why {explanation.item_id} for {explanation.user_id}",
             f"  recall score (user . item vectors): {explanation.recall_score:.4f}",
             f"  ranking score (MLP ranker):         {rank}",
             f"  paths ({len(explanation.paths)}, strongest first):"]
    for n, path in enumerate(explanation.paths, 1):
        lines.append(f"  {n}. [{path.weight:.3f}] {path}")
    if not explanation.paths:
        lines.append("     none: the score comes from the vectors alone (text and learned features)")
    lines.append(f"  in words: {explanation.text()}")
    if interests is not None:
        shown = ", ".join(f"{i.name} ({i.weight:.2f})" for i in interests) or "none (no history linked to entities)"
        lines.append(f"  interests of {explanation.user_id}: {shown}")
    return "\n".join(lines)
