#!/usr/bin/env bash
# Every GPU check in one run, for a CUDA machine whose time is short (DEVELOPERS.md): the
# tests marked `gpu` and benchmarks/gpu_throughput.py, their output written under $OUT.
#   OUT=gpu-out DATA_DIR=shared/data bash benchmarks/gpu_check.sh
set -o pipefail
OUT=${OUT:-gpu-out}
DATA_DIR=${DATA_DIR:-shared/data}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 AEKIT_DATA_DIR="$DATA_DIR"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
python3 -m pip install -q -e ".[test]" 2>&1 | tail -3 > "$OUT/install.log"
python3 -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider 2>&1 | tee "$OUT/gpu_tests.log"
python3 benchmarks/gpu_throughput.py --epochs 4 --data-dir "$DATA_DIR" \
    --out "$OUT/gpu_throughput.json" 2>&1 | tee "$OUT/gpu_throughput.log"
