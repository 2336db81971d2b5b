#!/usr/bin/env bash
# The MDE design study's ml100k and Baby-text runs on a lent GPU (issue 18):
#
#   bash benchmarks/gpu_study.sh OUT SECONDS [mde_study.py options]
#
# The device machine has torch and torch-geometric but not hydra, and cannot
# reach the network: the wheels of hydra-core, omegaconf and
# antlr4-python3-runtime travel in .whl/ (`pip wheel`), the folders of
# `python benchmarks/prepare_data.py --datasets ml100k baby_text` in .gpu_data/datasets. Both are git-ignored
# and carried. The study runs for at most SECONDS with $WORKERS (default 14)
# processes sharing the GPU. Every 20 s, and at the end, the finished run
# records are packed into OUT/runs.tar.gz, so a call cut off by its time
# limit still returns what it finished; `mde_study.py` resumes from them.
set -u
out=$1 seconds=$2
shift 2
results=${STUDY_RESULTS:-benchmarks/results/mde_study}
mkdir -p "$out"

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

timeout "$seconds" python3 benchmarks/mde_study.py --datasets ml100k baby_text \
    --device "${DEVICE:-cuda}" --workers "${WORKERS:-14}" --threads 1 \
    --out "$results" "$@" > "$out/study.log" 2>&1
echo "mde_study.py exit status $?" >> "$out/study.log"
kill "$packer" "$monitor"
pack
