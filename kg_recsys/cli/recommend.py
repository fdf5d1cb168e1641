"""``kgrec recommend``: top-K items for users, or for a profile text (a cold user)."""
from __future__ import annotations

import argparse
import json

from kg_recsys.cli import CliError
from kg_recsys.cli.train import add_store_options, load_model, positive

_EPILOG = """\
examples:
  kgrec recommend u001                       # top 10 for one user, as a table
  kgrec recommend u001 u002 --k 5 --json     # a batch, as JSON
  kgrec recommend u001 --scenario movies     # only items of one scenario
  kgrec recommend --text "loves dragons, wizards and epic quests" --k 5
"""


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "recommend", help="top-K recommendations for users or a profile text",
        description="Print the top-K items for each USER with the model trained by `kgrec train` (seen items "
                    "excluded), or for a cold user known only by --text. Users must exist in the store; "
                    "serve others with --text.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("users", metavar="USER", nargs="*", help="user ids")
    add_store_options(parser, store_help="not read: recommendations come from the model folder's serving index, "
                                         "written by `kgrec train` (default: memory)")
    parser.add_argument("--k", type=positive, default=10, metavar="K", help="items per user (default: 10)")
    parser.add_argument("--scenario", default=None, metavar="S", help="only items of this scenario")
    parser.add_argument("--text", default=None, metavar="TEXT",
                        help="recommend for a profile text (description or search history) instead")
    parser.add_argument("--include-seen", action="store_true", help="keep items the user already has")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.users and args.text is None:
        raise CliError("give at least one USER, or --text \"profile text\"")
    if args.text is not None and not args.text.strip():
        raise CliError("--text is empty")
    # The serving index in the model folder answers; the store is not opened (reading a
    # large embedded store would cost more than the whole request).
    recommender = load_model(args.model_dir, None)
    index = recommender.index
    known = index.user_rows()
    missing = [u for u in args.users if u not in known]
    if missing:
        raise CliError(f"unknown user(s) {', '.join(missing)} (not in the model in {args.model_dir}/); ingest them and "
                       "train again, or serve a new user with --text \"profile text\"")
    scenarios = list(recommender.fitted.scenarios)
    if args.scenario is not None and args.scenario not in scenarios:
        raise CliError(f"unknown scenario {args.scenario!r}; known: {', '.join(scenarios)}")
    results = []
    try:
        if args.users:
            ids, scores = recommender.recommend(args.users, k=args.k, scenario=args.scenario,
                                                exclude_seen=not args.include_seen)
            results += [(user, ids[r], scores[r]) for r, user in enumerate(args.users)]
        if args.text is not None:
            ids, scores = recommender.recommend_for_text(args.text, k=args.k, scenario=args.scenario)
            results.append((f"text: {args.text}", ids, scores))
    except ValueError as error:  # e.g. --k larger than the catalogue
        raise CliError(str(error)) from None
    row = index.item_rows()
    names = ("", *scenarios)  # the index's scenario column: 0 = unknown

    def entries(ids, scores):
        return [{"rank": rank + 1, "item": str(i), "score": round(float(s), 6),
                 "scenario": names[index.item_scenario[row[i]]], "text": str(index.item_text[row[i]])}
                for rank, (i, s) in enumerate(zip(ids, scores)) if i]

    if args.json:
        print(json.dumps([{"user": user, "items": entries(ids, scores)} for user, ids, scores in results]))
        return 0
    for n, (user, ids, scores) in enumerate(results):
        if n:
            print()
        print(format_table(user, entries(ids, scores)))
    return 0


def format_table(title: str, entries: list[dict], width: int = 60) -> str:
    """A readable table of one user's recommendations."""
    lines = [title, f"{'rank':>4}  {'item':<10} {'score':>9}  {'scenario':<9} text"]
    for e in entries:
        text = e["text"] if len(e["text"]) <= width else e["text"][:width - 1] + "…"
        lines.append(f"{e['rank']:>4}  {e['item']:<10} {e['score']:>9.4f}  {e['scenario']:<9} {text}")
    if not entries:
        lines.append("  (no items)")
    return "\n".join(lines)
