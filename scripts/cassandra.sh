#!/usr/bin/env bash
# The project's own Apache Cassandra node (5.0, from Maven Central's jars): never assumes one is
# running, never touches another's data.
#   scripts/cassandra.sh start    resolve the pinned server (cached), configure, start, wait for CQL
#   scripts/cassandra.sh stop     stop exactly the recorded pid and wait for it to exit
#   scripts/cassandra.sh status   exit 3 when not running
#   scripts/cassandra.sh resolve  only resolve and check the jars (scripts/bootstrap.sh does, once)
#   scripts/cassandra.sh lock     rewrite scripts/cassandra_server/dependencies.lock (after a version bump)
# Listens on 127.0.0.1 only: CQL ETL_CASSANDRA_PORT (19042), ETL_CASSANDRA_STORAGE_PORT (17000),
# ETL_CASSANDRA_JMX_PORT (17199); heap ETL_CASSANDRA_HEAP (1G); data in ETL_CASSANDRA_DIR
# (.local/cassandra). See scripts/cassandra_node.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$(command -v python3.11 || command -v python3)" "$REPO_ROOT/scripts/cassandra_node.py" "$@"
