#!/usr/bin/env bash
# Project-local PostGIS and Redis for development and tests, and optionally a streaming
# read replica and PgBouncer in front of both.
#
#   devstack.sh up     make them available (idempotent) and print DATABASE_URL=, REDIS_URL=,
#                      REDIS_CACHE_URL=, SMTP_URL= and MAIL_DIR= lines (a local mail server
#                      keeping each message as an .eml file, unless SMTP_URL is set)
#   devstack.sh down   stop only what "up" started here (by pid file)
#   devstack.sh replica pause|resume|stop|start   pause or resume WAL replay on the replica,
#                      stop or start it (failure drills and tests)
#   devstack.sh pgbouncer restart   an online restart of both PgBouncers (none is dropped)
#   devstack.sh secret-key   a local SECRET_KEY for development, made once
#
# DEVSTACK_REPLICA=1: "up" also starts a streaming replica of the cluster (pg_basebackup,
# a replication role and slot, standby.signal) and prints DATABASE_REPLICA_URL=.
# DEVSTACK_NGINX=1: "up" also installs nginx (scripts/serve_cluster.sh runs it).
# DEVSTACK_BROWSER=1: "up" also installs Chromium (the map page's browser test drives it).
# DEVSTACK_PROMTOOL=1: "up" also installs Prometheus's promtool (the alert rules' tests).
# DEVSTACK_PGBOUNCER=1: "up" also starts PgBouncer in transaction mode in front of the
# primary (and the replica): DATABASE_URL (and DATABASE_REPLICA_URL) then go through it,
# DATABASE_DIRECT_URL (and DATABASE_REPLICA_DIRECT_URL) reach PostgreSQL itself, for
# migrations and administration, and DB_TRANSACTION_POOLER=true tells the app.
#
# When DATABASE_URL and REDIS_URL are both set, "up" uses them (and DATABASE_REPLICA_URL
# if set) and starts nothing. Progress goes to stderr so that stdout stays shell-sourceable.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE="$ROOT/.devstack"
PG_PORT=${DEVSTACK_PG_PORT:-54329}
REDIS_PORT=${DEVSTACK_REDIS_PORT:-63799}
REDIS_CACHE_PORT=${DEVSTACK_REDIS_CACHE_PORT:-63798}
REPLICA_PORT=${DEVSTACK_REPLICA_PORT:-54330}
POOLER_PORT=${DEVSTACK_PGBOUNCER_PORT:-64329}
REPLICA_POOLER_PORT=${DEVSTACK_REPLICA_PGBOUNCER_PORT:-64330}
SMTP_PORT=${DEVSTACK_SMTP_PORT:-2525}
DB_NAME=equinet
DB_USER=equinet
REPLICATION_USER=equinet_replication
REPLICATION_SLOT=equinet_replica
STANZA=equinet

say() { echo "devstack: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  say "installing $* (apt)"
  if [ ! -f "$STATE/.apt-updated" ]; then
    as_root apt-get update -qq >&2
    touch "$STATE/.apt-updated"
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && [ -x "$dir/postgres" ] && echo "$dir"
}

ensure_packages() {
  local bindir major
  bindir=$(pg_bindir) || true
  if [ -z "$bindir" ]; then
    apt_install postgresql postgresql-contrib
    bindir=$(pg_bindir)
  fi
  major=$(basename "$(dirname "$bindir")")
  if [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
    apt_install "postgresql-$major-postgis-3"
  fi
  # The road network: routing inside PostgreSQL, and the importer of OpenStreetMap extracts.
  if [ ! -f "/usr/share/postgresql/$major/extension/pgrouting.control" ]; then
    apt_install "postgresql-$major-pgrouting"
  fi
  command -v osm2pgrouting >/dev/null || apt_install osm2pgrouting
  command -v osmium >/dev/null || apt_install osmium-tool
  command -v redis-server >/dev/null || apt_install redis-server
  command -v pgbackrest >/dev/null || apt_install pgbackrest  # WAL archive and backups
  command -v curl >/dev/null || apt_install curl  # the docs' examples are curl commands
  command -v wrk >/dev/null || apt_install wrk  # make bench loads the API with it
  if [ "${DEVSTACK_PGBOUNCER:-0}" = 1 ]; then
    command -v pgbouncer >/dev/null || apt_install pgbouncer
  fi
}

# initdb and postgres refuse to run as root: then the cluster belongs to an unprivileged
# user, and lives outside the checkout if that user cannot reach it (a private home).
pg_owner() {
  if [ "$(id -u)" -ne 0 ]; then id -un
  elif id postgres >/dev/null 2>&1; then echo postgres
  else echo nobody
  fi
}

as_owner() {  # from /, which the owner can always enter (the checkout may be private)
  if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u "$(pg_owner)" -- "$@"); else "$@"; fi
}

pg_base() {
  if [ "$(id -u)" -ne 0 ] || runuser -u "$(pg_owner)" -- test -x "$STATE" 2>/dev/null; then
    echo "$STATE/postgres"
  else
    echo "/var/tmp/equinet-geo-$(echo -n "$ROOT" | sha256sum | cut -c1-12)/postgres"
  fi
}

require_free_port() {  # another checkout's services (or anything else) may hold our port
  if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
    say "port $1 is already in use by another process; set $2 to a free port"
    exit 1
  fi
}

psql_on() {  # port, then psql arguments: as the project's superuser, database postgres
  local port=$1
  shift
  PGPASSWORD=$(secret pg_password) "$(pg_bindir)/psql" -h 127.0.0.1 -p "$port" -U "$DB_USER" \
    -d postgres -v ON_ERROR_STOP=1 -tAq "$@"
}

secret() {  # a random value kept under .devstack, made once
  local file="$STATE/$1"
  [ -s "$file" ] || (umask 077; head -c 48 /dev/urandom | base64 | tr -d '/+=\n' >"$file")
  cat "$file"
}

start_postgres() {
  local bindir base data password
  bindir=$(pg_bindir)
  base=$(pg_base)
  data="$base/data"
  if [ ! -s "$STATE/pg_password" ] && [ -f "$data/PG_VERSION" ]; then
    # A cluster without its password: left by an earlier checkout at this path (a cluster
    # outside the checkout outlives it). Nobody can log in to it, so start afresh.
    say "removing the cluster in $data: its password went with an earlier checkout"
    as_owner "$bindir/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$base"
  fi
  password=$(secret pg_password)
  echo "$data" >"$STATE/pg.datadir"
  if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    if [ "$(psql_on "$PG_PORT" -c 'SHOW archive_mode')" = on ] \
        && psql_on "$PG_PORT" -c 'SHOW shared_preload_libraries' | grep -q pg_stat_statements; then
      say "postgres already running on 127.0.0.1:$PG_PORT"
      return
    fi
    # A cluster made before WAL archiving or statement statistics: both need a restart.
    say "restarting postgres to load its newer settings"
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating cluster in $data"
    mkdir -p "$base/socket"
    [ "$(id -u)" -eq 0 ] && chown -R "$(pg_owner)" "$base"
    local pwfile="$base/pwfile"
    (umask 077; echo "$password" >"$pwfile")
    [ "$(id -u)" -eq 0 ] && chown "$(pg_owner)" "$pwfile"
    as_owner "$bindir/initdb" -D "$data" -U "$DB_USER" --pwfile="$pwfile" \
      --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
  fi
  archive_to_repository "$data"
  keep_statement_statistics "$data"
  require_free_port "$PG_PORT" DEVSTACK_PG_PORT
  say "starting postgres on 127.0.0.1:$PG_PORT"
  as_owner "$bindir/pg_ctl" -D "$data" -l "$base/postgres.log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$base/socket" >/dev/null
  if ! PGPASSWORD=$password "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d postgres \
      -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    PGPASSWORD=$password "$bindir/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" "$DB_NAME"
  fi
  # In template1 too, so that every database made later (the tests') has it.
  for database in template1 "$DB_NAME"; do
    psql_on "$PG_PORT" -d "$database" -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements'
  done
}

# pg_stat_statements: the slowest statements, which /metrics shows (db/signals.py).
keep_statement_statistics() {  # data directory
  local conf="$1/postgresql.auto.conf"
  as_owner grep -q '^shared_preload_libraries' "$conf" && return
  as_owner tee -a "$conf" >/dev/null <<CONF
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.max = 1000
CONF
}

# Continuous WAL archiving to the pgBackRest repository beside the cluster (scripts/backup.sh).
# It is armed by the first backup: WAL from before any backup could restore nothing, and a
# development cluster that is never backed up should not fill its disk with it. Until then
# the command succeeds without copying anything. archive_timeout closes a segment at least
# once a minute while anything is written, so at most a minute of commits waits to be copied.
backup_dir() { echo "$(dirname "$(pg_base)")/backup"; }

archive_to_repository() {  # data directory
  local dir conf
  dir=$(backup_dir)
  prepare_repository "$1"
  conf="$1/postgresql.auto.conf"
  as_owner grep -q '^archive_mode' "$conf" && return
  as_owner tee -a "$conf" >/dev/null <<CONF
archive_mode = on
archive_command = 'test ! -f $dir/armed || pgbackrest --config=$dir/pgbackrest.conf --stanza=$STANZA archive-push %p'
archive_timeout = 60
CONF
}

prepare_repository() {  # data directory: the repository's folders and configuration
  local dir
  dir=$(backup_dir)
  mkdir -p "$dir/log"
  [ "$(id -u)" -eq 0 ] && chown -R "$(pg_owner)" "$dir"
  as_owner tee "$dir/pgbackrest.conf" >/dev/null <<INI
[global]
repo1-path=$dir/repo
repo1-retention-full=2
compress-type=lz4
process-max=2
start-fast=y
log-path=$dir/log
lock-path=$dir/lock
log-level-console=warn
log-level-file=info

[$STANZA]
pg1-path=$1
pg1-port=$PG_PORT
pg1-socket-path=$(pg_base)/socket
pg1-user=$DB_USER
pg1-database=postgres
INI
}

# Two Redis instances: "redis" keeps the state that must never be evicted (rate-limit
# windows, search generations, write positions, locks, token versions) with noeviction and
# the append-only file (scripts/redis.conf); "redis-cache" keeps what may be (cached
# searches and geocoding answers) under an LRU policy, in memory only
# (scripts/redis-cache.conf).
start_redis() {  # name, port, the variable that sets the port
  local pidfile="$STATE/$1.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "$1 already running on 127.0.0.1:$2"
    return
  fi
  require_free_port "$2" "$3"
  say "starting $1 on 127.0.0.1:$2"
  mkdir -p "$STATE/$1"
  redis-server "$ROOT/scripts/$1.conf" --port "$2" --bind 127.0.0.1 \
    --daemonize yes --pidfile "$pidfile" --dir "$STATE/$1" \
    --logfile "$STATE/$1/redis.log" --requirepass "$(secret redis_password)"
  for _ in $(seq 50); do
    [ -s "$pidfile" ] && redis-cli -p "$2" --no-auth-warning \
      -a "$(secret redis_password)" ping >/dev/null 2>&1 && return
    sleep 0.1
  done
  say "$1 did not start; see $STATE/$1/redis.log"
  exit 1
}

stop_daemon() {  # name: a process "up" started, by its pid file
  local pidfile="$STATE/$1.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $1"
    kill "$pid"
  fi
  rm -f "$pidfile"
}

# The mail server of development and tests: it keeps every message as an .eml file in
# .devstack/mail (scripts/mail_sink.py, aiosmtpd from the virtualenv).
start_mail() {
  local pidfile="$STATE/mail.pid" python="$ROOT/.venv/bin/python"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "mail server already running on 127.0.0.1:$SMTP_PORT"
    return
  fi
  if ! [ -x "$python" ] || ! "$python" -c "import aiosmtpd" 2>/dev/null; then
    say "no mail server: it runs from the virtualenv (make install), none here yet"
    return 1
  fi
  require_free_port "$SMTP_PORT" DEVSTACK_SMTP_PORT
  say "starting the mail server on 127.0.0.1:$SMTP_PORT (messages in $STATE/mail)"
  mkdir -p "$STATE/mail"
  nohup "$python" "$ROOT/scripts/mail_sink.py" --port "$SMTP_PORT" --dir "$STATE/mail" \
    >"$STATE/mail.log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null && return
    sleep 0.1
  done
  say "the mail server did not start; see $STATE/mail.log"
  exit 1
}

replica_data() { echo "$(pg_base)/replica"; }

create_replica() {  # a base backup of the running primary, set up to stream from it
  local bindir=$1 data=$2 password
  password=$(secret replication_password)
  say "creating a streaming replica in $data (pg_basebackup)"
  psql_on "$PG_PORT" <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$REPLICATION_USER') THEN
    CREATE ROLE $REPLICATION_USER WITH REPLICATION LOGIN;
  END IF;
END \$\$;
ALTER ROLE $REPLICATION_USER PASSWORD '$password';
SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
  WHERE slot_name = '$REPLICATION_SLOT';
SQL
  # -R writes standby.signal and the connection settings; the slot (-C -S) keeps the WAL
  # the replica has not received yet while it is stopped. A fast checkpoint starts the copy
  # at once, not at the primary's next scheduled checkpoint (up to five minutes away).
  as_owner env PGPASSWORD="$password" "$bindir/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" \
    -U "$REPLICATION_USER" -D "$data" -X stream -C -S "$REPLICATION_SLOT" -R --checkpoint=fast
  # The password rides along in the replica's own configuration, which only its owner reads.
  as_owner tee -a "$data/postgresql.auto.conf" >/dev/null <<CONF
primary_conninfo = 'host=127.0.0.1 port=$PG_PORT user=$REPLICATION_USER password=$password application_name=$REPLICATION_SLOT'
CONF
}

start_replica() {
  local bindir data
  bindir=$(pg_bindir)
  data=$(replica_data)
  if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "replica already running on 127.0.0.1:$REPLICA_PORT"
    return
  fi
  [ -f "$data/PG_VERSION" ] || create_replica "$bindir" "$data"
  require_free_port "$REPLICA_PORT" DEVSTACK_REPLICA_PORT
  say "starting the replica on 127.0.0.1:$REPLICA_PORT"
  as_owner "$bindir/pg_ctl" -D "$data" -l "$(pg_base)/replica.log" -w -t 60 start \
    -o "-p $REPLICA_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$(pg_base)/socket" \
    >/dev/null
}

stop_replica() {
  local bindir data
  bindir=$(pg_bindir) || return 0
  data=$(replica_data)
  if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "stopping the replica"
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
  fi
}

replica() {
  case "${1:-}" in
    pause) psql_on "$REPLICA_PORT" -c "SELECT pg_wal_replay_pause()" >/dev/null ;;
    resume) psql_on "$REPLICA_PORT" -c "SELECT pg_wal_replay_resume()" >/dev/null ;;
    stop) stop_replica ;;
    start) start_replica ;;
    *) echo "usage: $0 replica pause|resume|stop|start" >&2; exit 2 ;;
  esac
}

# PgBouncer: one per server, each with a wildcard entry, so that any database on it (the
# test suite makes its own) is reached by name. PgBouncer refuses to run as root.
pooler_dir() { echo "$(dirname "$(pg_base)")/pgbouncer"; }

pooler_pid() {  # the pid of a running PgBouncer by name, or nothing
  local pidfile pid
  pidfile="$(pooler_dir)/$1.pid"
  [ -s "$pidfile" ] && pid=$(cat "$pidfile") && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

write_pooler_config() {  # name, listen port, server port
  local dir
  dir=$(pooler_dir)
  as_owner tee "$dir/$1.ini" >/dev/null <<INI
[databases]
* = host=127.0.0.1 port=$3

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $2
unix_socket_dir = $dir
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
admin_users = $DB_USER
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
; A server that went away is tried again after a second, not fifteen, and a client waits
; at most five seconds for a server connection (not two minutes) before it gets an error.
server_login_retry = 1
query_wait_timeout = 5
pidfile = $dir/$1.pid
logfile = $dir/$1.log
INI
}

start_pooler() {  # name, listen port, server port, the variable that sets the listen port
  local dir
  dir=$(pooler_dir)
  if pooler_pid "$1" >/dev/null; then
    say "pgbouncer ($1) already running on 127.0.0.1:$2"
    return
  fi
  require_free_port "$2" "$4"
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown "$(pg_owner)" "$dir"
  (umask 077; echo "\"$DB_USER\" \"$(secret pg_password)\"" | as_owner tee "$dir/userlist.txt" >/dev/null)
  write_pooler_config "$1" "$2" "$3"
  say "starting pgbouncer ($1) on 127.0.0.1:$2 in front of port $3"
  as_owner pgbouncer -q -d "$dir/$1.ini"
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return
    sleep 0.1
  done
  say "pgbouncer ($1) did not start; see $dir/$1.log"
  exit 1
}

restart_poolers() {  # online: the new process takes the sockets and connections over
  local name dir
  dir=$(pooler_dir)
  for name in primary replica; do
    if pooler_pid "$name" >/dev/null; then
      say "restarting pgbouncer ($name)"
      as_owner pgbouncer -q -d -R "$dir/$name.ini"
    fi
  done
}

stop_poolers() {
  local name pid
  for name in primary replica; do
    if pid=$(pooler_pid "$name"); then
      say "stopping pgbouncer ($name)"
      kill "$pid"
    fi
  done
}

url() {  # port: the project's database on it
  echo "postgresql+asyncpg://$DB_USER:$(secret pg_password)@127.0.0.1:$1/$DB_NAME"
}

up() {
  mkdir -p "$STATE"
  if [ "${DEVSTACK_NGINX:-0}" = 1 ]; then  # make serve-cluster runs it in front of the API
    command -v nginx >/dev/null || apt_install nginx
  fi
  if [ "${DEVSTACK_BROWSER:-0}" = 1 ]; then  # the map page's browser test drives it
    command -v chromium >/dev/null || apt_install chromium
  fi
  if [ "${DEVSTACK_PROMTOOL:-0}" = 1 ]; then  # the alerting rules' unit tests run it
    command -v promtool >/dev/null || apt_install --no-install-recommends prometheus
  fi
  if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then
    say "using DATABASE_URL and REDIS_URL from the environment"
  else
    ensure_packages
    start_postgres
    start_redis redis "$REDIS_PORT" DEVSTACK_REDIS_PORT
    start_redis redis-cache "$REDIS_CACHE_PORT" DEVSTACK_REDIS_CACHE_PORT
    DATABASE_URL=$(url "$PG_PORT")
    REDIS_URL="redis://:$(secret redis_password)@127.0.0.1:$REDIS_PORT/0"
    REDIS_CACHE_URL="redis://:$(secret redis_password)@127.0.0.1:$REDIS_CACHE_PORT/0"
    if [ "${DEVSTACK_REPLICA:-0}" = 1 ]; then
      start_replica
      DATABASE_REPLICA_URL=$(url "$REPLICA_PORT")
    fi
    if [ "${DEVSTACK_PGBOUNCER:-0}" = 1 ]; then
      start_pooler primary "$POOLER_PORT" "$PG_PORT" DEVSTACK_PGBOUNCER_PORT
      echo "DATABASE_DIRECT_URL=$DATABASE_URL"
      DATABASE_URL=$(url "$POOLER_PORT")
      if [ "${DEVSTACK_REPLICA:-0}" = 1 ]; then
        start_pooler replica "$REPLICA_POOLER_PORT" "$REPLICA_PORT" \
          DEVSTACK_REPLICA_PGBOUNCER_PORT
        echo "DATABASE_REPLICA_DIRECT_URL=$DATABASE_REPLICA_URL"
        DATABASE_REPLICA_URL=$(url "$REPLICA_POOLER_PORT")
      fi
      echo "DB_TRANSACTION_POOLER=true"
    fi
  fi
  echo "DATABASE_URL=$DATABASE_URL"
  [ -z "${DATABASE_REPLICA_URL:-}" ] || echo "DATABASE_REPLICA_URL=$DATABASE_REPLICA_URL"
  echo "REDIS_URL=$REDIS_URL"
  [ -z "${REDIS_CACHE_URL:-}" ] || echo "REDIS_CACHE_URL=$REDIS_CACHE_URL"
  if [ -n "${SMTP_URL:-}" ]; then
    echo "SMTP_URL=$SMTP_URL"
  elif start_mail; then
    echo "SMTP_URL=smtp://127.0.0.1:$SMTP_PORT"
    echo "MAIL_DIR=$STATE/mail"
  fi
}

down() {
  local bindir
  stop_poolers
  stop_replica
  if [ -f "$STATE/pg.datadir" ] && bindir=$(pg_bindir); then
    local data
    data=$(cat "$STATE/pg.datadir")
    if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      say "stopping postgres"
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
  fi
  stop_daemon redis
  stop_daemon redis-cache
  stop_daemon mail
}

[ "${1:-}" = --library ] && return 0  # sourced by scripts/backup.sh for the functions above

case "${1:-}" in
  up) up ;;
  down) down ;;
  replica) replica "${2:-}" ;;
  pgbouncer)
    [ "${2:-}" = restart ] || { echo "usage: $0 pgbouncer restart" >&2; exit 2; }
    restart_poolers ;;
  secret-key)  # the app refuses keys under 32 bytes: an older, shorter one is made anew
    mkdir -p "$STATE"
    if [ -f "$STATE/secret_key" ] && [ "$(wc -c <"$STATE/secret_key")" -lt 48 ]; then
      rm -f "$STATE/secret_key"
    fi
    secret secret_key ;;
  *) echo "usage: $0 up|down|replica …|pgbouncer restart|secret-key" >&2; exit 2 ;;
esac
