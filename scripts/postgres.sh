#!/usr/bin/env bash
# The project's own PostgreSQL server: never assumes one is running, never touches another's data.
#   scripts/postgres.sh start [DATA_DIR] [PORT]   initdb on first use, start if not running
#   scripts/postgres.sh stop  [DATA_DIR]
#   scripts/postgres.sh bindir                    where the server binaries are
# It listens on 127.0.0.1 only, with superuser `etl` and trust authentication: an embedded,
# single-user stack for the demo and the tests, not a production server.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  done
  d="$(dirname "$(command -v pg_ctl 2>/dev/null || echo /nonexistent/x)")"
  [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
  return 1
}

cmd="${1:-start}"
DATA_DIR="${2:-$ETL_LOCAL_DIR/postgres}"
PORT="${3:-${ETL_PG_PORT:-54329}}"

if [ "$cmd" = bindir ]; then bindir; exit $?; fi
BIN="$(bindir)" || { echo "PostgreSQL server binaries not found: run scripts/bootstrap.sh" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, run it as an unprivileged system user.
as_pg() { "$@"; }
if [ "$(id -u)" = 0 ]; then
  PG_USER=postgres
  command -v runuser >/dev/null || { echo "runuser not found (is /usr/sbin on PATH?): needed to run PostgreSQL as $PG_USER" >&2; exit 1; }
  id "$PG_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$PG_USER"
  as_pg() { runuser -u "$PG_USER" -- "$@"; }
  mkdir -p "$DATA_DIR"
  chown "$PG_USER" "$DATA_DIR"
  chmod 700 "$DATA_DIR"
  if ! as_pg test -w "$DATA_DIR"; then
    echo "user $PG_USER cannot reach $DATA_DIR (a parent folder is not traversable); set ETL_LOCAL_DIR elsewhere" >&2
    exit 1
  fi
fi

case "$cmd" in
  start)
    if [ ! -f "$DATA_DIR/PG_VERSION" ]; then
      as_pg "$BIN/initdb" -D "$DATA_DIR" -U etl --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
      cat >> "$DATA_DIR/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 100
CONF
    fi
    if as_pg "$BIN/pg_ctl" -D "$DATA_DIR" status >/dev/null 2>&1; then
      echo "PostgreSQL already running on port $(sed -n 4p "$DATA_DIR/postmaster.pid")" >&2
    else
      if ! as_pg "$BIN/pg_ctl" -D "$DATA_DIR" -o "-p $PORT" -l "$DATA_DIR/server.log" -w -t 60 start >/dev/null; then
        echo "PostgreSQL did not start on 127.0.0.1:$PORT (data in $DATA_DIR); its log ends:" >&2
        tail -n 4 "$DATA_DIR/server.log" >&2
        if grep -q "Address already in use" "$DATA_DIR/server.log" 2>/dev/null; then
          echo "port $PORT is taken (another checkout's server?): set ETL_PG_PORT to a free port" >&2
        fi
        exit 1
      fi
      echo "PostgreSQL started on 127.0.0.1:$PORT, data in $DATA_DIR" >&2
    fi
    ;;
  stop)
    as_pg "$BIN/pg_ctl" -D "$DATA_DIR" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *) echo "usage: $0 start|stop|bindir [DATA_DIR] [PORT]" >&2; exit 2 ;;
esac
