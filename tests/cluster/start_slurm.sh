#!/usr/bin/env bash
# A one-machine SLURM for tests: munged, slurmctld and slurmd from Debian's packages
# (`slurm-wlm`, `munge`), bound to loopback, started directly (no systemd), run as root.
#
# Everything lives in one state folder, $MIXC_SLURM_DIR (default /tmp/mixc-slurm): slurm.conf,
# its own munge key and socket, spool and state folders, logs/, and pids/ (pid and start time of
# each daemon this script started, which is all stop_slurm.sh stops). One thing lies outside it:
# /etc/slurm/slurm.conf, a symbolic link to that slurm.conf, made only where no such file exists
# or where it is a link left by an earlier test cluster whose daemons are gone
# (stop_slurm.sh removes it again). It is needed because the Snakemake SLURM job-step plugin
# drops SLURM_CONF from the environment of the `srun` it runs inside each job, so that srun can
# only find the default path. SLURM_CONF=$MIXC_SLURM_DIR/slurm.conf works for clients as well.
# Idempotent: when the daemons it recorded are alive and the controller answers, it does nothing.
#
# Settings (environment): MIXC_SLURM_DIR; MIXC_SLURM_MEMORY_MB, the node's RealMemory (default:
# what slurmd -C measures); MIXC_SLURM_PORT, the controller's port (default 16817; slurmd uses
# the next one). Exit status: 0 up, 1 failed (the daemons' logs are printed), 2 not installed.
set -euo pipefail

DIR=${MIXC_SLURM_DIR:-/tmp/mixc-slurm}
PORT=${MIXC_SLURM_PORT:-16817}
CONF=$DIR/slurm.conf
export SLURM_CONF=$CONF

die() { echo "start_slurm: $*" >&2; exit 1; }

for tool in munged slurmctld slurmd sinfo sbatch; do
    command -v "$tool" >/dev/null || { echo "start_slurm: $tool not found; apt-get install slurm-wlm munge" >&2; exit 2; }
done
[ "$(id -u)" = 0 ] || die "run as root (the daemons run as root, jobs as the submitting user)"

# pid and start time (field 22 of /proc/PID/stat) of a recorded daemon, if that process still lives.
alive() {
    local file=$DIR/pids/$1 pid ticks
    [ -f "$file" ] || return 1
    read -r pid ticks <"$file"
    [ -r "/proc/$pid/stat" ] && [ "$(awk '{print $22}' "/proc/$pid/stat" 2>/dev/null)" = "$ticks" ]
}

answers() { timeout 10 sinfo -h -o %T >/dev/null 2>&1; }

if alive munged && alive slurmctld && alive slurmd && answers; then
    exit 0  # already up
fi
for d in munged slurmctld slurmd; do
    if [ -f "$DIR/pids/$d" ] && alive "$d"; then
        die "$d from an earlier start is alive but the cluster does not answer; run tests/cluster/stop_slurm.sh first"
    fi
done
# /etc/slurm/slurm.conf: ours, a link left by an earlier test cluster whose daemons are gone
# (taken over), or anything else (a real SLURM's, left alone: stop).
ETC=/etc/slurm/slurm.conf
if [ -L "$ETC" ] && [ "$(readlink "$ETC")" != "$CONF" ]; then
    other=$(dirname "$(readlink "$ETC")")
    if [ -e "$ETC" ] && ! head -1 "$ETC" | grep -q '^# Written by tests/cluster/start_slurm.sh'; then
        die "$ETC links to $(readlink "$ETC"), not a test cluster's; this script leaves a real SLURM alone"
    fi
    for d in munged slurmctld slurmd; do
        MIXC_OTHER=$other/pids/$d
        if [ -f "$MIXC_OTHER" ] && read -r pid ticks <"$MIXC_OTHER" && [ -r "/proc/$pid/stat" ] \
                && [ "$(awk '{print $22}' "/proc/$pid/stat")" = "$ticks" ]; then
            die "the test cluster in $other still runs ($d, pid $pid): MIXC_SLURM_DIR=$other tests/cluster/stop_slurm.sh"
        fi
    done
    rm -f "$ETC"
elif [ -e "$ETC" ] && [ ! -L "$ETC" ]; then
    die "$ETC exists and is not this test cluster's; this script leaves a real SLURM alone"
fi
for p in "$PORT" "$((PORT + 1))"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p on 127.0.0.1 is taken by a process this script did not start (set MIXC_SLURM_PORT)"
    fi
done

rm -rf "$DIR/ctld" "$DIR/d" "$DIR/pids" "$DIR/logs"  # a fresh start: state and logs of this one only
mkdir -p "$DIR"/{munge,ctld,d,logs,pids}
chmod 0755 "$DIR" "$DIR/munge"
if [ ! -s "$DIR/munge/munge.key" ]; then
    head -c 1024 /dev/urandom >"$DIR/munge/munge.key"
    chmod 0400 "$DIR/munge/munge.key"
fi

NODE=$(hostname -s)
HW=$(slurmd -C | head -1)  # NodeName=... CPUs=... Boards=... RealMemory=...
CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
MEM=${MIXC_SLURM_MEMORY_MB:-$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")}
[ -n "$CPUS" ] && [ -n "$MEM" ] || die "cannot read CPUs and memory from slurmd -C: $HW"

cat >"$CONF" <<EOF
# Written by tests/cluster/start_slurm.sh: a one-node test cluster on loopback.
ClusterName=mixctest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$DIR/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$DIR/ctld
SlurmdSpoolDir=$DIR/d
SlurmctldPidFile=$DIR/ctld/slurmctld.pid
SlurmdPidFile=$DIR/d/slurmd.pid
SlurmctldLogFile=$DIR/logs/slurmctld.log
SlurmdLogFile=$DIR/logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
# Ended jobs stay visible to squeue for 5 minutes: the status command the profile uses.
MinJobAge=300
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerParameters=sched_interval=2
NodeName=$NODE NodeAddr=127.0.0.1 NodeHostname=$NODE CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=main Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

mkdir -p /etc/slurm
ln -sfn "$CONF" "$ETC"

# Start one daemon in the foreground, in its own session, and record its pid and start time.
start() {
    local name=$1 pid
    shift
    setsid "$@" </dev/null >>"$DIR/logs/$name.out" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        [ -r "/proc/$pid/stat" ] && break
        sleep 0.02
    done
    echo "$pid $(awk '{print $22}' "/proc/$pid/stat")" >"$DIR/pids/$name"
}

failed() {
    echo "start_slurm: $*" >&2
    for log in "$DIR"/logs/*; do
        [ -s "$log" ] && { echo "--- $log" >&2; tail -n 40 "$log" >&2; }
    done
    exit 1
}

start munged munged -F --force --socket="$DIR/munge/munge.socket" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/logs/munged.log" --seed-file="$DIR/munge/munged.seed"
for _ in $(seq 100); do
    [ -S "$DIR/munge/munge.socket" ] && break
    alive munged || failed "munged exited"
    sleep 0.05
done
[ -S "$DIR/munge/munge.socket" ] || failed "munged made no socket within 5 s"

start slurmctld slurmctld -D -c -f "$CONF"
start slurmd slurmd -D -f "$CONF"

deadline=$((SECONDS + 30))
until [ "$(timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null)" = idle ]; do
    for d in slurmctld slurmd; do alive "$d" || failed "$d exited"; done
    [ $SECONDS -lt $deadline ] || failed "node $NODE not idle within 30 s (sinfo: $(sinfo -h -o '%T %E' 2>&1))"
    sleep 0.2
done
