#!/usr/bin/env bash
# The one GPU check, for one call of the device tool (at most 9 minutes in all):
#   1. nvidia-smi and the versions of CuPy, JAX and PyTorch; stop at once, saying so, without a GPU;
#   2. PyTensor and its pure-Python dependencies from .whl/ (staged beforehand with
#      ../shared/device/stage_wheels.sh; carry .whl with the call), installed into /tmp/site as
#      ../shared/device/README.md says;
#   3. every gpu-marked test of tests/ (pytest -m gpu: the GPU kernels, hoisting bit for bit, the
#      driver launch path, cuda:N, jacobian_diagonal, the PyTensor Op, the JAX and PyTorch adapters'
#      refusals, Dask with CuPy chunks and, where dask_cuda imports, a LocalCUDACluster of one worker),
#      the two that need most of the GPU's memory alone at the end;
#   4. benchmarks/gpu_launch.py: host time per call at n = 1,000 (plain, bound, CuPy's RawKernel
#      launch of the same kernel), then the launch-shape sweep; the benchmark runs with the best shape;
#   5. benchmarks/test_gpu_peers.py: bandwidth at 512 MiB beside the device copy, CuPy by hand, JAX
#      (first run) and PyTorch eager and torch.compile (second run, so a slow torch.compile costs only itself);
#   6. one summary table (benchmarks/gpu_summary.py) against issue 20's targets.
#
#   bash benchmarks/gpu_check.sh [tests|launch|bench ...]   (default: all three, in that order)
#
# Each step has its own time limit and all of them one deadline (DEADLINE_S after the start,
# default 520 s); a step is stopped with SIGINT, so pytest still writes what it measured.
# The log, the JSON files and the reports land in $OUT, else in runs/gpu_check-DATE/.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
deadline=$((start + ${DEADLINE_S:-520}))
out=${OUT:-runs/gpu_check-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
steps=${*:-tests launch bench}
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX beside CuPy and PyTorch: no 75% grab of the memory
export PYTHONUNBUFFERED=1

no_gpu() {
  echo "gpu_check: no GPU here ($1). This check measures a CUDA device: run it on the machine the device"
  echo "tool lends (see ../shared/device/README.md); everything else is tested on the CPU by pytest."
  exit 3
}

# $1: the most seconds for this step; the rest of the command runs within that and the deadline
within() {
  local cap=$1; shift
  local left=$((deadline - $(date +%s) - 10))
  local seconds=$((cap < left ? cap : left))
  if [ "$seconds" -le 5 ]; then echo "gpu_check: no time left for: $*"; return 124; fi
  timeout -s INT -k 15 "$seconds" "$@"
}

pytest_options() {
  local options=(-q -rs -p no:cacheprovider --tb=short)
  python3 -c "import pytest_timeout" 2>/dev/null && options+=(--timeout 120)
  printf '%s\n' "${options[@]}"
}

{
date -u
echo "== nvidia-smi"
command -v nvidia-smi >/dev/null 2>&1 || no_gpu "nvidia-smi is not installed"
nvidia-smi || no_gpu "nvidia-smi found no device or driver"
echo "== versions"
for module in cupy jax torch numpy; do
  python3 -c "import $module; print('$module', $module.__version__)" 2>/dev/null || echo "$module: not installed"
done
# what some test modules import (a module that cannot be collected is reported as an error, the rest run):
# stage what is missing with ../shared/device/stage_wheels.sh NAME==VERSION ...
for module in scipy mpmath sympy hypothesis pytest_benchmark xdist dask distributed cloudpickle xarray dask_cuda; do
  python3 -c "import $module" 2>/dev/null || echo "$module: not installed"
done
echo "== PyTensor"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
python3 -c "import pytensor; print('pytensor', pytensor.__version__)" || {
  echo "gpu_check: PyTensor does not import: stage its wheels with ../shared/device/stage_wheels.sh and carry .whl"
  exit 1; }
python3 -c "import cupy; assert cupy.cuda.runtime.getDeviceCount() > 0" 2>/dev/null \
  || no_gpu "CuPy does not import or sees no CUDA device"
python3 -c "import elemgrad_gpu as eg; print(eg.devices())"
git log -1 --format="commit %h %cd" 2>/dev/null || true
mapfile -t options < <(pytest_options)
for step in $steps; do
  case $step in
  tests)
    echo "== gpu-marked tests of tests/, then the two that need most of the GPU's memory, alone"
    workers=()
    python3 -c "import xdist" 2>/dev/null && workers=(-n 4)
    memory="2_to_the_31 or larger_than_the_gpu"
    within 200 python3 -m pytest "${options[@]}" "${workers[@]}" -m gpu tests -k "not ($memory)" \
      --continue-on-collection-errors --junitxml="$out/tests.xml" 2>&1
    within 60 python3 -m pytest "${options[@]}" -m gpu tests/backends/test_gpu.py -k "$memory" \
      --junitxml="$out/tests_memory.xml" 2>&1 ;;
  launch)
    echo "== host time per call, and launch shapes"
    within 80 python3 benchmarks/gpu_launch.py --json "$out/launch.json" | tee "$out/launch.txt"
    tuned=$(grep "^THEANO_FLAGS=" "$out/launch.txt" | tail -1 | cut -d= -f2-)
    if [ -n "$tuned" ]; then export THEANO_FLAGS=$tuned; echo "the benchmark runs with THEANO_FLAGS=$tuned"; fi ;;
  bench)
    echo "== gpu benchmark: elemgrad_gpu, device copy, CuPy by hand, JAX"
    within 120 python3 -m pytest "${options[@]}" benchmarks/test_gpu_peers.py -k "not torch" \
      --benchmark-json="$out/gpu_bench.json" --benchmark-columns=median,min,rounds 2>&1 | tail -5
    [ -f "$out/gpu_bench.json" ] && python3 benchmarks/report.py "$out/gpu_bench.json" -o "$out" >/dev/null
    echo "== gpu benchmark: PyTorch eager and torch.compile (and the device copy again)"
    within 100 python3 -m pytest "${options[@]}" benchmarks/test_gpu_peers.py -k "torch or copy" \
      --benchmark-json="$out/gpu_bench_torch.json" --benchmark-columns=median,min,rounds 2>&1 | tail -5
    [ -f "$out/gpu_bench_torch.json" ] && python3 benchmarks/report.py "$out/gpu_bench_torch.json" -o "$out" >/dev/null ;;
  *) echo "unknown step $step: use tests, launch or bench"; exit 2 ;;
  esac
done
echo "== summary ($(( $(date +%s) - start )) s; tables in $out/*.md)"
python3 benchmarks/gpu_summary.py "$out"
date -u
} 2>&1 | tee "$out/gpu_check.log"
exit "${PIPESTATUS[0]}"
