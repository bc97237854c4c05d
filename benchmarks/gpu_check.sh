#!/usr/bin/env bash
# The GPU path, checked on a CUDA machine in one short run (see benchmarks/README.md):
#   bash benchmarks/gpu_check.sh OUTDIR
# 1. the forum example trained on the GPU (--device gpu, 20 s budget) and its metrics;
# 2. the train step against the plain-JAX reference, on the GPU;
# 3. NARX's exact recovery of the forum formula;
# 4. the model contract suite with JAX on the GPU (streaming = full forward, causality, …).
set -uo pipefail
OUT=${1:-/tmp/lagnet-gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 LAGNET_CACHE=0
PY=${PY:-python3}
$PY -c "import jax; print('jax', jax.__version__, jax.devices())"
nvidia-smi -L || true
echo "== 1. forum example on the GPU"
timeout 100 $PY -m lagnet train examples/ar1.toml --device gpu --max-seconds 20 --quiet --out "$OUT/ar1" \
  && $PY -c "import json,sys; m=json.load(open('$OUT/ar1/metrics.json')); print('device', m['device'], 'test', m['test'], 'train', m['train'])"
echo "== 2. step speed on the GPU"
timeout 80 $PY benchmarks/step_speed.py --iters 50 --repeats 3
echo "== 3. NARX forum"
timeout 40 $PY benchmarks/narx_forum.py --repeats 1
echo "== 4. model contract suite on the GPU"
JAX_PLATFORMS=cuda timeout 100 $PY -m pytest -q -p no:cacheprovider tests/test_models.py -x -k "not trains_below" 2>&1 | tail -15
