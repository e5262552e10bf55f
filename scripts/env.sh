# Sourced by the other scripts: the paths and settings of the embedded default stack.
# It only exports variables; nothing here starts or installs anything.
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO_ROOT
export ETL_LOCAL_DIR="${ETL_LOCAL_DIR:-$REPO_ROOT/.local}"
export VENV="${VENV:-$REPO_ROOT/.venv}"
export PATH="$VENV/bin:$PATH"

# spark-submit inside a virtualenv needs SPARK_HOME pointing at the installed pyspark.
if [ -x "$VENV/bin/python" ] && [ -z "${SPARK_HOME:-}" ]; then
  SPARK_HOME="$("$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.util, os
spec = importlib.util.find_spec("pyspark")
print(os.path.dirname(spec.origin) if spec else "")
PY
)"
  export SPARK_HOME
fi
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$VENV/bin/python}"
export PYSPARK_DRIVER_PYTHON="${PYSPARK_DRIVER_PYTHON:-$VENV/bin/python}"

# Airflow: a SQLite metadata database is enough for `airflow dags test`.
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ETL_LOCAL_DIR/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$REPO_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$REPO_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE="${AIRFLOW__CORE__UNIT_TEST_MODE:-False}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export PYTHONPATH="$REPO_ROOT/plugins:$REPO_ROOT/spark_jobs${PYTHONPATH:+:$PYTHONPATH}"
# GX would otherwise try to phone home with usage statistics.
export GX_ANALYTICS_ENABLED=false
