#!/usr/bin/env bash
# CI stage: a real one-node SLURM. Installs slurm-wlm and munge when missing (apt-get, as root),
# starts the test cluster (start_slurm.sh), runs tests/cluster/test_slurm.py against it, and
# always stops it again (stop_slurm.sh, from a trap). Quiet when it passes: one line of figures
# (`figure NAME VALUE UNIT`); when it fails, the test's output and the daemons' logs.
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=tests/cluster
PYTHON=${PYTHON:-.venv/bin/python}
export MIXC_SLURM_DIR=${MIXC_SLURM_DIR:-/tmp/mixc-slurm}
LOG=$(mktemp -d /tmp/mixc-stage.XXXXXX)
STARTED=$SECONDS
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

finish() {
    local rc=$?
    trap - EXIT
    if [ "$rc" != 0 ]; then
        echo "cluster stage: FAILED (exit $rc)" >&2
        for f in "$LOG"/*; do
            [ -s "$f" ] && { echo "--- $f (last 200 lines)" >&2; tail -n 200 "$f" >&2; }
        done
        for f in "$MIXC_SLURM_DIR"/logs/*; do
            [ -s "$f" ] && { echo "--- $f (last 60 lines)" >&2; tail -n 60 "$f" >&2; }
        done
    fi
    "$HERE/stop_slurm.sh" || echo "cluster stage: stop_slurm.sh failed" >&2
    exit "$rc"
}
trap finish EXIT

t=$(now)
install=0.0
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
        || ! command -v sbatch >/dev/null; then
    [ "$(id -u)" = 0 ] || { echo "cluster stage: slurm-wlm and munge are missing and this is not root" >&2; exit 1; }
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >"$LOG/apt.log" 2>&1
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >>"$LOG/apt.log" 2>&1
    install=$(took "$t")
fi

t=$(now)
"$HERE/start_slurm.sh" >"$LOG/start.log" 2>&1
bringup=$(took "$t")

t=$(now)
MIXC_SLURM_REQUIRED=1 "$PYTHON" -m pytest -q -s -p no:cacheprovider "$HERE/test_slurm.py" >"$LOG/pytest.log" 2>&1
tests=$(took "$t")

figures=$(grep '^figure ' "$LOG/pytest.log" | tr '\n' ' ')
echo "cluster stage: passed; figure install_s $install s figure bringup_s $bringup s figure cluster_test_s $tests s ${figures}figure stage_s $((SECONDS - STARTED)) s"
rm -rf "$LOG"
