#!/usr/bin/env bash
# The one GPU check: on a CUDA machine, run the gpu-marked tests, the launch-shape sweep
# (benchmarks/gpu_launch.py; the benchmark then runs with the shape it found best), and the
# GPU benchmark against the peers, then its report (Markdown tables; the PNG where
# matplotlib is installed). Everything else runs in CI on the CPU.
#
#   bash benchmarks/gpu_check.sh [tests|launch|bench ...]   (default: all three, in that order)
#
# Each step is time-limited (under 9 minutes in all) and stops with SIGINT, so pytest
# still writes what it measured. Wheels of PyTensor and its pure-Python dependencies
# placed in .whl/ (for a machine without an index) are installed into .gpu_check/site,
# inside this repository; nothing is written outside it except under $OUT when set.
# The log, the benchmark JSON and the reports land in $OUT, else in runs/gpu_check-DATE/.
# How long a call takes is in docs/PERFORMANCE.md. To trim the benchmark, pass pytest
# options through PYTEST_ADDOPTS, e.g. PYTEST_ADDOPTS="-k 'not torch.compile'".
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-runs/gpu_check-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
steps=${*:-tests launch bench}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target .gpu_check/site .whl/*.whl || exit 1
  export PYTHONPATH=$PWD/.gpu_check/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX beside CuPy and PyTorch: no 75% grab of the memory
export PYTHONUNBUFFERED=1
# pytest within $1 seconds (SIGINT: the session still finishes and writes its JSON), each test within 100 s
pytest_within() {
  local seconds=$1; shift
  local per_test=()
  python3 -c "import pytest_timeout" 2>/dev/null && per_test=(--timeout 100)
  timeout -s INT -k 15 "$seconds" python3 -m pytest -q -rs -p no:cacheprovider "${per_test[@]}" --tb=short "$@" 2>&1
}
{
date -u
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import elemgrad_gpu as eg, numpy, pytensor; print(eg.devices(), numpy.__version__, pytensor.__version__)"
for step in $steps; do
  case $step in
  tests)
    echo "== gpu tests (8 processes), then the two that need most of the GPU's memory, alone"
    workers=()
    python3 -c "import xdist" 2>/dev/null && workers=(-n 8)
    memory="2_to_the_31 or larger_than_the_gpu"
    pytest_within 100 "${workers[@]}" -m gpu tests/backends/test_gpu.py -k "not ($memory)"
    pytest_within 50 -m gpu tests/backends/test_gpu.py -k "$memory" ;;
  launch)
    echo "== launch shapes"
    timeout -s INT 70 python3 benchmarks/gpu_launch.py | tee "$out/launch.txt"
    tuned=$(grep "^THEANO_FLAGS=" "$out/launch.txt" | tail -1 | cut -d= -f2-)
    if [ -n "$tuned" ]; then export THEANO_FLAGS=$tuned; echo "the benchmark runs with THEANO_FLAGS=$tuned"; fi ;;
  bench)
    # Two runs, each with its own JSON, so that a slow torch.compile cannot cost the rest:
    # first elemgrad_gpu, the device copy, CuPy by hand and JAX; then PyTorch.
    echo "== gpu benchmark"
    pytest_within 160 benchmarks/test_gpu_peers.py -k "not torch" --benchmark-json="$out/gpu_bench.json" \
      --benchmark-columns=median,min,rounds
    python3 benchmarks/report.py "$out/gpu_bench.json" -o "$out" | grep -E "^#|elemgrad_gpu|copy"
    echo "== gpu benchmark: PyTorch"
    pytest_within 140 benchmarks/test_gpu_peers.py -k "torch or copy" --benchmark-json="$out/gpu_bench_torch.json" \
      --benchmark-columns=median,min,rounds
    python3 benchmarks/report.py "$out/gpu_bench_torch.json" -o "$out" | grep -E "^#|torch" ;;
  *) echo "unknown step $step: use tests, launch or bench"; exit 2 ;;
  esac
done
date -u
} 2>&1 | tee "$out/gpu_check.log"
