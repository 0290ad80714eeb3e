#!/usr/bin/env bash
# Start a real one-node SLURM cluster on localhost for the tests (Debian's slurm-wlm).
#
#   tests/slurm/start.sh      install (apt, if missing), configure and start the cluster
#   tests/slurm/stop.sh       stop exactly the daemons this script started
#
# Idempotent: if the cluster this script started is up, it does nothing. Otherwise it wipes the
# controller state and the accounting database together (so job ids never collide with old
# ones), then starts munge, MariaDB + slurmdbd (sacct, which submitit polls), slurmctld and
# slurmd with two fake GPUs and the partitions `debug` (default) and `gpu`. Runs as root.
# Everything lives in $SLURM_TEST_DIR (default /tmp/imp-slurm); PIDs in $SLURM_TEST_DIR/pids.
set -euo pipefail

STATE=${SLURM_TEST_DIR:-/tmp/imp-slurm}
PIDS=$STATE/pids
DB_PORT=${SLURM_TEST_DB_PORT:-3399}
HOST=$(hostname -s)
CLUSTER=impcluster
PACKAGES=(slurmctld slurmd slurm-client slurmdbd slurm-wlm-basic-plugins slurm-wlm-mysql-plugin munge mariadb-server)

log() { echo "slurm-test: $*" >&2; }
die() { log "error: $*"; exit 1; }

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${timeout}s waiting for $what"
    sleep 0.5
  done
}

running() {  # every recorded daemon alive and the node answering
  [ -f "$PIDS" ] || return 1
  while read -r name pid; do kill -0 "$pid" 2>/dev/null || return 1; done < "$PIDS"
  sinfo -h -o %T 2>/dev/null | grep -qE 'idle|mixed|allocated'
}

[ "$(id -u)" = 0 ] || die "must run as root (it starts system daemons)"
if running; then log "already running (state in $STATE)"; exit 0; fi
if [ -f "$PIDS" ]; then log "found a half-started cluster; stopping it first"; "$(dirname "$0")/stop.sh" || true; fi

# --- packages -------------------------------------------------------------------------------
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  # Keep the packages' post-install scripts from starting daemons with Debian's defaults.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
  rm -f /usr/sbin/policy-rc.d
fi

# --- fresh state ----------------------------------------------------------------------------
rm -rf "$STATE"
mkdir -p "$STATE"/{ctld,spool,log,db,run,gpus}
: > "$PIDS"
record() { echo "$1 $2" >> "$PIDS"; }
pid_of() { local f=$1; for _ in $(seq 1 40); do [ -s "$f" ] && { cat "$f"; return; }; sleep 0.25; done; die "no pid file $f"; }

# --- munge ----------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
  chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
fi
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- munged --pid-file "/run/munge/munged.pid" --force
  record munged "$(pid_of /run/munge/munged.pid)"
  wait_for 20 munge sh -c 'munge -n | unmunge'
fi

# --- MariaDB (a private instance) + slurmdbd -------------------------------------------------
chown mysql:mysql "$STATE/db" "$STATE/run"
mariadb-install-db --user=mysql --datadir="$STATE/db" --auth-root-authentication-method=normal \
  --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1 || die "mariadb-install-db failed: see $STATE/log"
mariadbd --user=mysql --datadir="$STATE/db" --port="$DB_PORT" --bind-address=127.0.0.1 \
  --socket="$STATE/run/mysqld.sock" --pid-file="$STATE/run/mysqld.pid" \
  --log-error="$STATE/log/mariadb.log" --skip-name-resolve >/dev/null 2>&1 &
record mariadbd "$(pid_of "$STATE/run/mysqld.pid")"
wait_for 60 MariaDB mariadb --socket="$STATE/run/mysqld.sock" -uroot -e 'select 1'
mariadb --socket="$STATE/run/mysqld.sock" -uroot <<SQL
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmtest';
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
FLUSH PRIVILEGES;
SQL

mkdir -p /etc/slurm
cat > /etc/slurm/slurmdbd.conf <<EOF
# Written by tests/slurm/start.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurmtest
StorageLoc=slurm_acct_db
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
EOF
chmod 0600 /etc/slurm/slurmdbd.conf

# --- slurm.conf, gres.conf, cgroup.conf -------------------------------------------------------
ln -sf /dev/null "$STATE/gpus/gpu0"
ln -sf /dev/null "$STATE/gpus/gpu1"
if [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/freezer ]; then
  PROCTRACK=proctrack/cgroup; TASK=task/cgroup,task/affinity
  cat > /etc/slurm/cgroup.conf <<EOF
# Written by tests/slurm/start.sh
CgroupPlugin=cgroup/v1
ConstrainRAMSpace=yes
ConstrainDevices=no
EOF
else
  PROCTRACK=proctrack/linuxproc; TASK=task/none
  rm -f /etc/slurm/cgroup.conf
fi
NODE=$(slurmd -C | head -n 1 | sed -E 's/ (Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore)=[0-9]+//g')
MEMORY=$(echo "$NODE" | sed -E 's/.*RealMemory=([0-9]+).*/\1/')
# A simulated queue wait before every job (benchmarks/bench_packs.py writes the seconds; none: 0).
cat > "$STATE/prolog.sh" <<EOF
#!/bin/sh
wait_s=\$(cat "$STATE/prolog-sleep-s" 2>/dev/null)
sleep "\${wait_s:-0}"
exit 0
EOF
chmod 0755 "$STATE/prolog.sh"
cat > /etc/slurm/slurm.conf <<EOF
# Written by tests/slurm/start.sh: a one-node test cluster on localhost.
ClusterName=$CLUSTER
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=cred_expire=10
MpiDefault=none
ProctrackType=$PROCTRACK
TaskPlugin=$TASK
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=1
EnforcePartLimits=ALL
SchedulerParameters=bf_interval=2,sched_interval=2
KillWait=5
Prolog=$STATE/prolog.sh
MinJobAge=600
MailProg=/bin/true
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
$(echo "$NODE" | sed -E "s/CPUs=[0-9]+/CPUs=8/") Gres=gpu:2 NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$HOST MaxTime=INFINITE State=UP
EOF
cat > /etc/slurm/gres.conf <<EOF
# Written by tests/slurm/start.sh: two fake GPUs (links to /dev/null; no GPU behind them)
Name=gpu File=$STATE/gpus/gpu[0-1]
EOF
log "node: $(echo "$NODE" | sed -E "s/CPUs=[0-9]+/CPUs=8 (advertised)/") memory ${MEMORY} MB"

slurmdbd
record slurmdbd "$(pid_of "$STATE/run/slurmdbd.pid")"
wait_for 60 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
sacctmgr -i add account tests Cluster="$CLUSTER" Description=tests Organization=tests >/dev/null 2>&1 || true
sacctmgr -i add user root Account=tests Cluster="$CLUSTER" >/dev/null 2>&1 || true

slurmctld -i
record slurmctld "$(pid_of "$STATE/run/slurmctld.pid")"
wait_for 60 slurmctld scontrol ping
slurmd
record slurmd "$(pid_of "$STATE/run/slurmd.pid")"
wait_for 60 "the node to come up" sh -c "sinfo -h -n $HOST -o %T | grep -qE 'idle|mixed|allocated'"
log "up: $(sinfo -h -o '%P %T %G' | tr '\n' ';') (state in $STATE)"
