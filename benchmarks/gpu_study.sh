#!/usr/bin/env bash
# A resumable study's runs on a lent GPU: the MDE design study (issue 18),
# the missing-modality study (issue 26) or the accuracy suite (issue 27):
#
#   bash benchmarks/gpu_study.sh OUT SECONDS STUDY [STUDY.py options]
#   bash benchmarks/gpu_study.sh $OUT 500 missing_modality
#   bash benchmarks/gpu_study.sh $OUT 500 accuracy --datasets baby_text --models dragon lgmrec smore
#
# STUDY is mde_study, missing_modality or accuracy; its runs go to
# benchmarks/results/STUDY/runs, from which the script resumes. The device
# machine has torch and torch-geometric but not hydra, and cannot reach the
# network: the wheels of hydra-core, omegaconf and antlr4-python3-runtime
# travel in .whl/ (`pip wheel`), the folders of `python
# benchmarks/prepare_data.py --datasets ml100k baby_text` in
# .gpu_data/datasets. Both are git-ignored and carried. The study runs for at
# most SECONDS with $WORKERS (default 14) processes sharing the GPU. Every
# 20 s, and at the end, the finished run records are packed into
# OUT/runs.tar.gz, so a call cut off by its time limit still returns what it
# finished; unpack it into benchmarks/results/STUDY and rerun STUDY.py
# --report-only here.
set -u
out=$1 seconds=$2 study=$3
shift 3
case $study in
mde_study | missing_modality | accuracy) ;;
*)
    echo "unknown study '$study' (mde_study, missing_modality or accuracy)" >&2
    exit 2
    ;;
esac
results=benchmarks/results/$study
mkdir -p "$out" "$results/runs"

site=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$site" .whl/*.whl
export PYTHONPATH=$site MDE_PYG_DATA=$PWD/.gpu_data/datasets PYTHONUNBUFFERED=1
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e .

pack() {
    tar czf "$out/runs.tmp" --exclude='*.lock' --exclude='*.tmp' \
        -C "$results" runs && mv "$out/runs.tmp" "$out/runs.tar.gz"
}
(while sleep 20; do pack; done) &
packer=$!
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used \
    --format=csv -l 15 > "$out/gpu_utilization.csv" 2>&1 &
monitor=$!

timeout "$seconds" python3 "benchmarks/$study.py" \
    --device "${DEVICE:-cuda}" --workers "${WORKERS:-14}" --threads 1 \
    --out "$results" "$@" > "$out/$study.log" 2>&1
echo "$study.py exit status $?" >> "$out/$study.log"
kill "$packer" "$monitor"
pack
