"""The published results are the committed result files: ``benchmarks/results/accuracy.md`` is
their rendering, ``docs/results.md`` carries its tables, and the README's results table and
the summary of ``docs/results.md`` carry its per-seed and mean leads."""
import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
SEED_FOLDERS = [RESULTS / "eval", RESULTS / "eval-seed1", RESULTS / "eval-seed2"]
spec = importlib.util.spec_from_file_location("render_results", ROOT / "benchmarks" / "render_results.py")
render_results = importlib.util.module_from_spec(spec)
spec.loader.exec_module(render_results)


def _seed_tables() -> dict[str, dict[str, list[str]]]:
    """Per result name (``ml-100k-kg_warm``), the cells of each row of its "over 3 seeds"
    table in accuracy.md, by the row's first cell (``0``, ``1``, ``2``, ``mean``)."""
    tables: dict[str, dict[str, list[str]]] = {}
    name = None
    for line in (RESULTS / "accuracy.md").read_text().splitlines():
        heading = re.fullmatch(r"#+ (\S+), over \d+ seeds", line)
        if heading:
            name = heading.group(1)
            tables[name] = {}
        elif name and line.startswith("| ") and not line.startswith("| seed"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            tables[name][cells[0]] = cells[1:]
    return tables


def _table_rows(text: str, header_start: str) -> list[list[str]]:
    """The body rows (cells) of the markdown table whose header starts with ``header_start``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def _result_name(data_set: str, protocol: str) -> str:
    """``douban-cdr``, ``cross-scenario, book -> music`` -> ``douban-cdr_book-music``."""
    if "->" in protocol:
        source, target = (part.strip().split()[-1] for part in protocol.split(",")[-1].split("->"))
        return f"{data_set}_{source}-{target}"
    return f"{data_set}_{protocol}"


def test_accuracy_md_is_the_rendering_of_the_committed_result_files(capsys):
    render_results.main([str(folder) for folder in SEED_FOLDERS])
    assert capsys.readouterr().out == (RESULTS / "accuracy.md").read_text()


def test_the_results_page_carries_every_table_of_accuracy_md():
    body = (RESULTS / "accuracy.md").read_text().split("\n", 2)[2]  # without the title
    assert body.strip() and body.strip() in (ROOT / "docs" / "results.md").read_text()


def test_the_readme_results_table_gives_the_means_over_seeds_of_accuracy_md():
    tables = _seed_tables()
    rows = _table_rows((ROOT / "README.md").read_text(), "| data set | protocol | kg-recsys |")
    assert len(rows) == len(tables)  # one row per protocol, none left out
    for data_set, protocol, ours, baseline, lead, _bar in rows:
        seeds = tables[_result_name(data_set, protocol)]
        names, baseline_mean = baseline.rsplit(" ", 1)
        assert [ours, baseline_mean, lead] == seeds["mean"], (data_set, protocol)
        # The baselines named are those that were strongest on some seed.
        assert set(names.split(" / ")) == {cells[1].split()[0] for seed, cells in seeds.items() if seed != "mean"}


def test_the_results_pages_summary_gives_the_leads_per_seed_and_the_mean():
    tables = _seed_tables()
    rows = _table_rows((ROOT / "docs" / "results.md").read_text(), "| protocol | seed 0 | seed 1 | seed 2 | mean |")
    assert len(rows) == len(tables)
    for label, *leads, _bar in rows:
        data_set, protocol = label.split(" (")[0].split(" ", 1)
        if protocol.startswith(("book", "music")):
            protocol = f"cross-scenario, {protocol}"
        seeds = tables[_result_name(data_set, protocol)]
        assert leads == [seeds[seed][-1] for seed in ("0", "1", "2", "mean")], label
