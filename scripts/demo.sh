#!/usr/bin/env bash
# The README's first command: set up everything on a fresh machine and run daily_analytics_etl for
# one generated day on the embedded default stack (local PostgreSQL, the project's Cassandra node,
# Spark in local mode, SQLite Airflow metadata). Options go to scripts/demo.py (--date, --users,
# --events, ..., --no-cassandra).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$REPO_ROOT/scripts/bootstrap.sh"
"$REPO_ROOT/scripts/postgres.sh" start "$ETL_LOCAL_DIR/postgres" "${ETL_PG_PORT:-54329}"
exec "$VENV/bin/python" "$REPO_ROOT/scripts/demo.py" "$@"
