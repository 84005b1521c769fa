#!/usr/bin/env bash
# Several API instances behind nginx, as production runs them (make serve-cluster).
#
#   INSTANCES=N  granian instances, each with WORKERS workers, on loopback ports from
#                INSTANCE_PORT (PORT + 1 unless set); one that dies is started again
#   HOST:PORT    where nginx listens; it spreads requests over the instances, retries an
#                idempotent request on another instance when one fails to answer, and
#                tells them the client's address in X-Forwarded-For (TRUSTED_PROXIES)
#   TLS=1        HTTPS on HOST:PORT, with TLS_CERT and TLS_KEY (PEM files), or else a
#                self-signed certificate for localhost made once in TLS_DIR
#                (.devstack/tls); HTTP on HOST:HTTP_PORT (8080) answers with a redirect to
#                HTTPS, and HTTPS answers carry HSTS
#
# Runs in the foreground until interrupted, then stops everything it started. SIGHUP to its
# pid (in CLUSTER_DIR/serve.pid; make roll-cluster sends it) restarts the instances one by
# one without losing a request. The service
# URLs come from the environment (the Makefile sources scripts/devstack.sh up, which
# installs Debian's nginx with DEVSTACK_NGINX=1). Its files go to CLUSTER_DIR
# (.devstack/cluster): nginx's configuration and logs, and each instance's process group id
# in instance-<n>.pid (the failure drills kill one). One job worker (python -m app.jobs)
# runs beside them, supervised the same way (worker.pid, worker.log).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${CLUSTER_DIR:-$ROOT/.devstack/cluster}
INSTANCES=${INSTANCES:-2}
WORKERS=${WORKERS:-1}
HOST=${HOST:-127.0.0.1}
PORT=${PORT:-8000}
INSTANCE_PORT=${INSTANCE_PORT:-$((PORT + 1))}
HEADER_TIMEOUT_MS=${HEADER_TIMEOUT_MS:-10000}
TLS=${TLS:-0}
TLS_DIR=${TLS_DIR:-$ROOT/.devstack/tls}
HTTP_PORT=${HTTP_PORT:-8080}

say() { echo "serve-cluster: $*" >&2; }

command -v nginx >/dev/null || { say "nginx is missing: DEVSTACK_NGINX=1 devstack.sh up installs it"; exit 1; }

rm -rf "$DIR" && mkdir -p "$DIR/temp"

# A certificate for development: self-signed, for localhost and the loopback addresses,
# made once. Production passes a real one (TLS_CERT, TLS_KEY), e.g. from ACME.
self_signed_certificate() {
  TLS_CERT=$TLS_DIR/localhost.crt TLS_KEY=$TLS_DIR/localhost.key
  [ -s "$TLS_CERT" ] && [ -s "$TLS_KEY" ] && return
  say "making a self-signed certificate for localhost in $TLS_DIR"
  mkdir -p "$TLS_DIR"
  (umask 077; openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -days 365 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null)
}

# The server blocks: plain HTTP, or HTTPS plus a plain HTTP one that only redirects to it.
server_blocks() {
  local proxied=$1 authority=\$host
  [ "$PORT" = 443 ] || authority="\$host:$PORT"
  if [ "$TLS" != 1 ]; then
    printf '  server {\n    listen %s:%s;\n%s\n  }\n' "$HOST" "$PORT" "$proxied"
    return
  fi
  cat <<NGINX
  server {
    listen $HOST:$HTTP_PORT;
    location / { return 301 https://$authority\$request_uri; }
  }
  server {
    listen $HOST:$PORT ssl http2;
    ssl_certificate $TLS_CERT;
    ssl_certificate_key $TLS_KEY;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers off;
    ssl_session_cache shared:TLS:10m;
    ssl_session_timeout 1d;
    ssl_session_tickets off;
    add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
$proxied
  }
NGINX
}

write_nginx_config() {  # [n]: with instance n out of the upstream (a rolling restart)
  local upstreams="" n user="" out
  for n in $(seq "$INSTANCES"); do
    out=""
    [ "$n" = "${1:-}" ] && out=" down"
    upstreams+="    server 127.0.0.1:$((INSTANCE_PORT + n - 1)) max_fails=1 fail_timeout=2s$out;"$'\n'
  done
  if [ "$(id -u)" -eq 0 ]; then  # workers drop to nobody, who must write the temp files
    user="user nobody nogroup;"
    chown -R nobody:nogroup "$DIR/temp"
  fi
  cat >"$DIR/nginx.conf" <<NGINX
$user
worker_processes 1;
daemon off;
pid $DIR/nginx.pid;
error_log $DIR/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  client_body_temp_path $DIR/temp/body;
  proxy_temp_path $DIR/temp/proxy;
  fastcgi_temp_path $DIR/temp/fastcgi;
  uwsgi_temp_path $DIR/temp/uwsgi;
  scgi_temp_path $DIR/temp/scgi;
  # Slow or silent clients are nginx's to close, not the API's.
  client_header_timeout 10s;
  client_body_timeout 10s;
  keepalive_timeout 30s;
  client_max_body_size 64k;

  upstream api {
$upstreams    keepalive 64;
  }

$(server_blocks "$(proxied_location)")
}
NGINX
}

proxied_location() {
  cat <<NGINX
    location / {
      proxy_pass http://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # The host and port the client asked for, and its scheme: the API's links (TileJSON)
      # point where the client can follow them.
      proxy_set_header Host \$http_host;
      proxy_set_header X-Forwarded-Proto \$scheme;
      # The edge: the client is whoever connected; an X-Forwarded-For it sent is dropped.
      proxy_set_header X-Forwarded-For \$remote_addr;
      # An instance that refuses, drops or stalls a request: idempotent requests (GET,
      # HEAD, PUT, DELETE) go to the next one; a POST is never sent twice.
      proxy_next_upstream error timeout http_502 http_504;
      proxy_next_upstream_tries 3;
      proxy_connect_timeout 1s;
      proxy_read_timeout 30s;
    }
NGINX
}

instance_port() { echo $((INSTANCE_PORT + $1 - 1)); }

run_instance() {  # n: granian on its port, started again whenever it exits
  local n=$1 port
  port=$(instance_port "$1")
  local metrics="$DIR/metrics-$n"
  while true; do
    rm -rf "$metrics" && mkdir -p "$metrics"
    # A process group of its own: stopping an instance stops its workers with it.
    PROMETHEUS_MULTIPROC_DIR=$metrics setsid "$ROOT/.venv/bin/granian" --interface asgi --factory \
      --host 127.0.0.1 --port "$port" --workers "$WORKERS" \
      --http1-header-read-timeout "$HEADER_TIMEOUT_MS" --log-level warning \
      app.main:create_app &
    echo $! >"$DIR/instance-$n.pid"
    wait $! || true
    [ -f "$DIR/stopping" ] && return
    say "instance $n (port $port) exited; starting it again"
    sleep 1
  done
}

run_worker() {  # the job worker (python -m app.jobs), started again whenever it exits
  while true; do
    PUBLIC_BASE_URL=${PUBLIC_BASE_URL:-$scheme://$HOST:$PORT} setsid "$ROOT/.venv/bin/python" \
      -m app.jobs >>"$DIR/worker.log" 2>&1 &
    echo $! >"$DIR/worker.pid"
    wait $! || true
    [ -f "$DIR/stopping" ] && return
    say "the job worker exited; starting it again"
    sleep 1
  done
}

answers() {  # n: whether instance n answers its health check
  curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$(instance_port "$1")/health" 2>/dev/null
}

reload_nginx() {  # new workers take the configuration; the old ones finish their requests
  nginx -p "$DIR" -e "$DIR/nginx-error.log" -c "$DIR/nginx.conf" -s reload
}

# A rolling restart (SIGHUP; make roll-cluster): one instance at a time is taken out of
# nginx's upstream, given DRAIN_S to finish what nginx's old workers sent it, stopped
# (granian finishes the requests it has), started again by its supervisor, and put back
# once it answers. The others serve meanwhile, so no request and no booking is lost.
DRAIN_S=${DRAIN_S:-2}
roll() {
  local n pid started
  if [ "$INSTANCES" -lt 2 ]; then
    say "a rolling restart needs two or more instances; not restarting"
    return
  fi
  started=$(date +%s)
  say "rolling restart of $INSTANCES instances"
  # One reload a step (this instance out, the one before back in): a reload also closes
  # nginx's idle client connections, and a request sent on one at that moment is unanswered.
  for n in $(seq "$INSTANCES"); do
    write_nginx_config "$n" && reload_nginx
    sleep "$DRAIN_S"
    pid=$(cat "$DIR/instance-$n.pid")
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 600); do
      [ "$(cat "$DIR/instance-$n.pid")" != "$pid" ] && answers "$n" && break
      sleep 0.1
    done
    answers "$n" || say "instance $n did not come back within a minute"
    say "instance $n restarted"
  done
  write_nginx_config && reload_nginx
  # The worker finishes its running jobs (or puts them back) and its supervisor starts it.
  kill -TERM -- "-$(cat "$DIR/worker.pid")" 2>/dev/null || true
  echo $(($(date +%s) - started)) >"$DIR/rolled.tmp"
  mv "$DIR/rolled.tmp" "$DIR/rolled"  # whole: a reader never finds it empty
  say "rolling restart done in $(cat "$DIR/rolled") s"
}

stop_all() {
  touch "$DIR/stopping"
  [ -s "$DIR/nginx.pid" ] && kill "$(cat "$DIR/nginx.pid")" 2>/dev/null || true
  for pidfile in "$DIR"/instance-*.pid "$DIR/worker.pid"; do
    [ -s "$pidfile" ] && kill -- "-$(cat "$pidfile")" 2>/dev/null || true
  done
  wait || true
}
trap stop_all EXIT INT TERM
trap roll HUP
echo $$ >"$DIR/serve.pid"

# Every instance shares Redis, so rate limits hold across them; without Redis each process
# allows its share. Only nginx, on loopback, is believed about client addresses.
export PROCESSES=$((INSTANCES * WORKERS)) GEOCODER_PROCESSES=$((INSTANCES * WORKERS))
export TRUSTED_PROXIES=${TRUSTED_PROXIES:-127.0.0.1/32}
for n in $(seq "$INSTANCES"); do
  run_instance "$n" &
done
scheme=http
if [ "$TLS" = 1 ]; then
  scheme=https
  [ -n "${TLS_CERT:-}" ] && [ -n "${TLS_KEY:-}" ] || self_signed_certificate
fi
if [ -n "${SMTP_URL:-}" ]; then
  run_worker &
else
  say "no job worker: it sends mail, and SMTP_URL is not set"
fi
write_nginx_config
say "nginx on $scheme://$HOST:$PORT in front of $INSTANCES instances (ports $INSTANCE_PORT-$((INSTANCE_PORT + INSTANCES - 1)))"
[ "$TLS" != 1 ] || say "http://$HOST:$HTTP_PORT redirects to it"
nginx -p "$DIR" -e "$DIR/nginx-error.log" -c "$DIR/nginx.conf" &
until [ -f "$DIR/stopping" ]; do  # a rolling restart's signal ends a wait, not the script
  wait || true
done
