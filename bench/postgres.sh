#!/usr/bin/env bash
# The seed workload (bench/run.sh) on a SQLite file, then on a PostgreSQL database, and the
# ratio of their wall times (the issue's target: PostgreSQL within 10% of SQLite).
#
#   EVALCTL_TEST_POSTGRES=postgres://user:pw@127.0.0.1:5432/postgres?sslmode=disable bench/postgres.sh
#
# The admin URL's role must be able to create databases; a fresh database is made and dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${EVALCTL_TEST_POSTGRES:?"set EVALCTL_TEST_POSTGRES to a PostgreSQL admin URL"}
command -v psql >/dev/null || { echo "bench: needs psql (apt-get install postgresql-client)" >&2; exit 2; }
db="evalctl_bench_$$"
psql -q "$admin" -c "CREATE DATABASE $db"
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
url=$(echo "$admin" | sed -E "s#/[^/?]+(\?|$)#/$db\1#")

lite=$(bench/run.sh)
pg=$(STORE="$url" bench/run.sh)
echo "== SQLite";     echo "$lite"
echo "== PostgreSQL"; echo "$pg"
wl=$(echo "$lite" | awk '/^wall time/ {print $3}')
wp=$(echo "$pg" | awk '/^wall time/ {print $3}')
awk -v l="$wl" -v p="$wp" 'BEGIN { printf "== PostgreSQL ÷ SQLite wall time: %.3f (target ≤ 1.10)\n", p / l }'
