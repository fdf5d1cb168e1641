"""Plot kg-recsys's lead over the strongest baseline, per protocol and seed, as a PNG.

    python benchmarks/plot_results.py benchmarks/results/eval benchmarks/results/eval-seed1 \\
        benchmarks/results/eval-seed2 --out benchmarks/results/accuracy.png

The same numbers as the "over N seeds" tables of ``render_results.py``: each seed's
Recall@K against that seed's strongest baseline (a dot), and the mean lead as the ratio of
the means (a bar). The +10% line is the quality bar of cold-item and cross-scenario.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402

from render_results import lead_of_means, seed_runs, strongest_baseline  # noqa: E402

BAR = 10.0  # percent: the cold-item and cross-scenario bar


def leads(folders: list[Path]) -> dict[str, tuple[list[float], float]]:
    """Per result name: the relative lead (%) on each seed, and the lead of the means."""
    out = {}
    for name, results in seed_runs(folders).items():
        if not results:
            continue
        key = f"recall@{results[0]['k']}"
        ours = [r["models"]["kg_recsys"][key] for r in results]
        base = [strongest_baseline(r)[1] for r in results]
        out[name] = ([(o / b - 1) * 100 for o, b in zip(ours, base)], lead_of_means(ours, base))
    return out


def plot(rows: dict[str, tuple[list[float], float]], out: Path) -> None:
    names = sorted(rows, key=lambda name: rows[name][1])
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(names) + 1.5))
    for position, name in enumerate(names):
        per_seed, mean = rows[name]
        axis.barh(position, mean, color="tab:blue", alpha=0.5)
        axis.plot(per_seed, [position] * len(per_seed), "k.", markersize=7)
    axis.axvline(0, color="black", linewidth=0.8)
    axis.axvline(BAR, color="tab:red", linestyle="--", linewidth=0.8, label="+10% bar (cold-item, cross-scenario)")
    axis.set_yticks(range(len(names)), [f"{name.replace('_', ' ')}  {rows[name][1]:+.1f}%" for name in names],
                    fontsize=8)
    axis.set_xlabel("Recall@20 lead over the strongest baseline (%): bar = mean, dots = seeds")
    axis.legend(loc="lower right", fontsize=8)
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="result folders, one per seed (eval, eval-seedN)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/accuracy.png"))
    args = parser.parse_args(argv)
    plot(leads(args.folders), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
