"""Write the notebooks in this folder from the cell sources below (outputs cleared).

    .venv/bin/python notebooks/build_notebooks.py      # rewrite the .ipynb files
    .venv/bin/pytest --nbmake notebooks                # execute them (CI does this)

The notebooks use the public API only (``kg_recsys``, ``ingest``, ``kg_recsys.evaluation``);
anything worth reusing belongs in the library, not here.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def md(text: str):
    return new_markdown_cell(text.strip())


def code(text: str):
    return new_code_cell(text.strip())


QUICKSTART = [
    md("""
# kg-recsys quickstart

Ingest the small synthetic **demo** dataset (300 users, 400 books and movies, a knowledge
graph of genres, creators, countries and themes), train the recommender, recommend, serve a
cold user from text, add a new item without retraining, and explain a recommendation.
Everything runs on the embedded in-memory store; nothing is downloaded.
"""),
    code("""
import tempfile

from ingest import ingest_source
from kg_recsys import MemoryStore, Recommender, RecommenderConfig

store = MemoryStore()  # in memory; MemoryStore("folder") persists to disk
summary = ingest_source("demo", store, progress=False)
summary.to_json()["nodes"], summary.to_json()["relationships"]["INTERACTED"]
"""),
    md("""
## Train

The config is typed and validated (`RecommenderConfig.from_toml("file.toml")` reads the same
sections). A few epochs are enough for the demo.
"""),
    code("""
config = RecommenderConfig.from_dict({"train": {"epochs": 5, "progress": False}})
rec = Recommender(config).fit(store)
rec, rec.fitted.history[-1]
"""),
    md("## Recommend for one user, then a batch"),
    code("""
ids, scores = rec.recommend("u001", k=5)
items = rec.snapshot.items
text_of = dict(zip(items.ids.tolist(), items.text.tolist()))
print(rec.snapshot.users.text[0])
for item, score in zip(ids, scores):
    print(f"{item}  {score:7.3f}  {text_of[item][:70]}")
assert len(ids) == 5 and scores[0] >= scores[-1]
"""),
    code("""
batch_ids, batch_scores = rec.recommend(["u001", "u002", "u003"], k=3, scenario="movies")
for user, row in zip(["u001", "u002", "u003"], batch_ids.tolist()):
    print(user, row)
"""),
    md("## A cold user, known only by a description"),
    code("""
ids, scores = rec.recommend_for_text("I love dragons, wizards and epic quests", k=5)
for item in ids:
    print(item, text_of[item][:70])
"""),
    md("""
## A new item, recommendable at once (no retraining)

`add_items` writes the item to the store and re-embeds the graph by a forward pass.
"""),
    code("""
rec.add_items([{"item_id": "b_new", "scenario": "books", "attributes": {"genre": "space opera"},
                "text": "The Silent Starship. A space opera novel. A tale of galaxy, robot and orbit."}])
similar, _ = rec.similar_items("b_new", k=5)
for item in similar.tolist():
    print(item, rec.snapshot.items.text[rec.snapshot.items.index()[item]][:60])
"""),
    md("""
## Why was an item recommended?

The score splits into the recall part (dot product of the user and item vectors) and the
ranker's score; the paths are relationships that exist in the graph.
"""),
    code("""
top, _ = rec.recommend("u001", k=1)
explanation = rec.explain("u001", top[0])
print(f"recall {explanation.recall_score:.3f}, ranking {explanation.rank_score:.3f}")
for path in explanation.paths:
    print(f"{path.weight:.2f}  {path}")
assert explanation.paths
"""),
    md("""
The same paths in words (each claim is a hop of a path), and what the user's history points
at in the graph: each interacted item spreads its interaction weight over its entities.
"""),
    code("""
print(explanation.text())
for interest in rec.interests("u001", k=5):
    print(f"{interest.weight:.3f}  {interest.name}  ({interest.entity_id})")
"""),
    md("## Save and load (safetensors + JSON, no pickle)"),
    code("""
folder = tempfile.mkdtemp()
rec.save(folder)
again = Recommender.load(folder, store)
assert again.recommend("u001", k=5)[0].tolist() == rec.recommend("u001", k=5)[0].tolist()
sorted(p.name for p in __import__("pathlib").Path(folder).iterdir())
"""),
]

COLD_START = [
    md("""
# Cold start and cross-scenario analysis (demo data)

Two protocols from `kg_recsys.evaluation`:

- **cold-item**: 20% of the items are held out with all their interactions; the models rank
  only those items, which they never saw interacted with (text and KG links are all they have);
- **cross-scenario** (books -> movies): users active in both scenarios lose their movie
  history; the models must recommend movies from their book history.

kg-recsys is compared with popularity and text-kNN, then broken down by item popularity and
by user activity; finally the learned item vectors are projected to 2-D.
"""),
    code("""
import matplotlib.pyplot as plt

from ingest import load_snapshot
from kg_recsys import RecommenderConfig
from kg_recsys.evaluation import create_scorer, evaluate, format_table, make_split
from kg_recsys.evaluation.analysis import bucket_recall, pca_2d, plot_buckets, plot_projection
from kg_recsys.evaluation.kgrec_scorer import KGRecScorer

K = 20
snapshot = load_snapshot("demo")
config = RecommenderConfig.from_dict({"train": {"epochs": 5, "progress": False}})


def models(split):
    return [KGRecScorer(config), create_scorer("popularity"), create_scorer("text_knn")]
"""),
    md("## Cold items"),
    code("""
cold = make_split(snapshot, "cold-item", seed=0)
cold_models = models(cold)
cold_result = evaluate(cold, cold_models, k=K, progress=False)
print(format_table(cold_result))
"""),
    md("## Cross-scenario: books -> movies"),
    code("""
cross = make_split(snapshot, "cross-scenario", seed=0, source_scenario="books", target_scenario="movies")
cross_models = models(cross)
cross_result = evaluate(cross, cross_models, k=K, progress=False)
print(format_table(cross_result))
"""),
    md("""
## Recall by item popularity and by user activity

Item popularity counts every observed interaction of an item (used only to group items);
user activity counts the interactions a model could see for that user.
"""),
    code("""
fig, axes = plt.subplots(2, 2, figsize=(14, 8))
panels = {}
for row, (name, split, fitted) in enumerate([("cold-item", cold, cold_models), ("books->movies", cross, cross_models)]):
    for col, by in enumerate(["item_popularity", "user_interactions"]):
        tables = panels[name, by] = {m.name: bucket_recall(split, m, k=K, by=by) for m in fitted}
        plot_buckets(axes[row, col], tables, k=K, title=f"{name}: Recall@{K} by {by.replace('_', ' ')}",
                     xlabel="interactions per item" if by == "item_popularity" else "interactions per user")
fig.tight_layout()
plt.show()
for (name, by), tables in panels.items():
    ours = [row[f"recall@{K}"] for row in tables["kg_recsys"]]
    best_other = [max(tables[m][b][f"recall@{K}"] for m in tables if m != "kg_recsys") for b in range(len(ours))]
    ahead = sum(o > b for o, b in zip(ours, best_other))
    print(f"{name}, by {by.replace('_', ' ')}: kg_recsys leads the other models in {ahead} of {len(ours)} buckets")
"""),
    md("## Item vectors of a Recommender trained on the whole graph, in 2-D, coloured by scenario"),
    code("""
from ingest import ingest_source
from kg_recsys import MemoryStore, Recommender

store = MemoryStore()
ingest_source("demo", store, progress=False)
rec = Recommender(config).fit(store)
vectors, scenarios = rec.index.item_vectors, rec.snapshot.items.scenario
points = pca_2d(vectors)
fig, ax = plt.subplots(figsize=(7, 5))
plot_projection(ax, points, scenarios, title="item vectors (PCA)")
fig.tight_layout()
plt.show()
books, movies = points[scenarios == "books"], points[scenarios == "movies"]
gap = abs(books[:, 0].mean() - movies[:, 0].mean()) / points[:, 0].std()
print(f"Along PC 1 the centroids of books and movies are {gap:.1f} standard deviations apart: "
      + ("the scenarios occupy different regions of the vector space." if gap > 1 else
         "the vector space mixes the scenarios, as shared genres and creators pull them together."))
"""),
]

CYPHER = [
    md("""
# Inspecting the graph with Cypher

Ingest the demo data into the project's Neo4j, train with write-back (item and user vectors
with a vector index, and every user's top-10 as `RECOMMENDED` relationships), then run the
ready queries in `graphs/queries/` with the official neo4j driver.

Needs the project's Neo4j running (`kgrec neo4j start`) and `KGREC_NEO4J_PASSWORD` set;
`KGREC_NEO4J_URI` defaults to `bolt://127.0.0.1:7687`. Use a database that holds the demo
data only: training reads the whole graph.
"""),
    code("""
import os
import tempfile
from pathlib import Path

import neo4j

from ingest import ingest_source
from kg_recsys import Recommender, RecommenderConfig, open_store

URI = os.environ.get("KGREC_NEO4J_URI", "bolt://127.0.0.1:7687")
PASSWORD = os.environ["KGREC_NEO4J_PASSWORD"]
QUERIES = Path("..") / "graphs" / "queries"
if not QUERIES.is_dir():  # run from the repository root
    QUERIES = Path("graphs") / "queries"

store = open_store(URI)
ingest_source("demo", store, progress=False)
store.counts()
"""),
    md("## Train, save and write back"),
    code("""
rec = Recommender(RecommenderConfig.from_dict({"train": {"epochs": 5, "progress": False}})).fit(store)
rec.save(tempfile.mkdtemp())
written = rec.write_back(k=10, model="kg_recsys")
written
"""),
    md("Each query is a file with `$parameters`; values are never formatted into Cypher."),
    code("""
driver = neo4j.GraphDatabase.driver(URI, auth=("neo4j", PASSWORD))


def run(name, **parameters):
    records, _, _ = driver.execute_query((QUERIES / f"{name}.cypher").read_text(), parameters, database_="neo4j")
    return [record.data() for record in records]


print((QUERIES / "top_k_recommended.cypher").read_text())
"""),
    md("## A user's top-K, from the graph and from the API"),
    code("""
rows = run("top_k_recommended", user="u001", model="kg_recsys", k=10)
api_ids, _ = rec.recommend("u001", k=10)
for r in rows[:5]:
    print(r["rank"], r["item"], round(r["score"], 3), r["text"][:60])
assert [r["item"] for r in rows] == api_ids.tolist()
"""),
    md("## A user's neighbourhood"),
    code("""
for r in run("user_neighbourhood", user="u001", limit=12):
    print(f"{r['relation']:12} {r['label']:6} {r['id']:22} {(r['text'] or '')[:40]}")
"""),
    md("## Why was the top item recommended?"),
    code("""
top = rows[0]["item"]
for r in run("why_recommended", user="u001", item=top, model="kg_recsys", limit=6):
    print(f"{r['kind']:13} {r['weight']:.3f}  " + " ".join(
        f"{n} -[{rel}]-" for n, rel in zip(r["nodes"], r["relations"])) + " " + r["nodes"][-1])
"""),
    md("""
## Cold items and their nearest neighbours

Add an item nobody has interacted with yet, write back again, and ask the vector index
(`db.index.vector.queryNodes`) for its neighbours.
"""),
    code("""
rec.add_items([{"item_id": "m_new", "scenario": "movies", "attributes": {"genre": "ghost story"},
                "text": "The Hollow Cellar. A ghost story film. A tale of curse, shadow and whisper."}])
rec.write_back(k=10, model="kg_recsys")
for r in run("cold_item_neighbours", index="item_embedding_vector", k=5, limit=5):
    print(r["cold_item"], r["text"][:50])
    for n in r["neighbours"]:
        print(f"   {n['id']}  {n['score']:.3f}  interactions={n['interactions']}")
"""),
    md("## Users active in both scenarios"),
    code("""
overlap = run("scenario_overlap", a="books", b="movies", limit=1000)
print(len(overlap), "users read and watch")
overlap[:5]
"""),
    code("""
driver.close()
store.close()
"""),
]

REAL_DATA = [
    md("""
# A new film on day one: MovieLens 100K with its knowledge graph

The story of one catalogue, on real data (`ml-100k-kg` in the data folder: 943 users,
1,682 films, 100,000 ratings, RecBole's Freebase links). We train kg-recsys with its
defaults, look at one user's recommendations and why they were made, then add a film that
nobody has rated and see who it reaches. Last, the measured accuracy of every protocol,
read from the project's committed result files.

The data folder is `$KGREC_DATA_DIR` (default here: `../../shared/data`); without it this
notebook is skipped by the test run, with a message saying so.
"""),
    code("""
import json
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from ingest import ingest_source
from kg_recsys import MemoryStore, Recommender, RecommenderConfig

DATA = Path(os.environ.get("KGREC_DATA_DIR", "../../shared/data"))
store = MemoryStore()
summary = ingest_source("ml-100k-kg", store, data_dir=DATA, progress=False)
counts = summary.to_json()
print(f"{counts['nodes']} nodes; {counts['relationships']['INTERACTED']:,} ratings")
"""),
    md("""
## Train

The defaults, with at most 8 GNN epochs to keep the notebook short (early stopping on
held-out ratings ends a default fit after 12 to 19): under a minute on two cores.
"""),
    code("""
rec = Recommender(RecommenderConfig.from_dict({"train": {"epochs": 8, "progress": False}})).fit(store)
items = rec.snapshot.items
title = dict(zip(items.ids.tolist(), items.text.tolist()))
history = rec.fitted.history
print(f"{len(history)} epochs; best validation recall@20 {max(h['valid_recall@20'] for h in history):.3f}")
"""),
    md("## One user: what they rated, what they get, and why"),
    code("""
user = "1"
inter = rec.snapshot.interactions
rated = items.ids[inter.item[rec.snapshot.users.ids[inter.user] == user]].tolist()
print(f"user {user}: {rec.snapshot.users.text[rec.snapshot.users.index()[user]]}, {len(rated)} ratings, e.g.")
for item in rated[:5]:
    print("  ", title[item][:70])
ids, scores = rec.recommend(user, k=5)
print("recommended:")
for item, score in zip(ids.tolist(), scores.tolist()):
    print(f"   {score:6.2f}  {title[item][:70]}")
explanation = rec.explain(user, str(ids[0]))
for path in explanation.paths[:3]:
    print(f"{path.weight:.2f}  {path}")
print(explanation.text())
print("interests:", ", ".join(f"{i.name} ({i.weight:.2f})" for i in rec.interests(user, k=5)))
"""),
    md("""
## A film nobody has rated yet

`add_items` writes the film with its text and genres and embeds it by a forward pass, with
no retraining. Where does it land in each user's list of all 1,683 films? Users are grouped
by how many science-fiction films they rated.
"""),
    code("""
rec.add_items([{"item_id": "new-1", "text": "Starfall (1998). Genres: Action, Sci-Fi, Adventure",
                "attributes": {"genre": ["Action", "Sci-Fi", "Adventure"]}}])
users = rec.snapshot.users.ids.tolist()
lists, _ = rec.recommend(users, k=rec.index.num_items)
percentile = np.array([100.0 * (np.flatnonzero(row == "new-1")[0] + 1) / rec.index.num_items for row in lists])

scifi = {item for item, text in title.items() if "Sci-Fi" in text}
scifi_count = np.zeros(len(users), int)
np.add.at(scifi_count, inter.user, np.isin(items.ids[inter.item], list(scifi)))
edges = [0, 1, 5, 15, 10**6]
labels = ["0", "1-4", "5-14", "15+"]
bucket = np.searchsorted(edges, scifi_count, side="right") - 1
means = [percentile[bucket == b].mean() for b in range(4)]
errors = [percentile[bucket == b].std(ddof=1) / np.sqrt((bucket == b).sum()) for b in range(4)]
sizes = [int((bucket == b).sum()) for b in range(4)]

fig, ax = plt.subplots(figsize=(7, 4))
ax.bar(range(4), means, yerr=errors, capsize=3, color="tab:blue")
ax.set_xticks(range(4), [f"{label}\\n(n={n} users)" for label, n in zip(labels, sizes)])
ax.set_xlabel("science-fiction films the user rated")
ax.set_ylabel("position of the new film (% of the list, lower is better)")
ax.set_title("A new sci-fi film, ranked for every user without retraining")
fig.tight_layout()
plt.show()
verdict = ("it reaches the users whose taste it matches first" if means[3] < means[0] else
           "the model does not yet place it by taste")
print(f"Conclusion: users with 15+ sci-fi ratings see the new film at {means[3]:.0f}% of their list, "
      f"users with none at {means[0]:.0f}%: {verdict}.")
"""),
    md("""
## Accuracy on every protocol, from the committed result files

Each point is one seed's split (`kgrec evaluate`, all candidate items ranked); bars are
the means over seeds, error bars one standard deviation. The baseline is the strongest of
each seed (EASE, ItemKNN, an inductive content model, LightGCN, BPR-MF, user-kNN,
popularity, text and KG profiles).
"""),
    code("""
results = Path("../benchmarks/results")
baselines = ["popularity", "bpr_mf", "lightgcn", "text_knn", "kg_only", "user_knn", "ease", "item_knn",
             "inductive_content"]
rows = {}
for seed_folder in sorted(results.glob("eval*")):
    for file in sorted(seed_folder.glob("*.json")):
        result = json.loads(file.read_text())
        models = result["models"]
        if "kg_recsys" not in models or not any(b in models for b in baselines):
            continue
        best = max(models[b]["recall@20"] for b in baselines if b in models)
        rows.setdefault(file.stem, []).append((models["kg_recsys"]["recall@20"], best))
rows = {name: np.array(values) for name, values in rows.items() if len(values) > 1}
names = sorted(rows)
fig, ax = plt.subplots(figsize=(9, 4.5))
x = np.arange(len(names))
for offset, column, label in ((-0.2, 0, "kg-recsys"), (0.2, 1, "strongest baseline")):
    values = [rows[n][:, column] for n in names]
    ax.bar(x + offset, [v.mean() for v in values], 0.4, yerr=[v.std() for v in values], capsize=2, label=label)
ax.set_xticks(x, [n.replace("_", "\\n") for n in names], fontsize=7)
ax.set_ylabel("recall@20")
ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
fig.tight_layout()
plt.show()
ahead = [n for n in names if rows[n][:, 0].mean() > rows[n][:, 1].mean()]
print(f"Conclusion: kg-recsys leads the strongest baseline on {len(ahead)} of {len(names)} protocols "
      f"({', '.join(ahead)}).")
"""),
]


def write(name: str, cells: list) -> Path:
    for n, cell in enumerate(cells):
        cell["id"] = f"cell-{n:02d}"  # stable ids: a rebuild changes nothing unless a source does
    notebook = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    })
    path = HERE / name
    nbformat.write(notebook, path)
    return path


def main() -> None:
    for name, cells in (("01_quickstart.ipynb", QUICKSTART), ("02_cold_start_and_cross_scenario.ipynb", COLD_START),
                        ("03_cypher_inspection.ipynb", CYPHER), ("04_real_data_ml100k.ipynb", REAL_DATA)):
        print(write(name, cells))


if __name__ == "__main__":
    main()
