#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for devspec's Slurm tests and for trying
# `devspec run --executor slurm` without a cluster. Needs root and Debian's packages.
#
#   scripts/slurm-local.sh start   install if missing, configure, start munged, slurmctld, slurmd;
#                                  wait until the node is idle
#   scripts/slurm-local.sh stop    stop the daemons this script started
#   scripts/slurm-local.sh status  exit 0 when the cluster answers
#   scripts/slurm-local.sh start-for-tests
#                                  for `make test`: as root, start the cluster unless it runs
#                                  already; prints `started` (stop it afterwards), `running` or
#                                  `skipped` (not root: the Slurm test then says it skips)
#
# What each setting is for is in ../shared/reference/runners.md ("A single-node Slurm for
# tests"): measured on this kind of machine, about 5-12 s to install and 3 s to the first job.
set -euo pipefail

STATE=/run/devspec-slurm
CONF=/etc/slurm/slurm.conf

log() { echo "slurm-local: $*" >&2; }

answers() { scontrol ping 2>/dev/null | grep -q UP && sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mix|alloc'; }

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
      && command -v munged >/dev/null; then
    return
  fi
  log "installing slurmctld, slurmd, slurm-client and munge from Debian's packages"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
}

configure() {
  local node hardware
  node=$(hostname -s)
  mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm "$STATE"
  # The hardware line as slurmd sees it, less the memory it keeps for itself.
  hardware=$(slurmd -C | head -1 | sed -E 's/^NodeName=[^ ]+ //; s/ UpTime.*//')
  cat > "$CONF" <<EOF
# Written by devspec's scripts/slurm-local.sh: a single-node cluster for tests.
ClusterName=devspec-local
SlurmctldHost=$node
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
SchedulerParameters=batch_sched_delay=0
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MailProg=/bin/true
MinJobAge=3600
KillWait=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=$node $hardware State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

wait_for() { # seconds, description, command...
  local seconds=$1 what=$2; shift 2
  for _ in $(seq $((seconds * 10))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "timed out waiting for $what"; return 1
}

start() {
  if answers; then log "already running"; return; fi
  install
  configure
  # munge: a key, its run folder owned by the munge user, the daemon as that user.
  if ! pgrep -x munged >/dev/null; then
    [ -s /etc/munge/munge.key ] || mungekey --create >/dev/null 2>&1 || true
    mkdir -p /run/munge && chown munge:munge /run/munge /etc/munge/munge.key 2>/dev/null || true
    chmod 0400 /etc/munge/munge.key 2>/dev/null || true
    su -s /bin/sh munge -c munged
    touch "$STATE/started-munged"
    wait_for 10 munged test -S /run/munge/munge.socket.2
  fi
  rm -f "$STATE/slurmctld.pid" "$STATE/slurmd.pid"
  slurmctld -c
  wait_for 20 slurmctld scontrol ping
  slurmd -N "$(hostname -s)"
  wait_for 30 "the node to be idle" answers
  log "up: partition debug on $(hostname -s)"
}

stop() {
  for daemon in slurmd slurmctld; do
    if [ -s "$STATE/$daemon.pid" ]; then
      kill -TERM "$(cat "$STATE/$daemon.pid")" 2>/dev/null || true
      rm -f "$STATE/$daemon.pid"
    fi
  done
  if [ -e "$STATE/started-munged" ]; then
    pkill -x munged 2>/dev/null || true
    rm -f "$STATE/started-munged"
  fi
}

start_for_tests() {
  if answers; then echo running; return; fi
  if [ "$(id -u)" != 0 ]; then
    log "not root: no Slurm cluster for the tests (the Slurm test will say it skipped)"
    echo skipped; return
  fi
  if start >&2; then echo started; else log "could not start Slurm; its test will skip"; stop; echo skipped; fi
}

case "${1:-}" in
  start) start ;;
  start-for-tests) start_for_tests ;;
  stop) stop ;;
  status) answers ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
