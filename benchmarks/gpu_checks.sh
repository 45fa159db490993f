#!/usr/bin/env bash
# Every GPU check and benchmark in one go, for a machine with CUDA (run from the repo root).
#
#   bash benchmarks/gpu_checks.sh OUT_DIR [quick]
#
# It runs: the CUDA parity tests (tests/gpu), the region benchmark on CUDA (784-256x4 target < 5 s),
# the signal, batched-training and loss-landscape benchmarks on CUDA, and `depthlab reproduce
# --quick --device cuda`, and the CIFAR-10 paths on a synthetic copy. Each step has its own time limit, so one slow step cannot starve the rest.
# Outputs (JSON and logs) go to OUT_DIR. Missing pure-Python packages may be preinstalled on
# PYTHONPATH; the package itself is imported from src/.
set -u
out=${1:?usage: gpu_checks.sh OUT_DIR [quick]}
mode=${2:-full}
mkdir -p "$out"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
step() { # step NAME LIMIT_S CMD...
  local name=$1 limit=$2
  shift 2
  echo "=== $name (limit ${limit}s) $(date +%T)"
  local t0=$SECONDS
  timeout "$limit" "$@" >"$out/$name.log" 2>&1
  local rc=$?
  echo "=== $name rc=$rc in $((SECONDS - t0))s"
  tail -n 25 "$out/$name.log"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
$py -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'
step gpu_tests 150 $py -m pytest tests/gpu tests/unit/test_regions_1d_fast.py -q -p no:cacheprovider -o addopts=""
step bench_regions 150 $py benchmarks/bench_regions.py --device cuda --full --no-baseline-full --repeat 3
if [ "$mode" = quick ]; then lq=--quick; else lq=; fi
step bench_landscape 150 $py benchmarks/bench_landscape.py --no-cpu $lq --out "$out/bench_landscape.json"
step bench_signal 60 $py benchmarks/bench_signal.py --device cuda
step bench_train_batched 60 $py benchmarks/bench_train_batched.py --device cuda
step reproduce_quick 200 $py -m depthlab reproduce --quick --device cuda --out /tmp/rq_cuda
ls /tmp/rq_cuda
# CIFAR-10 paths on CUDA, on a synthetic copy in the real file format (no network there).
cat >/tmp/cifar_cuda.sh <<EOS
set -e
$py -c 'import sys; from pathlib import Path; sys.path.insert(0, "tests/unit")
from test_cifar_paths import write_fake_cifar; write_fake_cifar(Path("/tmp/cifar"), 2000, 1000)'
export DEPTHLAB_DATA=/tmp/cifar
$py -m depthlab run mimic --quick --device cuda --set dataset=cifar10 --out /tmp/cifar_runs
$py -m depthlab run landscape-skip --quick --device cuda --set dataset=cifar10 --out /tmp/cifar_runs
EOS
step cifar_cuda 200 bash /tmp/cifar_cuda.sh
exit 0
