#!/usr/bin/env bash
# Compiles spark_jobs/jvm/src into spark_jobs/jvm/analytics-jobs.jar (the ingest's fast JSON reader)
# against the installed pyspark's jars. Skips when the jar is newer than every source file.
#   scripts/build_jar.sh [--force]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
src="$REPO_ROOT/spark_jobs/jvm/src"
jar="$REPO_ROOT/spark_jobs/jvm/analytics-jobs.jar"
if [ "${1:-}" != "--force" ] && [ -f "$jar" ] && [ -z "$(find "$src" -newer "$jar" -name '*.java')" ]; then
  exit 0
fi
[ -n "${SPARK_HOME:-}" ] && [ -d "$SPARK_HOME/jars" ] || { echo "[build_jar] no SPARK_HOME/jars: run scripts/bootstrap.sh" >&2; exit 1; }
command -v javac >/dev/null || { echo "[build_jar] javac not found (install a JDK 17)" >&2; exit 1; }
classes="$(mktemp -d)"
trap 'rm -rf "$classes"' EXIT
javac --release 17 -d "$classes" -cp "$SPARK_HOME/jars/*" $(find "$src" -name '*.java')
jar cf "$jar.tmp" -C "$classes" .
mv "$jar.tmp" "$jar"
echo "[build_jar] wrote $jar" >&2
