"""Make runs written under another config the tables' rows, once that config is the default.

    python experiments/adopt_config_runs.py FOLDER --displaced-to experiments/results/OLD-NAME \\
        --displaced-config OLD-DEFAULTS.toml

(Run once on the three-draw runs when three ranker draws became the default; the one-draw
rows they replaced are ``experiments/results/rank-draws1``, with
``experiments/configs/rank-draws1.toml``.)

FOLDER holds ``kgrec evaluate --config FILE.toml`` results named ``<table name>-seed<N>.json``,
as ``compare_config.py`` reads them. When the defaults become those settings, re-running
every table (hours on 2 cores) would fit the same models again: a run repeats for its seed
and split (to the last digit on one machine with the same text cache; docs/results.md,
"Seeds and repeatability"). So this script moves the kg-recsys rows of each run
(the full model and any ablation in the file) into the table file of the same split
(``benchmarks/results/eval`` for seed 0, ``eval-seedN`` otherwise), with their seconds.
It refuses a run whose recorded settings are not the current defaults, whose split differs from the table's, or
that was trained with another ``--model-seed`` than its split's seed.

The rows it replaces go to ``--displaced-to`` under the same names, recording the settings
of ``--displaced-config`` (the old defaults, as they differ from the new), so that
``compare_config.py`` sets the old default against the new one. The baselines stay as they
are. Nothing is written unless every run passes the checks.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from compare_config import RESULTS, config_run_files, table_file
from kg_recsys import RecommenderConfig


def adopt(folder: Path, displaced_to: Path, displaced_config: RecommenderConfig, results: Path = RESULTS) -> list[str]:
    """Move the rows; return one line per table file changed."""
    writes: dict[Path, dict] = {}
    report = []
    for file, name, seed in config_run_files(folder):
        run = json.loads(file.read_text())
        table_path = table_file(results, name, seed)
        table = json.loads(table_path.read_text())
        settings = run.get("config")
        if settings is not None and RecommenderConfig.from_dict(settings).changed_settings() is not None:
            raise SystemExit(f"{file}: written under {json.dumps(settings)}, which are not the defaults; "
                             "change the defaults first")
        if table.get("config") is not None:
            raise SystemExit(f"{table_path}: written under {json.dumps(table['config'])}, not the defaults")
        if run["split"] != table["split"] or run["k"] != table["k"]:
            raise SystemExit(f"{file}: the split differs from {table_path}'s")
        if run.get("model_seed", run["seed"]) != run["seed"]:
            # The tables train with the split's seed; another model seed is a spread probe.
            raise SystemExit(f"{file}: trained with --model-seed {run['model_seed']}, not the split's seed "
                             f"{run['seed']}")
        models = [m for m in run["models"] if m.startswith("kg_recsys")]
        missing = [m for m in models if m not in table["models"]]
        if missing:
            raise SystemExit(f"{file}: {table_path} has no {', '.join(missing)} to replace")
        displaced = {**{key: value for key, value in table.items() if key not in ("models", "seconds")},
                     "config": displaced_config.changed_settings(),
                     "models": {m: table["models"][m] for m in models},
                     "seconds": {m: table["seconds"][m] for m in models if m in table.get("seconds", {})}}
        for key in ("models", "seconds"):
            table[key] = {**table.get(key, {}), **{m: run[key][m] for m in models if m in run.get(key, {})}}
        writes[table_path] = table
        writes[displaced_to / file.name] = displaced
        report.append(f"{table_path.relative_to(results)}: {', '.join(models)} from {file.name}")
    if not writes:
        raise SystemExit(f"{folder}: no <name>-seed<N>.json files")
    displaced_to.mkdir(parents=True, exist_ok=True)
    for path, result in writes.items():
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="runs written with kgrec evaluate --config")
    parser.add_argument("--displaced-to", type=Path, required=True, help="where the replaced rows go")
    parser.add_argument("--displaced-config", type=Path, required=True,
                        help="TOML of the settings the replaced rows were run under (the old defaults)")
    args = parser.parse_args(argv)
    for line in adopt(args.folder, args.displaced_to, RecommenderConfig.from_toml(args.displaced_config)):
        print(line)


if __name__ == "__main__":
    main(sys.argv[1:])
