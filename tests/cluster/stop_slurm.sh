#!/usr/bin/env bash
# Stop the test cluster start_slurm.sh started, and only that: cancel its jobs, then end each
# daemon recorded in $MIXC_SLURM_DIR/pids (pid and start time checked, so a reused pid is left
# alone): TERM, then KILL after 10 s; and the /etc/slurm/slurm.conf link it made. Logs and the
# config stay in $MIXC_SLURM_DIR. Idempotent.
set -uo pipefail

DIR=${MIXC_SLURM_DIR:-/tmp/mixc-slurm}
export SLURM_CONF=$DIR/slurm.conf

# The recorded pid of daemon $1, when that very process still lives (prints nothing otherwise).
recorded() {
    local file=$DIR/pids/$1 pid ticks
    [ -f "$file" ] || return 0
    read -r pid ticks <"$file"
    if [ -r "/proc/$pid/stat" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$ticks" ]; then
        echo "$pid"
    fi
}

if [ -n "$(recorded slurmctld)" ] && [ -f "$SLURM_CONF" ]; then
    timeout 10 scancel --full "--user=$(id -un)" >/dev/null 2>&1
    deadline=$((SECONDS + 20))
    while [ -n "$(timeout 5 squeue -h -t RUNNING,COMPLETING,PENDING -o %i 2>/dev/null)" ] && [ $SECONDS -lt $deadline ]; do
        sleep 0.5
    done
fi

for name in slurmd slurmctld munged; do
    pid=$(recorded "$name")
    if [ -n "$pid" ]; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do
            [ -n "$(recorded "$name")" ] || break
            sleep 0.1
        done
        if [ -n "$(recorded "$name")" ]; then
            echo "stop_slurm: $name (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -f "$DIR/pids/$name"
done
# The link start_slurm.sh made, if it is still this cluster's.
if [ -L /etc/slurm/slurm.conf ] && [ "$(readlink /etc/slurm/slurm.conf)" = "$SLURM_CONF" ]; then
    rm -f /etc/slurm/slurm.conf
fi
exit 0
