#!/usr/bin/env bash
# The project's own S3-compatible object store (S3Proxy from Maven Central, filesystem backend):
# never assumes one is running, never touches another's data.
#   scripts/s3.sh start    resolve the pinned server (cached), configure, create the buckets, start, wait
#   scripts/s3.sh stop     stop exactly the recorded pid and wait for it to exit
#   scripts/s3.sh status   exit 3 when not running
#   scripts/s3.sh resolve  only resolve and check the server's and Spark's S3A connector's jars (bootstrap)
#   scripts/s3.sh lock     rewrite scripts/s3_server/ and scripts/s3a_connector/dependencies.lock
# Listens on 127.0.0.1:ETL_S3_PORT (19300); buckets ETL_S3_BUCKETS (etl); data and the generated
# credentials (credentials.json, 0600) in ETL_S3_DIR (.local/s3). See scripts/s3_server.py.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
exec "$(command -v python3.11 || command -v python3)" "$REPO_ROOT/scripts/s3_server.py" "$@"
