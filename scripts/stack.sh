#!/usr/bin/env bash
# The README's third command: a local production deployment on this machine, without Docker.
#   scripts/stack.sh up        PostgreSQL (metadata, source, analytics), a Cassandra node, a Spark standalone master and two
#                              workers, Airflow api-server, scheduler, dag-processor and triggerer
#                              (LocalExecutor); connections, variables and the Spark pool; prints the
#                              UI address, login and log folder. Running it again is harmless.
#   scripts/stack.sh down      stops exactly what `up` started, by pid
#   scripts/stack.sh status    what is running (exit 3 when something is not)
#   scripts/stack.sh airflow … the Airflow CLI against the deployment (e.g. dags trigger, backfill create)
#   eval "$(scripts/stack.sh env)"   points this shell's `airflow` (the venv's, first on PATH) at the deployment
# Ports and sizes: ETL_STACK_CASSANDRA_PORT (19142; its own node, unless CASSANDRA_HOST names one),
# ETL_STACK_API_PORT (8080), ETL_STACK_SPARK_PORT (7077), ETL_STACK_SPARK_UI_PORT
# (8081; workers on the next ports), ETL_PG_PORT (54329), ETL_STACK_SPARK_SLOTS (1),
# ETL_STACK_PARALLELISM (Airflow's task slots: 2 per core, at least 4); everything
# lives under ETL_STACK_DIR (.local/stack) and binds to 127.0.0.1.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
if [ "${1:-}" = up ]; then "$REPO_ROOT/scripts/bootstrap.sh"; fi
exec "$VENV/bin/python" "$REPO_ROOT/scripts/stack.py" "$@"
