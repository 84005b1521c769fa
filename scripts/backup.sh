#!/usr/bin/env bash
# Backups and point-in-time restore of the devstack cluster with pgBackRest (docs/operations.md).
#
#   backup.sh backup [full|diff|incr]   a backup (incr by default: full when there is none);
#                                       the first one arms WAL archiving (scripts/devstack.sh)
#   backup.sh restore [TARGET_TIME] PORT   the cluster as it was at TARGET_TIME (the latest
#                                       archived state when empty), as a separate cluster on
#                                       127.0.0.1:PORT, read-write; the last line printed is
#                                       DATABASE_URL=… of its copy of the project's database
#   backup.sh drop-restored PORT        stop that cluster and delete it
#   backup.sh metrics                   write the backups' metrics for node exporter's
#                                       textfile collector, and print the file's path
#
# The repository is .devstack/backup/repo; restored clusters live in .devstack/backup/restored.
set -euo pipefail

# shellcheck source=scripts/devstack.sh
source "$(dirname "$0")/devstack.sh" --library

pgbackrest_as_owner() {  # pgbackrest arguments; connections authenticate with the password
  as_owner env PGPASSWORD="$(secret pg_password)" \
    pgbackrest --config="$(backup_dir)/pgbackrest.conf" --stanza="$STANZA" "$@"
}

running_primary() {
  local data
  data=$(pg_base)/data
  as_owner "$(pg_bindir)/pg_ctl" -D "$data" status >/dev/null 2>&1 || {
    say "the devstack cluster is not running: start it with 'make services'"
    exit 1
  }
  prepare_repository "$data"
}

arm() {  # the repository's stanza, once, and archiving into it from now on
  local dir
  dir=$(backup_dir)
  [ -f "$dir/armed" ] && return
  say "creating the backup repository in $dir/repo and arming WAL archiving"
  pgbackrest_as_owner stanza-create
  as_owner touch "$dir/armed"
}

backup() {
  local kind=${1:-incr} started
  case "$kind" in full | diff | incr) ;; *) echo "usage: $0 backup [full|diff|incr]" >&2; exit 2 ;; esac
  running_primary
  arm
  pgbackrest_as_owner check  # WAL reaches the repository (a segment switched and archived)
  started=$(date +%s%N)
  say "taking a backup ($kind; the first one is always full)"
  pgbackrest_as_owner backup --type="$kind"
  say "took $(seconds_since "$started") s"
  write_metrics
  describe_newest
}

# What the backups are, for Prometheus's node exporter (its textfile collector reads
# *.prom files from a folder): the newest backup of each type, how long the last took and
# how much the repository holds. No backup yet: 0, which the BackupTooOld alert takes as
# "never" (ops/prometheus/alerts.yml).
write_metrics() {
  local dir
  dir=$(backup_dir)/metrics
  as_owner mkdir -p "$dir"
  INFO=$(pgbackrest_as_owner info --output=json) python3 - <<'PY' | as_owner tee "$dir/backup.prom.tmp" >/dev/null
import json
import os

stanza = json.loads(os.environ["INFO"])[0]
sets = stanza["backup"]
print("# HELP equinet_backup_last_success_timestamp_seconds When the newest backup of each type ended.")
print("# TYPE equinet_backup_last_success_timestamp_seconds gauge")
for kind in ("full", "diff", "incr"):
    ended = max((b["timestamp"]["stop"] for b in sets if b["type"] == kind), default=0)
    print(f'equinet_backup_last_success_timestamp_seconds{{type="{kind}"}} {ended}')
newest = sets[-1] if sets else None
print("# HELP equinet_backup_duration_seconds How long the newest backup took.")
print("# TYPE equinet_backup_duration_seconds gauge")
took = newest["timestamp"]["stop"] - newest["timestamp"]["start"] if newest else 0
print(f"equinet_backup_duration_seconds {took}")
print("# HELP equinet_backup_repository_bytes What the repository holds for the backups kept.")
print("# TYPE equinet_backup_repository_bytes gauge")
print(f"equinet_backup_repository_bytes {sum(b['info']['repository']['delta'] for b in sets)}")
PY
  as_owner mv "$dir/backup.prom.tmp" "$dir/backup.prom"  # whole, never half-written
}

describe_newest() {  # the backup just taken, and what the repository holds
  INFO=$(pgbackrest_as_owner info --output=json) REPO="$(backup_dir)/repo" python3 - <<'PY'
import json
import os

stanza = json.loads(os.environ["INFO"])[0]
sets = stanza["backup"]
newest = sets[-1]
info, archive, took = newest["info"], newest["archive"], newest["timestamp"]


def mib(size):
    return f"{size / 2**20:,.1f} MiB"


print(
    f"backup {newest['label']}: {newest['type']}, database {mib(info['size'])}, "
    f"stored {mib(info['repository']['delta'])} (lz4), {took['stop'] - took['start']} s, "
    f"WAL {archive['start']} to {archive['stop']}"
)
fulls = sum(backup["type"] == "full" for backup in sets)
print(f"repository: {len(sets)} backups ({fulls} full) in {os.environ['REPO']}")
PY
}

restored_dir() { echo "$(backup_dir)/restored/$1"; }  # a port's restored cluster
restored_data() { echo "$(restored_dir "$1")/data"; }
restored_log() { echo "$(restored_dir "$1")/postgres.log"; }

seconds_since() {  # a start in ns (date +%s%N)
  local ms=$(( ($(date +%s%N) - $1) / 1000000 ))
  printf '%d.%03d' $((ms / 1000)) $((ms % 1000))
}

restore() {  # target time (may be empty), port
  local target=$1 port=$2 data bindir started
  [[ "$port" =~ ^[0-9]+$ ]] || { echo "RESTORE_PORT must be a port number" >&2; exit 2; }
  [ "$port" != "$PG_PORT" ] || { say "RESTORE_PORT is the running cluster's port"; exit 2; }
  [ -f "$(backup_dir)/armed" ] || { say "no backup yet: run 'make backup' first"; exit 1; }
  data=$(restored_data "$port")
  bindir=$(pg_bindir)
  if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "a restored cluster is running on $port: 'bash scripts/backup.sh drop-restored $port'"
    exit 1
  fi
  require_free_port "$port" RESTORE_PORT
  rm -rf "$(restored_dir "$port")"
  as_owner mkdir -p -m 700 "$data"
  # Recovery to a time stops at the first commit after it, and refuses to end without one.
  # With the primary up, a commit of nothing is made now, and the WAL up to it archived
  # (pgbackrest check switches a segment and waits for it), so that a target a moment ago
  # can be reached; a primary that is down has archived what it could.
  if as_owner "$bindir/pg_ctl" -D "$(pg_base)/data" status >/dev/null 2>&1; then
    psql_on "$PG_PORT" -c 'SELECT pg_current_xact_id()' >/dev/null
    pgbackrest_as_owner check
  fi
  started=$(date +%s%N)
  if [ -n "$target" ]; then
    say "restoring the cluster as it was at $target into $data"
    pgbackrest_as_owner restore --pg1-path="$data" --type=time --target="$target" \
      --target-action=promote --archive-mode=off
  else
    say "restoring the latest archived state into $data"
    pgbackrest_as_owner restore --pg1-path="$data" --archive-mode=off
  fi
  # Replays WAL from the repository to the target, then promotes: read-write from then on.
  as_owner "$bindir/pg_ctl" -D "$data" -l "$(restored_log "$port")" -w -t 600 start \
    -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$(pg_base)/socket" \
    >/dev/null
  for _ in $(seq 600); do
    [ "$(psql_on "$port" -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] && break
    as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1 || break  # it gave up
    sleep 0.2
  done
  [ "$(psql_on "$port" -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ] || {
    say "the restored cluster is not read-write; see $(restored_log "$port")"
    tail -n 5 "$(restored_log "$port")" >&2
    exit 1
  }
  say "restored and read-write on 127.0.0.1:$port in $(seconds_since "$started") s"
  echo "DATABASE_URL=$(url "$port")"
}

drop_restored() {  # port
  local data
  data=$(restored_data "$1")
  as_owner "$(pg_bindir)/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$(restored_dir "$1")"
  say "dropped the restored cluster of port $1"
}

case "${1:-}" in
  backup) backup "${2:-incr}" ;;
  restore) restore "${2:-}" "${3:?usage: $0 restore [TARGET_TIME] PORT}" ;;
  drop-restored) drop_restored "${2:?usage: $0 drop-restored PORT}" ;;
  metrics) prepare_repository "$(pg_base)/data" && write_metrics \
    && echo "$(backup_dir)/metrics/backup.prom" ;;
  *) echo "usage: $0 backup [full|diff|incr] | restore [TARGET_TIME] PORT | drop-restored PORT | metrics" >&2
    exit 2 ;;
esac
