#!/usr/bin/env bash
# Project-local PostGIS and Redis for development and tests.
#
#   devstack.sh up     make both available (idempotent) and print DATABASE_URL=/REDIS_URL= lines
#   devstack.sh down   stop only what "up" started here (by pid file)
#   devstack.sh secret-key   a local SECRET_KEY for development, made once
#
# When DATABASE_URL and REDIS_URL are both set, "up" uses them and starts nothing.
# Progress goes to stderr so that stdout stays shell-sourceable.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE="$ROOT/.devstack"
PG_PORT=${DEVSTACK_PG_PORT:-54329}
REDIS_PORT=${DEVSTACK_REDIS_PORT:-63799}
DB_NAME=equinet
DB_USER=equinet

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
  command -v redis-server >/dev/null || apt_install redis-server
  command -v curl >/dev/null || apt_install curl  # the docs' examples are curl commands
  command -v wrk >/dev/null || apt_install wrk  # make bench loads the API with it
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
    say "postgres already running on 127.0.0.1:$PG_PORT"
    return
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
  require_free_port "$PG_PORT" DEVSTACK_PG_PORT
  say "starting postgres on 127.0.0.1:$PG_PORT"
  as_owner "$bindir/pg_ctl" -D "$data" -l "$base/postgres.log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$base/socket" >/dev/null
  if ! PGPASSWORD=$password "$bindir/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" -d postgres \
      -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'" | grep -q 1; then
    PGPASSWORD=$password "$bindir/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$DB_USER" "$DB_NAME"
  fi
}

start_redis() {
  local pidfile="$STATE/redis.pid"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    say "redis already running on 127.0.0.1:$REDIS_PORT"
    return
  fi
  require_free_port "$REDIS_PORT" DEVSTACK_REDIS_PORT
  say "starting redis on 127.0.0.1:$REDIS_PORT"
  mkdir -p "$STATE/redis"
  redis-server "$ROOT/scripts/redis.conf" --port "$REDIS_PORT" --bind 127.0.0.1 \
    --daemonize yes --pidfile "$pidfile" --dir "$STATE/redis" \
    --logfile "$STATE/redis/redis.log" --requirepass "$(secret redis_password)"
  for _ in $(seq 50); do
    [ -s "$pidfile" ] && redis-cli -p "$REDIS_PORT" --no-auth-warning \
      -a "$(secret redis_password)" ping >/dev/null 2>&1 && return
    sleep 0.1
  done
  say "redis did not start; see $STATE/redis/redis.log"
  exit 1
}

up() {
  if [ -n "${DATABASE_URL:-}" ] && [ -n "${REDIS_URL:-}" ]; then
    say "using DATABASE_URL and REDIS_URL from the environment"
  else
    mkdir -p "$STATE"
    ensure_packages
    start_postgres
    start_redis
    DATABASE_URL="postgresql+asyncpg://$DB_USER:$(secret pg_password)@127.0.0.1:$PG_PORT/$DB_NAME"
    REDIS_URL="redis://:$(secret redis_password)@127.0.0.1:$REDIS_PORT/0"
  fi
  echo "DATABASE_URL=$DATABASE_URL"
  echo "REDIS_URL=$REDIS_URL"
}

down() {
  local bindir
  if [ -f "$STATE/pg.datadir" ] && bindir=$(pg_bindir); then
    local data
    data=$(cat "$STATE/pg.datadir")
    if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      say "stopping postgres"
      as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null
    fi
  fi
  if [ -f "$STATE/redis.pid" ]; then
    local pid
    pid=$(cat "$STATE/redis.pid")
    if kill -0 "$pid" 2>/dev/null; then
      say "stopping redis"
      kill "$pid"
    fi
    rm -f "$STATE/redis.pid"
  fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  secret-key)  # the app refuses keys under 32 bytes: an older, shorter one is made anew
    mkdir -p "$STATE"
    [ "$(wc -c <"$STATE/secret_key" 2>/dev/null || echo 0)" -ge 48 ] || rm -f "$STATE/secret_key"
    secret secret_key ;;
  *) echo "usage: $0 up|down|secret-key" >&2; exit 2 ;;
esac
