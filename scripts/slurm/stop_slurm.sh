#!/usr/bin/env bash
# Stop the single-node cluster started by scripts/slurm/start_slurm.sh. Idempotent.
# Only the processes named in its own pid files are signalled.
#   --keep-config  leave the /etc/slurm symlinks in place
#   --purge        also delete the state, spool, log and run directories
set -uo pipefail
BASE=${STBN_SLURM_BASE:-/var/tmp/stbn-slurm}
MUNGE_DIR=$BASE/munge
keep_config=0 purge=0
for a in "$@"; do
    case $a in
    --keep-config) keep_config=1 ;;
    --purge) purge=1 ;;
    *) echo "usage: $0 [--keep-config] [--purge]" >&2; exit 2 ;;
    esac
done

ours() { # ours PID COMM: PID runs a process named COMM
    [[ -n $1 && -r /proc/$1/comm && $(cat "/proc/$1/comm") == "$2"* ]]
}
stop_pidfile() { # stop_pidfile PIDFILE COMM: TERM, wait up to 10 s, then KILL
    local pf=$1 comm=$2 pid
    [[ -s $pf ]] || return 0
    pid=$(cat "$pf")
    if ours "$pid" "$comm"; then
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 100); do [[ -d /proc/$pid ]] || break; sleep 0.1; done
        [[ -d /proc/$pid ]] && kill -KILL "$pid" 2>/dev/null
        echo "[stop_slurm] stopped $comm (pid $pid)"
    fi
    rm -f "$pf"
}

# cancel our jobs while the controller still answers, and wait (bounded) for them to end
if ours "$(cat "$BASE/run/slurmctld.pid" 2>/dev/null)" slurmctld && timeout 10 scontrol ping 2>/dev/null | grep -q UP; then
    scancel --full --user="$(id -un)" 2>/dev/null
    for _ in $(seq 50); do
        [[ -z $(squeue -h -t running,completing,pending -o %i 2>/dev/null) ]] && break
        sleep 0.2
    done
fi

stop_pidfile "$BASE/run/slurmd.pid" slurmd
stop_pidfile "$BASE/run/slurmctld.pid" slurmctld
stop_pidfile "$MUNGE_DIR/munged.pid" munged
rm -f "$MUNGE_DIR/munge.socket.2" "$MUNGE_DIR/munge.socket.2.lock"

if ((keep_config == 0)); then
    for f in slurm.conf gres.conf; do
        l=/etc/slurm/$f
        [[ -L $l && $(readlink "$l") == "$BASE"/* ]] && rm -f "$l"
    done
fi
((purge)) && rm -rf "$BASE"/{state,spool,log,run}
exit 0
