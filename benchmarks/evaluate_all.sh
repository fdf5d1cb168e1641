#!/usr/bin/env bash
# Re-runs every accuracy table of the README: each dataset x protocol in the same harness,
# kg-recsys, its ablations and the baselines on the same split, then renders the markdown.
#
#   bash benchmarks/evaluate_all.sh [--data-dir DIR] [--jobs N]
#
# Needs the real data sets (default ../shared/data or $KGREC_DATA_DIR). One thread per job:
# on a 2-core machine two jobs at once beat one job with two threads.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
data_dir="${KGREC_DATA_DIR:-../shared/data}"
jobs=2
while [[ $# -gt 0 ]]; do
    case "$1" in
        --data-dir) data_dir="$2"; shift 2 ;;
        --jobs) jobs="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
out=benchmarks/results/eval
mkdir -p "$out"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
all="kg_recsys,popularity,bpr_mf,lightgcn,text_knn,kg_only,kg_recsys_no_kg,kg_recsys_no_text,kg_recsys_no_gnn"
# Douban has neither text nor KG: the text and KG ablations equal the full model there.
no_side="kg_recsys,popularity,bpr_mf,lightgcn,text_knn,kg_only,kg_recsys_no_gnn"
runs=(
    "ml-100k-kg --protocol cold-item --models $all"
    "lastfm-kg --protocol cold-item --models $all"
    "ml-100k-kg --protocol warm --models $all"
    "ml-100k-kg --protocol cold-user --models $all"
    "douban-cdr --protocol cross-scenario --source-scenario book --target-scenario music --models $no_side"
    "douban-cdr --protocol cross-scenario --source-scenario music --target-scenario book --models $no_side"
)
names=(ml-100k-kg_cold-item lastfm-kg_cold-item ml-100k-kg_warm ml-100k-kg_cold-user
       douban-cdr_book-music douban-cdr_music-book)
for i in "${!runs[@]}"; do
    while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do sleep 5; done
    echo "== ${names[$i]}"
    # shellcheck disable=SC2086
    .venv/bin/kgrec evaluate ${runs[$i]} --seed 0 --k 20 --data-dir "$data_dir" --no-progress \
        --out "$out/${names[$i]}.json" > "$out/${names[$i]}.log" 2>&1 &
done
wait
.venv/bin/python benchmarks/render_results.py "$out" > benchmarks/results/accuracy.md
echo "wrote benchmarks/results/accuracy.md"
