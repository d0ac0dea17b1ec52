#!/usr/bin/env bash
# One prepared benchmark run on an accelerator (or any machine): the card, the versions and the
# sweep, written to $OUT (default: results/benchmarks). The image is expected to have JAX with
# CUDA/TPU support already; this script installs nothing else from the network.
#
#   OUT=/some/dir bash benchmarks/run_device.sh              # the --quick sweep
#   BENCH_ARGS="" OUT=/some/dir bash benchmarks/run_device.sh  # the full sweep
#
# Writes $OUT/<device-kind>.json (the benchmark's rows: see benchmarks/generation.py),
# $OUT/<device-kind>.txt (its printed table) and $OUT/card.txt (nvidia-smi / jax.devices()).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-results/benchmarks}"
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # nne_jax and benchmarks from this checkout
python - <<'EOF' > "$out/card.txt"
import platform, jax, numpy
print("jax", jax.__version__, "numpy", numpy.__version__, "python", platform.python_version())
for d in jax.devices():
    print(d.platform, d.device_kind, getattr(d, "id", ""))
EOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$out/card.txt" 2>/dev/null || true
cat "$out/card.txt"
kind=$(python -c "import jax; d = jax.devices()[0]; print('cpu' if d.platform == 'cpu' else d.device_kind.lower().replace(' ', '_'))")
python -m benchmarks.generation ${BENCH_ARGS---quick} --out "$out/$kind.json" | tee "$out/$kind.txt"
