#!/usr/bin/env bash
# Re-runs every accuracy table (benchmarks/results/accuracy.md; docs/results.md and the README
# copy from it): each dataset x protocol in the same harness,
# kg-recsys, its ablations and the baselines on the same split, then renders the markdown.
#
#   bash benchmarks/evaluate_all.sh [--data-dir DIR] [--jobs N] [--only NAME,NAME] [--lite NAME,NAME] [--merge]
#                                   [--seed N]
#
# --only runs a subset (names as in the list below); --lite runs the named ones with the full
# model, the no-GNN ablation and the baselines only (the no-KG and no-text ablations cost one
# full training each); --merge re-runs kg-recsys and its ablations, plus any model missing
# from a result file (a baseline added since), and keeps the other baselines already in it
# (same split; `kgrec evaluate --merge` checks it). --seed N (default 0) draws another split
# and writes to benchmarks/results/eval-seedN; the rendered tables then add, per protocol,
# kg-recsys against the strongest baseline on each seed and on average.
# Needs the real data sets (default ../shared/data or $KGREC_DATA_DIR).
# One thread per job: on a 2-core machine two jobs at once beat one job with two threads.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data_dir="${KGREC_DATA_DIR:-../shared/data}"
jobs=2
only=""
lite=""
merge=""
seed=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --data-dir) data_dir="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        --only) only=",$2,"; shift 2 ;;
        --lite) lite=",$2,"; shift 2 ;;
        --merge) merge="--merge"; shift ;;
        --seed) seed="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
out=benchmarks/results/eval
[[ "$seed" == 0 ]] || out="benchmarks/results/eval-seed$seed"
mkdir -p "$out"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
baselines="popularity,bpr_mf,lightgcn,text_knn,kg_only,user_knn,ease,item_knn,inductive_content"
full="kg_recsys,kg_recsys_no_kg,kg_recsys_no_text,kg_recsys_no_gnn,$baselines"
# Douban has neither text nor KG: the text and KG ablations equal the full model there.
short="kg_recsys,kg_recsys_no_gnn,$baselines"
declare -A runs=(
    [ml-100k-kg_cold-item]="ml-100k-kg --protocol cold-item"
    [lastfm-kg_cold-item]="lastfm-kg --protocol cold-item"
    [douban-cdr_book-music]="douban-cdr --protocol cross-scenario --source-scenario book --target-scenario music"
    [douban-cdr_music-book]="douban-cdr --protocol cross-scenario --source-scenario music --target-scenario book"
    [ml-100k-kg_warm]="ml-100k-kg --protocol warm"
    [ml-100k-kg_cold-user]="ml-100k-kg --protocol cold-user"
    [ml-100k-kg_cold-user-profile]="ml-100k-kg --protocol cold-user --cold-user-context 0"
    # The same splits with ml-100k.link re-keyed to ml-100k ids (see ingest/datasets.py).
    [ml-100k-kg-relinked_cold-item]="ml-100k-kg-relinked --protocol cold-item"
    [ml-100k-kg-relinked_warm]="ml-100k-kg-relinked --protocol warm"
    [ml-100k-kg-relinked_cold-user]="ml-100k-kg-relinked --protocol cold-user"
)
order=(ml-100k-kg_cold-item lastfm-kg_cold-item douban-cdr_book-music douban-cdr_music-book
       ml-100k-kg_warm ml-100k-kg_cold-user ml-100k-kg_cold-user-profile ml-100k-kg-relinked_cold-item ml-100k-kg-relinked_warm
       ml-100k-kg-relinked_cold-user)
for name in "${order[@]}"; do
    [[ -z "$only" || "$only" == *",$name,"* ]] || continue
    models="$full"
    [[ "$name" == douban* || "$lite" == *",$name,"* ]] && models="$short"
    # EASE and ItemKNN score every cold item 0 (a random order, as popularity's): not run there.
    [[ "$name" == *cold-item ]] && models="${models/,ease,item_knn/}"
    if [[ -n "$merge" && -f "$out/$name.json" ]]; then
        have="$(.venv/bin/python -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["models"]))' "$out/$name.json")"
        models="$(tr ',' '\n' <<< "$models" | while read -r m; do
            # if/fi, not &&: a false test as the loop's last command would fail the
            # pipeline and, under set -e, end the script without a word.
            if [[ "$m" == kg_recsys* || ",$have," != *",$m,"* ]]; then echo "$m"; fi; done | paste -sd,)"
    fi
    # Count every running evaluation, also those started by another invocation.
    while [[ $(pgrep -fc "python.*kgrec evaluate" || true) -ge $jobs ]]; do sleep 10; done
    echo "== $name ($models)"
    # shellcheck disable=SC2086
    .venv/bin/kgrec evaluate ${runs[$name]} --models "$models" --seed "$seed" --k 20 --data-dir "$data_dir" \
        --no-progress --out "$out/$name.json" $merge > "$out/$name.log" 2>&1 &
    sleep 2
done
wait
mapfile -t seed_folders < <(compgen -G "benchmarks/results/eval-seed*" || true)
.venv/bin/python benchmarks/render_results.py benchmarks/results/eval "${seed_folders[@]}" > benchmarks/results/accuracy.md
echo "wrote benchmarks/results/accuracy.md"
.venv/bin/python benchmarks/plot_results.py benchmarks/results/eval "${seed_folders[@]}" --out benchmarks/results/accuracy.png
