#!/usr/bin/env bash
# The one GPU check: on a CUDA machine, run the gpu-marked tests and the GPU benchmark
# against the peers, then print the report (Markdown tables; the PNG where matplotlib
# is installed). Everything else runs in CI on the CPU.
#
#   bash benchmarks/gpu_check.sh [tests|bench]     (default: both; each step is time-limited)
#
# From a development machine with the device tool (image: ../shared/device/README.md):
#   ../shared/device/stage_wheels.sh sympy==1.14.0 mpmath==1.3.0   # PyTensor + test deps
#   run: command="bash benchmarks/gpu_check.sh tests", carry=[".whl"], timeout_s=360
#   run: command="bash benchmarks/gpu_check.sh bench", carry=[".whl"], timeout_s=480
# (two calls: together the steps can take longer than one call's 600 s limit)
# The benchmark JSON and report land in $OUT. To trim the benchmark, pass pytest
# options through PYTEST_ADDOPTS, e.g. PYTEST_ADDOPTS="-k 'not torch.compile'".
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}
step=${1:-all}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
export XLA_PYTHON_CLIENT_PREALLOCATE=false  # JAX beside CuPy and PyTorch: no 75% grab of the memory
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import elemgrad_gpu as eg; print(eg.devices())"
if [ "$step" != bench ]; then
  echo "== gpu tests"
  timeout 300 python3 -m pytest -q -m gpu tests/test_gpu.py -rs -p no:cacheprovider 2>&1 | tail -25
fi
if [ "$step" != tests ]; then
  # Two runs, each with its own JSON, so that a slow torch.compile cannot cost the rest:
  # first elemgrad_gpu, the device copy, CuPy by hand and JAX; then PyTorch.
  echo "== gpu benchmark"
  timeout 240 python3 -m pytest -q benchmarks/test_gpu_peers.py -k "not torch" -rs -p no:cacheprovider \
    --benchmark-json="$out/gpu_bench.json" --benchmark-columns=median,min,rounds 2>&1 | tail -15
  python3 benchmarks/report.py "$out/gpu_bench.json" -o "$out"
  echo "== gpu benchmark: PyTorch"
  timeout 180 python3 -m pytest -q benchmarks/test_gpu_peers.py -k "torch or copy" -rs -p no:cacheprovider \
    --benchmark-json="$out/gpu_bench_torch.json" --benchmark-columns=median,min,rounds 2>&1 | tail -15
  python3 benchmarks/report.py "$out/gpu_bench_torch.json" -o "$out"
fi
