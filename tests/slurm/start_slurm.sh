#!/usr/bin/env bash
# A single-node Slurm on this machine, from Debian's packages, for tests/test_slurm.py (and by hand).
#   tests/slurm/start_slurm.sh start DIR [PARTITION]   install slurm-wlm + munge when missing (root, apt-get), write
#                                                      DIR/slurm.conf (this host, its real CPUs and memory from
#                                                      `slurmd -C`, select/cons_tres, no accounting, no GPUs; two
#                                                      partitions: `debug`, the default, and PARTITION), start munged
#                                                      (unless one answers), slurmctld and slurmd with their state,
#                                                      logs and pid files under DIR; wait until the node is idle
#   tests/slurm/start_slurm.sh stop DIR                stop the daemons this script started (by DIR's pid files)
# slurmd runs configless (it fetches slurm.conf from slurmctld and links /run/slurm/conf to its copy), so commands
# inside jobs find the configuration without SLURM_CONF, which the Snakemake jobstep plugin removes from the
# environment of its srun. Other clients: SLURM_CONF=DIR/slurm.conf (printed on success) or none.
# Exit 77: this machine cannot run the daemons (not root, no apt-get, the packages cannot be installed, or a Slurm
# configuration of its own in /etc/slurm); the reason is on stderr.
set -euo pipefail
action=${1:?usage: start_slurm.sh start|stop DIR [PARTITION]}
dir=$(realpath -m "${2:?usage: start_slurm.sh start|stop DIR [PARTITION]}")
partition=${3:-igae}
cannot() { echo "start_slurm.sh: cannot run Slurm here: $*" >&2; exit 77; }

stop() {
  for daemon in slurmd slurmctld munged; do
    pidfile="$dir/$daemon.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$pidfile"
  done
  # the configless slurmd's link for clients, when it points at this DIR
  case "$(readlink /run/slurm/conf 2>/dev/null)" in "$dir"/*) rm -f /run/slurm/conf ;; esac
}

if [ "$action" = stop ]; then
  stop
  exit 0
fi
[ "$action" = start ] || { echo "start_slurm.sh: unknown action $action (start or stop)" >&2; exit 2; }

[ "$(id -u)" = 0 ] || cannot "slurmd must run as root (uid $(id -u))"
[ ! -e /etc/slurm/slurm.conf ] || cannot "this machine has a Slurm configuration of its own (/etc/slurm/slurm.conf)"
packages="slurm-wlm munge"
missing=$(for p in $packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"; done | xargs)
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null || cannot "no apt-get to install $missing"
  echo "start_slurm.sh: installing Debian packages: $missing" >&2
  apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing > "$dir.apt.log" 2>&1; }
  mkdir -p "$(dirname "$dir")"
  apt_install || { apt-get update -q > /dev/null 2>&1 && apt_install; } || cannot "apt-get install $missing failed (log: $dir.apt.log)"
fi

stop  # a previous start on the same DIR
rm -rf "$dir"/{state,spool,log}  # a fresh cluster: no jobs, ids from 1
mkdir -p "$dir"/{state,spool,log}
host=$(hostname -s)
# this node as slurmd sees it: NodeName=... CPUs=... Boards=... SocketsPerBoard=... CoresPerSocket=... RealMemory=...
node=$(slurmd -C | head -1 | sed -e "s/^NodeName=[^ ]*/NodeName=$host/")
cat > "$dir/slurm.conf" <<CONF
# Written by tests/slurm/start_slurm.sh: one node, this host, no GPUs; no accounting (the profile polls squeue).
ClusterName=igae-test
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=${IGAE_SLURMCTLD_PORT:-6817}
SlurmdPort=${IGAE_SLURMD_PORT:-6818}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
# one line per finished job (id, name, state, partition, TRES: what the tests check), no accounting daemon
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
ReturnToService=2
SlurmctldParameters=enable_configless
MinJobAge=300
SchedulerParameters=sched_interval=2
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=$partition Nodes=$host Default=NO MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$dir/slurm.conf"

# munge: one that answers is used as it is (the machine's own); else start one as the munge user
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; }
  chown munge:munge /etc/munge/munge.key && chmod 600 /etc/munge/munge.key
  runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  cp /run/munge/munged.pid "$dir/munged.pid"
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { stop; cannot "munged did not start"; }
fi
/usr/sbin/slurmctld -f "$SLURM_CONF" || { stop; cannot "slurmctld did not start: $(tail -5 "$dir/log/slurmctld.log" 2>/dev/null)"; }
/usr/sbin/slurmd --conf-server "127.0.0.1:${IGAE_SLURMCTLD_PORT:-6817}" || { stop; cannot "slurmd did not start: $(tail -5 "$dir/log/slurmd.log" 2>/dev/null)"; }
for _ in $(seq 120); do
  state=$(sinfo -h -p "$partition" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
if [ "$state" != idle ]; then
  echo "start_slurm.sh: node state '$state' after 60 s; slurmctld log:" >&2
  tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  stop
  exit 1
fi
echo "export SLURM_CONF=$SLURM_CONF"
