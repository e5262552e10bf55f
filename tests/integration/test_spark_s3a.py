"""A real spark-submit through SparkJobOperator writes Parquet to the real S3 store (the session's
S3Proxy) through Hadoop's S3A connector and reads it back; the store's secret appears in no task
output, on no command line and in no process list while the job runs."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from analytics_etl.spark import SPARK_CONF, SparkJobOperator
from analytics_etl.storage import spark_url

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APP = Path(__file__).parent / "spark_apps" / "s3a_roundtrip.py"


class ProcessList(threading.Thread):
    """`ps -eww -o pid=,args=` every 0.2 s while the job runs: the lines that hold the secret, the
    spark-submit processes seen, and the mode of each properties file they name."""

    def __init__(self, secret: str) -> None:
        super().__init__(daemon=True)
        self.secret, self.done = secret, threading.Event()
        self.leaks: list[str] = []
        self.spark_lines: set[str] = set()
        self.modes: dict[str, int] = {}

    def run(self) -> None:
        while not self.done.wait(0.2):
            listing = subprocess.run(
                ["ps", "-eww", "-o", "pid=,args="], capture_output=True, text=True
            ).stdout
            for line in listing.splitlines():
                if self.secret in line:
                    self.leaks.append(line)
                if "org.apache.spark.deploy.SparkSubmit" in line and str(APP) in line:
                    self.spark_lines.add(line)
                    for path in re.findall(r"--properties-file (\S+)", line):
                        try:
                            self.modes[path] = stat.S_IMODE(os.stat(path).st_mode)
                        except FileNotFoundError:
                            pass

    def stop(self) -> None:
        self.done.set()
        self.join()


def test_spark_writes_and_reads_parquet_on_the_store_and_its_secret_shows_nowhere(
    s3_server, s3_root, tmp_path, capfd, monkeypatch
):
    monkeypatch.delenv("AIRFLOW_CONN_SPARK_DEFAULT", raising=False)  # local[*]
    secret = s3_server.secret_key
    out, result = f"{spark_url(s3_root)}/numbers", tmp_path / "result.json"
    op = SparkJobOperator(
        task_id="s3a_roundtrip", conn_id="spark_default", application=str(APP), name="s3a_roundtrip",
        application_args=["--out", out, "--rows", "1000", "--result", str(result)],
        error_file=str(tmp_path / "error.json"), conf=SPARK_CONF,
    )  # fmt: skip
    processes = ProcessList(secret)
    processes.start()
    try:
        op.execute({})
    finally:
        processes.stop()

    # The job wrote to the store and read back what it wrote, through S3A.
    assert json.loads(result.read_text()) == {"rows": 1000, "id_sum": 499500, "texts": 1000, "scheme": "s3a"}
    prefix = s3_root.removeprefix(f"s3://{s3_server.bucket}/")
    keys = s3_server.keys(f"{prefix}/numbers/")  # the test's own client, not the platform's code
    assert f"{prefix}/numbers/_SUCCESS" in keys
    assert len([k for k in keys if k.endswith(".parquet")]) == 3, keys

    # The secret: not in the task's output (the operator's log and spark-submit's), ...
    captured = capfd.readouterr()
    output = captured.out + captured.err
    assert "Spark-Submit cmd" in output and "keys of aws_default in a 0600 properties file" in output
    assert secret not in output
    # ... not on the command line, which names the properties file instead, ...
    command = op._hook._build_spark_submit_command(str(APP))
    assert "--properties-file" in command and not any(secret in arg for arg in command)
    assert "spark.hadoop.fs.s3a.endpoint=" + s3_server.endpoint in command
    # ... not in the process list while it ran; the file was this user's only and is gone.
    assert processes.spark_lines, "the spark-submit JVM was never seen in ps"
    assert processes.leaks == []
    assert processes.modes and set(processes.modes.values()) == {0o600}, processes.modes
    assert not any(Path(path).exists() or Path(path).parent.exists() for path in processes.modes)
