"""What a failed job tells its caller: whether a retry could help, and a message naming the cause.

Spark's own error for a corrupt input is a page of Java frames with the file name far above the
root cause. The entry points catch what ends them, reduce it with `describe` to one line that names
the file and the fault, print it, and write it as JSON to `--error-file`; the Airflow side
(`analytics_etl.spark`) reads that file and fails the task without retries when the fault is
deterministic (the same input fails the same way every time).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

# Spark 4's error for an input it could not read, and the file it names.
_FAILED_READ = re.compile(r"\[FAILED_READ_FILE\.(\w+)\][^\n]*?reading file (\S+?)\.?(?:\s|$)")
_CAUSE = re.compile(r"^Caused by: ([\w.$]+(?:Exception|Error))(?::\s*(.*))?$", re.MULTILINE)
# Root causes that mean the bytes of the file are wrong: reading them again fails the same way.
_CORRUPT = re.compile(
    r"EOFException|ZipException|Not in GZIP format|not a gzip file|CRC failure|unknown gzip format|"
    r"incorrect header check|invalid block type|invalid distance|invalid stored block|"
    r"not a Parquet file|Could not read footer|ParquetDecodingException|CANNOT_READ_FILE_FOOTER|"
    r"Corrupt|corrupt|MalformedInputException",
)


@dataclass(frozen=True)
class Failure:
    deterministic: bool
    message: str


class DeterministicError(Exception):
    """An error the same input reproduces: no retry can fix it."""


def _root_cause(text: str) -> str | None:
    causes = _CAUSE.findall(text)
    if not causes:
        return None
    name, detail = causes[-1]
    return f"{name}: {detail.strip()}" if detail.strip() else name


def describe(error: BaseException) -> Failure:
    """One line for a failure, and whether it is deterministic."""
    if isinstance(error, DeterministicError | FileNotFoundError | NotADirectoryError):
        return Failure(True, str(error))
    text = str(error)
    read = _FAILED_READ.search(text)
    if read:
        kind, path = read.groups()
        cause = _root_cause(text) or kind.lower()
        name = Path(path.removeprefix("file:").removeprefix("//")).name
        deterministic = bool(
            _CORRUPT.search(cause) or _CORRUPT.search(kind) or kind == "CANNOT_READ_FILE_FOOTER"
        )
        fault = (
            "the file is truncated or corrupt; the producer must replace it"
            if deterministic
            else "read error"
        )
        return Failure(deterministic, f"cannot read drop file {name} ({path}): {cause} - {fault}")
    first = text.strip().splitlines()[0] if text.strip() else ""
    cause = _root_cause(text)
    message = f"{type(error).__name__}: {first}" + (f" (caused by {cause})" if cause else "")
    return Failure(False, message[:2000])


def write_error_file(path: str | None, failure: Failure) -> None:
    """Atomically write `failure` as JSON (a reader never sees half a file); no path, no file."""
    if not path:
        return
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(asdict(failure), out)
    os.replace(tmp, target)
