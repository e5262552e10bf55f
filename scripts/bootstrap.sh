#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: Java, Maven, PostgreSQL binaries, Prometheus's servers, the
# pinned virtualenv, and the pinned jars of the Cassandra server, the S3 server and Spark's S3A connector.
# Re-running it is cheap: the virtualenv is rebuilt only when a requirements file changes.
#   scripts/bootstrap.sh                       set up
#   scripts/bootstrap.sh --refresh-constraints re-resolve requirements*.txt and rewrite constraints.txt
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$REPO_ROOT"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "missing $* and cannot install it here (needs root and apt-get): install it and run again"
    exit 1
  fi
  if [ ! -f "$ETL_LOCAL_DIR/.apt-updated" ]; then
    apt-get update -qq && mkdir -p "$ETL_LOCAL_DIR" && touch "$ETL_LOCAL_DIR/.apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Java for spark-submit, and its compiler for the ingest's JSON reader (spark_jobs/jvm).
if ! command -v java >/dev/null || ! command -v javac >/dev/null; then
  log "installing a Java 17 JDK for Spark"
  apt_install openjdk-17-jdk-headless
fi

# Maven resolves the pinned Apache Cassandra server (scripts/cassandra_server/pom.xml).
if ! command -v mvn >/dev/null; then
  log "installing Maven for the Cassandra server's jars"
  apt_install maven
fi

# PostgreSQL server binaries (the server itself is started by scripts/postgres.sh).
if [ -z "$(scripts/postgres.sh bindir 2>/dev/null)" ]; then
  log "installing PostgreSQL server binaries"
  apt_install postgresql
fi

# The browser the UI tests drive through Playwright (Debian's build; Playwright's own download is
# not reachable from the build machines).
if ! command -v chromium >/dev/null; then
  log "installing chromium for the browser tests"
  apt_install chromium
fi

# Prometheus, its Pushgateway and Alertmanager (docs/monitoring.md): the stack and the tests run the
# binaries themselves. Where an init system starts the packages' own services on the same default
# ports, the ones installed here are stopped and disabled.
if ! command -v prometheus >/dev/null || ! command -v prometheus-pushgateway >/dev/null \
    || ! command -v prometheus-alertmanager >/dev/null; then
  log "installing Prometheus, the Pushgateway and Alertmanager"
  apt_install --no-install-recommends prometheus prometheus-pushgateway prometheus-alertmanager
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus prometheus-pushgateway prometheus-alertmanager >/dev/null 2>&1 || true
  fi
fi

# Python 3.11 virtualenv with every package pinned.
PYTHON="${PYTHON:-$(command -v python3.11 || command -v python3)}"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
  || { log "Python 3.11 is required, $PYTHON is $("$PYTHON" --version)"; exit 1; }

stamp="$VENV/.requirements.sha256"
want="$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -d' ' -f1)"
if [ "${1:-}" = "--refresh-constraints" ]; then
  rm -rf "$ETL_LOCAL_DIR/resolve-venv"
  "$PYTHON" -m venv "$ETL_LOCAL_DIR/resolve-venv"
  "$ETL_LOCAL_DIR/resolve-venv/bin/pip" install -q -U pip
  "$ETL_LOCAL_DIR/resolve-venv/bin/pip" install -q -r requirements-dev.txt
  "$ETL_LOCAL_DIR/resolve-venv/bin/pip" freeze --exclude-editable > constraints.txt
  log "constraints.txt rewritten; run scripts/bootstrap.sh again to rebuild the virtualenv"
  exit 0
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  log "creating the virtualenv in $VENV (a few minutes on a fresh machine)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q -U pip wheel
  "$VENV/bin/pip" install -q -r requirements-dev.txt -c constraints.txt
  echo "$want" > "$stamp"
fi
# The ingest's fast JSON reader, compiled against the installed Spark (rebuilt when its source changes).
SPARK_HOME= scripts/build_jar.sh
# The Cassandra server's jars, resolved and checked once here (cached; nothing runs Maven after this).
scripts/cassandra.sh resolve
# The S3 server's jars and Spark's S3A connector (hadoop-aws and the AWS SDK bundle, ~630 MB), the same way.
scripts/s3.sh resolve
log "ready: $("$VENV/bin/python" --version), $(java -version 2>&1 | head -1)"
