#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, to try `python train.py -m hydra/launcher=slurm ...`
# and to test that path for real (tests/test_slurm.py, started by .ci/run when it can).
#
#   sudo bash scripts/local_slurm.sh start    # install if missing, configure, start, wait for the node
#   bash scripts/local_slurm.sh status        # sinfo, and the daemons this script started
#   sudo bash scripts/local_slurm.sh stop     # stop those daemons by the PIDs it recorded
#
# Debian/Ubuntu, as root: Debian's munge, slurmctld and slurmd (Slurm 22.05 on Debian 12). One node
# named after `hostname -s`, with this machine's CPUs and memory, one partition `debug`, no
# accounting (see docs/reference.md, "A local Slurm cluster", for what that means to a sweep).
# Everything it writes lives under $LOCAL_SLURM_DIR (default /tmp/local-slurm) and /etc/slurm.
set -euo pipefail

DIR=${LOCAL_SLURM_DIR:-/tmp/local-slurm}
CONF=/etc/slurm/slurm.conf
PARTITION=debug

say() { echo "local_slurm: $*" >&2; }

need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    say "must run as root (it installs packages and starts munged, slurmctld and slurmd)"
    exit 1
  fi
}

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
    && command -v sbatch >/dev/null; then
    return
  fi
  if ! command -v apt-get >/dev/null; then
    say "slurmctld, slurmd or munged is missing and there is no apt-get to install them"
    exit 1
  fi
  say "installing munge, slurmctld, slurmd and slurm-client"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q munge slurmctld slurmd slurm-client >/dev/null \
    || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q munge slurmctld slurmd slurm-client >/dev/null; }
}

configure() {
  local host cpus memory
  host=$(hostname -s)
  cpus=$(nproc)
  memory=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)  # MB, leaving the OS a tenth
  mkdir -p "$DIR"/{state,spool,log} /etc/slurm /run/munge /var/log/munge /var/lib/munge /etc/munge
  if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
  fi
  chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
  chmod 0700 /etc/munge
  chmod 0400 /etc/munge/munge.key
  cat >"$CONF" <<EOF
# Written by scripts/local_slurm.sh: a one-node cluster for tests and trials.
ClusterName=local
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=10
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
}

start_daemon() {  # name, pid file, command...
  local name=$1 pidfile=$2
  shift 2
  if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    return
  fi
  "$@"
  for _ in $(seq 50); do
    [ -s "$pidfile" ] && return
    sleep 0.1
  done
  say "$name did not start; see $DIR/log"
  exit 1
}

start() {
  need_root
  install
  configure
  start_daemon munged "$DIR/munged.pid" munged --pid-file "$DIR/munged.pid" -f
  start_daemon slurmctld "$DIR/slurmctld.pid" slurmctld
  start_daemon slurmd "$DIR/slurmd.pid" slurmd
  for _ in $(seq 60); do
    state=$(sinfo --noheader --partition "$PARTITION" --format %t 2>/dev/null | head -1)
    if [ "$state" = idle ]; then
      say "node $(hostname -s) is idle in partition $PARTITION ($(nproc) CPUs)"
      return
    fi
    sleep 1
  done
  say "the node did not become idle in 60 s (state: ${state:-none}); see $DIR/log"
  exit 1
}

stop() {
  need_root
  local name pidfile pid
  for name in slurmd slurmctld munged; do
    pidfile="$DIR/$name.pid"
    if [ -s "$pidfile" ]; then
      pid=$(cat "$pidfile")
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      rm -f "$pidfile"
    fi
  done
  say "stopped"
}

status() {
  local name pidfile
  for name in munged slurmctld slurmd; do
    pidfile="$DIR/$name.pid"
    if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "$name: running (pid $(cat "$pidfile"))"
    else
      echo "$name: not running"
    fi
  done
  sinfo 2>/dev/null || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
