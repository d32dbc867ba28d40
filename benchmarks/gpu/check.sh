#!/usr/bin/env bash
# The GPU check, one command, on a machine with an NVIDIA GPU, numba-cuda and PyTorch with CUDA installed:
#
#     bash benchmarks/gpu/check.sh            # (any extra arguments go to the benchmark step)
#
# 1. versions and nvidia-smi;
# 2. correctness of numbarnn's device="cuda" against device="cpu" on the real GPU
#    (compare_cuda.py --correctness -> gpu_correctness.json), then the CUDA test modules tests/test_cuda_*.py
#    with pytest (on a real GPU their simulator classes skip; the tests that rerun those classes on the
#    simulator in a child process, *_in_child_process and *on_simulator, are deselected: they check the
#    simulator, not the device, and take minutes);
# 3. the benchmark against cuDNN and numbarnn's CPU path (compare_cuda.py -> gpu_results.json, gpu_table.md).
#
# Environment: PYTHON (default python), OUT (default benchmarks/gpu/results), CHECK_BUDGET_S (default 470:
# the whole script stays under 8 minutes; every step runs under `timeout`). Everything printed also goes to
# $OUT/check.log. Exit status: 0 when every step passed, else the first failing step's (2: no torch with
# CUDA or no usable GPU; 1: a correctness check above its tolerance; 124: a step ran out of time).
set -euo pipefail
cd "$(dirname "$0")/../.."

PYTHON="${PYTHON:-python}"
OUT="${OUT:-benchmarks/gpu/results}"
CHECK_BUDGET_S="${CHECK_BUDGET_S:-470}"
mkdir -p "$OUT"
rm -f "$OUT/gpu_correctness.json" "$OUT/gpu_results.json" "$OUT/gpu_table.md"  # no stale results

START=$(date +%s)
STATUS=0
SUMMARY=()

remaining() { echo $((CHECK_BUDGET_S - ($(date +%s) - START))); }

# step NAME LIMIT_S COMMAND...: run under timeout, log the exit status, keep the first failure.
step() {
    local name=$1 limit=$2
    shift 2
    if [ "$limit" -lt 10 ]; then
        echo "== $name: skipped, the time budget is used up"
        SUMMARY+=("$name: skipped (time budget)")
        return 0
    fi
    echo
    echo "== $name (at $(($(date +%s) - START)) s, limit ${limit} s): $*"
    local rc=0 t0
    t0=$(date +%s)
    timeout --signal=TERM --kill-after=15 "$limit" "$@" || rc=$?
    echo "== $name: exit $rc after $(($(date +%s) - t0)) s"
    SUMMARY+=("$name: exit $rc ($(($(date +%s) - t0)) s)")
    if [ "$rc" -ne 0 ] && [ "$STATUS" -eq 0 ]; then
        STATUS=$rc
    fi
    return 0
}

main() {
    echo "== numbarnn GPU check: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(pwd), output in $OUT, budget ${CHECK_BUDGET_S} s"
    echo "== git: $(git rev-parse HEAD 2>/dev/null || echo '?')$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (dirty)' || true)"

    # 1. versions
    echo
    echo "== versions"
    timeout 60 "$PYTHON" - <<'EOF' || echo "(version report failed: exit $?)"
import os, platform, sys
print("python", sys.version.split()[0], platform.platform())
print("cpu", next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?"),
      "| cores", os.cpu_count(), "| usable", len(os.sched_getaffinity(0)))
for name in ("numpy", "numba", "numba_cuda", "numbarnn"):
    try:
        m = __import__(name)
        print(name, getattr(m, "__version__", "?"))
    except Exception as exc:
        print(name, "NOT importable:", exc)
try:
    import torch
    print("torch", torch.__version__, "| CUDA", torch.version.cuda, "| cuDNN", torch.backends.cudnn.version(),
          "| GPU", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none visible to torch")
except Exception as exc:
    print("torch NOT importable:", exc)
try:
    from numba import cuda
    print("numba.cuda available:", cuda.is_available(), "| driver API", cuda.cudadrv.driver.driver.get_version(),
          "| runtime", cuda.runtime.get_version())
except Exception as exc:
    print("numba.cuda:", exc)
EOF
    if command -v nvidia-smi >/dev/null 2>&1; then
        timeout 30 nvidia-smi || echo "(nvidia-smi failed: exit $?)"
    else
        echo "(nvidia-smi not found)"
    fi
    if [ "${NUMBA_ENABLE_CUDASIM:-0}" = "1" ]; then
        echo "== NUMBA_ENABLE_CUDASIM=1 is set: unset it, this check is for the real GPU"
        return 2
    fi

    # 2. correctness on the device, then the CUDA test modules
    local limit
    limit=$(remaining)
    limit=$((limit - 260 < 150 ? limit - 260 : 150))
    step correctness "$limit" "$PYTHON" benchmarks/gpu/compare_cuda.py --correctness --out "$OUT"

    local tests=()
    for f in tests/test_cuda_*.py; do  # test_cuda_sim.py, test_cuda_ops.py, ... where present
        [ -f "$f" ] && tests+=("$f")
    done
    if [ "${#tests[@]}" -gt 0 ]; then
        limit=$(remaining)
        limit=$((limit - 220 < 90 ? limit - 220 : 90))
        step pytest "$limit" "$PYTHON" -m pytest "${tests[@]}" -q -rs -p no:cacheprovider \
            -k "not in_child_process and not on_simulator"
    else
        echo "== pytest: no CUDA test module found"
    fi

    # 3. the benchmark: it keeps to --budget-s itself (leaving time for imports, compiling and the last row);
    #    timeout is the hard stop, and the script writes what it measured when stopped.
    limit=$(($(remaining) - 5))
    step benchmark "$limit" "$PYTHON" benchmarks/gpu/compare_cuda.py --out "$OUT" --budget-s $((limit > 120 ? limit - 60 : limit / 2)) "$@"

    echo
    echo "== summary ($(($(date +%s) - START)) s)"
    printf '   %s\n' "${SUMMARY[@]}"
    for f in gpu_correctness.json gpu_results.json gpu_table.md check.log; do
        [ -f "$OUT/$f" ] && echo "   wrote $OUT/$f"
    done
    return "$STATUS"
}

rc=0
main "$@" 2>&1 | tee "$OUT/check.log" || rc=${PIPESTATUS[0]}
exit "$rc"
