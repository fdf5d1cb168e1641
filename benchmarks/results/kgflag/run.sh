#!/usr/bin/env bash
# Runs the issue-21 item-3 measurements one at a time: kg_recsys with config.toml
# (relation gates + no entity ids) -> <name>-seed<N>.json, and the default no-KG ablation
# where the eval*/ files lack it -> nokg/<name>-seed<N>.json. Wall times go to times.tsv.
#   bash benchmarks/results/kgflag/run.sh [JOB ...]   JOB = flag|nokg:dataset:protocol:seed
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
out=benchmarks/results/kgflag
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH="$PWD"
mkdir -p "$out/nokg"
for job in "$@"; do
    IFS=: read -r kind dataset protocol seed <<< "$job"
    name="${dataset}_${protocol}-seed${seed}"
    if [[ "$kind" == flag ]]; then
        args=(--models kg_recsys --config "$out/config.toml" --out "$out/$name.json"); log="$out/$name.log"
    else
        args=(--models kg_recsys_no_kg --out "$out/nokg/$name.json"); log="$out/nokg/$name.log"
    fi
    start=$(date +%s)
    nice -n 19 .venv/bin/kgrec evaluate "$dataset" --protocol "$protocol" --seed "$seed" --k 20 \
        --data-dir ../shared/data --no-progress "${args[@]}" > "$log" 2>&1
    rc=$?
    printf '%s\t%s\t%s\t%s\t%s\trc=%s\tload=%s\n' "$kind" "$dataset" "$protocol" "$seed" "$(( $(date +%s) - start ))" \
        "$rc" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/times.tsv"
done
