#!/bin/bash
# The primary's first start (docker-entrypoint-initdb.d): a role the replica streams WAL as,
# allowed to connect for replication from the compose network, and the replica's slot,
# which keeps the WAL it has not received yet.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '$REPLICATION_PASSWORD';
SELECT pg_create_physical_replication_slot('replica_1');
SQL
echo "host replication replicator all scram-sha-256" >>"$PGDATA/pg_hba.conf"
