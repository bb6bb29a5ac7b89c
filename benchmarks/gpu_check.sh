#!/usr/bin/env bash
# The GPU check in one prepared command: installs what the GPU machine lacks, measures, prints a markdown table.
#
#   benchmarks/gpu_check.sh            # on the GPU machine, from the project root with .whl carried
#                                      # (device command: `bash benchmarks/gpu_check.sh`, timeout_s 540)
#   benchmarks/gpu_check.sh --quick    # dry run on the CPU, in seconds (what tests/test_benchmark.py runs)
#
# Everything goes to ${OUT:-output/gpu-check}: gpu_check.md, gpu_check.json, gpu_check.log.
# The whole command, installs included, keeps within GPU_CHECK_SECONDS (default 480 = 8 minutes): the measuring
# script gets what is left after the installs (less a margin), skips the items that no longer fit and says so,
# writes its figures after every item, and is killed as a last resort if it overruns.
# Other arguments go to benchmarks/gpu_check.py (see its --help). PYTHON picks the interpreter (default python3).
set -uo pipefail
start=$SECONDS
total=${GPU_CHECK_SECONDS:-480}
margin=${GPU_CHECK_MARGIN:-25}  # for the interpreter's exit, cleaning up the synthetic data, the final print
cd "$(dirname "$0")/.." || exit 1

if [ -f .whl/prelude.sh ]; then
    # shellcheck disable=SC1091
    . .whl/prelude.sh || { echo "gpu_check: .whl/prelude.sh failed" >&2; exit 1; }
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" MPLBACKEND=Agg PYTHONUNBUFFERED=1
fi
export REPORTGEN_OFFLINE=1

out=${OUT:-output/gpu-check}
mkdir -p "$out" || exit 1
python=${PYTHON:-python3}
budget=$(( total - (SECONDS - start) - margin ))
if [ "$budget" -lt 30 ]; then
    echo "gpu_check: only $budget s left of $total s after the installs; nothing measured" | tee "$out/gpu_check.log"
    exit 1
fi
echo "gpu_check: $(( SECONDS - start )) s for the installs; measuring budget $budget s of $total s; output in $out"

hard=$(( budget + 15 ))
runner=()
command -v timeout >/dev/null && runner=(timeout -k 5 "$hard")
"${runner[@]}" "$python" benchmarks/gpu_check.py --out "$out" --budget "$budget" "$@" 2>&1 | tee "$out/gpu_check.log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "gpu_check: killed after $hard s; the figures measured before are in $out/gpu_check.md:"
    cat "$out/gpu_check.md" 2>/dev/null
fi
echo "gpu_check: exit $rc after $(( SECONDS - start )) s"
exit "$rc"
