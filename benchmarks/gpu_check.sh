#!/usr/bin/env bash
# The one GPU check: on a CUDA machine, run the gpu-marked tests and a short benchmark
# against the peers, then print a summary table. Everything else runs in CI on the CPU.
#
# From a development machine with the device tool (image: ../shared/device/README.md):
#   ../shared/device/stage_wheels.sh sympy==1.14.0 mpmath==1.3.0   # PyTensor + test deps
#   run: command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=420
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-/tmp}
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
else
  export PYTHONPATH=$PWD
fi
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import elemgrad_gpu as eg; print(eg.devices())"
echo "== gpu tests"
timeout 300 python3 -m pytest -q -m gpu tests/test_gpu.py -rs -p no:cacheprovider 2>&1 | tail -25
echo "== gpu benchmark"
timeout 200 python3 -m pytest -q benchmarks/test_gpu_peers.py -p no:cacheprovider \
  --benchmark-json="$out/gpu_bench.json" --benchmark-columns=median,min,rounds 2>&1 | tail -5
python3 benchmarks/summary.py "$out/gpu_bench.json"
