#!/usr/bin/env bash
# Start a local PostgreSQL (Debian's package) for the distributed-search test and print its URL.
# Usage: export AUTOCROP_PG_URL=$(bash .ci/postgres.sh)
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
ver=$(ls /usr/lib/postgresql | sort -V | tail -1)
pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >&2
pg_ctlcluster "$ver" main start >&2 || true
for _ in $(seq 1 30); do su postgres -c "pg_isready -q" && break; sleep 1; done
su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='autocrop'\"" | grep -q 1 \
  || su postgres -c "psql -qc \"CREATE USER autocrop WITH PASSWORD 'autocrop'\"" >&2
su postgres -c "psql -tAc \"SELECT 1 FROM pg_database WHERE datname='autocrop'\"" | grep -q 1 \
  || su postgres -c "createdb -O autocrop autocrop" >&2
echo "postgresql+psycopg2://autocrop:autocrop@127.0.0.1:5432/autocrop"
