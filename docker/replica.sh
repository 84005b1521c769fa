#!/bin/bash
# A streaming replica: on its first start a base backup of the primary (-R writes
# standby.signal and the connection to it; the slot is the primary's, made at its first
# start), then a hot standby.
set -euo pipefail
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready -h postgis -U "$POSTGRES_USER" -q; do sleep 1; done
  PGPASSWORD=$REPLICATION_PASSWORD pg_basebackup -h postgis -U replicator -D "$PGDATA" \
    -X stream -S replica_1 -R
  chmod 0700 "$PGDATA"
fi
exec postgres -c hot_standby=on
