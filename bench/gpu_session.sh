#!/usr/bin/env bash
# Every GPU measurement in one go, in about 10 minutes: the CUDA tests, then the table (plain / Lightning fp32 / fast,
# images/s and peak memory) for the four configurations of the documentation's performance page. Everything lands in
# $OUT (default bench_out/): gpu.txt, tests.txt, bench.txt, *.json, and the dated result files in bench/results/.
# Run from the repository root after `pip install -e .[dev]`:  bash bench/gpu_session.sh
set -u
out=${OUT:-bench_out}
mkdir -p "$out"
export NO_ALBUMENTATIONS_UPDATE=1 WANDB_MODE=disabled
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
python -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__)" | tee -a "$out/gpu.txt"
timeout 240 python -m pytest -q -p no:cacheprovider tests/test_cuda.py tests/test_precision.py 2>&1 | tail -25 \
    | tee "$out/tests.txt"
# model size batch: ~60-90 s each (compile included); 20 timed iterations x 2 repeats after 10 warm-up.
for spec in "cyclegan 256 1" "cyclegan 256 4" "pix2pix 256 1" "stargan 128 16"; do
    set -- $spec
    timeout 150 python bench/train_step.py --model "$1" --size "$2" --batch "$3" --steps 20 --warmup 10 --repeats 2 \
        --json "$out/$1_$2_b$3.json" --results bench/results 2>&1 | tail -12 | tee -a "$out/bench.txt"
done
