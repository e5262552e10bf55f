"""The quality gate: one Great Expectations checkpoint over every output of a run, before any load.

The versioned GX project in `expectations/gx/` (a file data context) holds the four expectation
suites, one validation definition per output table and the checkpoint `daily_outputs_gate`. That
tree is read only here: runs of different dates validate at the same time in separate processes and
the repository may be deployed read-only. So `run_gate` builds the GX objects when the task runs, in
an in-memory (ephemeral) context:

- the datasource of the project (`curated_outputs`, a pandas datasource with one parquet asset per
  table) is recreated with each asset's path set to the run's Parquet directory
  (`RunPaths.output(table)`). pandas reads the directory of Spark part files (`_SUCCESS` and `.crc`
  files are ignored), and as every asset has its own path, the checkpoint's single set of (empty)
  batch parameters selects four different datasets in one checkpoint run;
- the suites, validation definitions and checkpoint are loaded from their JSON files;
- values only known at run time are expectation parameters: the processed date, the Monday of its
  week and the row count of `daily_user_stats` (for `daily_rank <= row count`);
- the GX validation results store and the data docs site are shared by all runs under
  `RunPaths.data_docs`; the checkpoint result of this run is written to
  `RunPaths.validation / checkpoint_result.json`.

The caller (an Airflow task) raises when `GateResult.success` is false; see docs/quality_gate.md.
Nothing here imports Airflow, and GX is imported on first use, not when this module is imported.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
import os
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from analytics_etl.paths import OUTPUT_TABLES, RunPaths

if TYPE_CHECKING:
    from great_expectations.checkpoint.checkpoint import CheckpointResult
    from great_expectations.core.expectation_validation_result import (
        ExpectationSuiteValidationResult,
        ExpectationValidationResult,
    )
    from great_expectations.data_context.data_context.abstract_data_context import AbstractDataContext

# The versioned GX project (a file data context), next to plugins/ in the repository.
GX_PROJECT_DIR = Path(__file__).resolve().parents[2] / "expectations" / "gx"
CHECKPOINT_NAME = "daily_outputs_gate"
DATASOURCE_NAME = "curated_outputs"
SITE_NAME = "local_site"
RESULT_FILE = "checkpoint_result.json"
# GX validation results feeding the shared data docs site. They live inside the site's directory
# because GX's index builder drops every page whose source result it cannot find: site and results
# must be kept (or deleted) together.
RESULTS_STORE_DIR = "_results"
_SAMPLE_SIZE = 3

# GX keeps a process-wide "current" context that deserialisation goes through: two gates in threads
# of one process must not interleave.
_PROCESS_LOCK = threading.Lock()


class GateError(RuntimeError):
    """The gate could not validate (an output is missing, the GX project is broken): not a verdict."""


class QualityGateFailed(RuntimeError):
    """Raised by `GateResult.raise_for_failure()`: an output broke an expectation."""


@dataclass(frozen=True)
class GateFailure:
    """One failed expectation of one output table."""

    table: str
    expectation: str
    columns: tuple[str, ...]
    unexpected_count: int | None
    element_count: int | None
    sample: str
    expected: str = ""  # the bounds it holds the values to, e.g. "between 0 and 100"

    def describe(self) -> str:
        on = f" on {', '.join(self.columns)}" if self.columns else ""
        if self.expected:
            on += f" (expected {self.expected})"
        if self.unexpected_count is not None and self.element_count is not None:
            what = f"failed for {self.unexpected_count} of {self.element_count} rows"
        else:
            what = "failed"
        detail = f" ({self.sample})" if self.sample else ""
        return f"{self.table}: {self.expectation}{on} {what}{detail}"


@dataclass(frozen=True)
class GateResult:
    """The verdict of the gate on every validated output of one run."""

    success: bool
    date: dt.date
    result_path: Path
    data_docs_index: Path
    row_counts: dict[str, int]
    failures: list[GateFailure] = field(default_factory=list)
    data_docs_pages: dict[str, Path] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    @property
    def failed_tables(self) -> list[str]:
        return sorted({f.table for f in self.failures})

    def raise_for_failure(self) -> None:
        """Raise QualityGateFailed, with the summary as message, unless every expectation held."""
        if not self.success:
            raise QualityGateFailed(self.summary())

    def summary(self) -> str:
        verdict = "passed" if self.success else f"FAILED ({len(self.failures)} expectations)"
        counts = ", ".join(f"{table}={n}" for table, n in self.row_counts.items())
        lines = [f"quality gate for {self.date.isoformat()} {verdict}; rows: {counts}"]
        lines += [failure.describe() for failure in self.failures]
        lines.append(f"result: {self.result_path}")
        lines.append(f"data docs: {self.data_docs_index}")
        return "\n".join(lines)


# -- public entry point ---------------------------------------------------------------------------
def run_gate(
    paths: RunPaths,
    run_id: str,
    tables: Sequence[str] = OUTPUT_TABLES,
    *,
    project_dir: Path = GX_PROJECT_DIR,
) -> GateResult:
    """Validate the outputs `tables` of the run `paths` in one run of the checkpoint.

    Returns the verdict; it neither logs nor raises it: the caller logs `summary()` or raises with it
    (so its paths are in the task log once, and not the local mirror's under `gate_store`). Raises
    GateError when an output directory is missing or the GX project is broken.
    """
    started = time.monotonic()
    tables = _check_tables(tables)
    row_counts = {table: _count_rows(paths.output(table), table) for table in tables}
    parameters = expectation_parameters(paths.date, row_counts)
    site_dir = paths.data_docs
    with _PROCESS_LOCK:
        context = _build_context(paths, site_dir, project_dir)
        checkpoint = _load_checkpoint(context, project_dir, tables)
        checkpoint_result = checkpoint.run(expectation_parameters=parameters, run_id=_run_identifier(paths))
        pages = _build_data_docs(context, checkpoint_result, site_dir)
    failures = [
        failure
        for validation in checkpoint_result.run_results.values()
        for failure in failures_of(validation)
    ]
    result = GateResult(
        success=bool(checkpoint_result.success),
        date=paths.date,
        result_path=paths.validation / RESULT_FILE,
        data_docs_index=site_dir / "index.html",
        row_counts=row_counts,
        failures=failures,
        data_docs_pages=pages,
        elapsed_seconds=round(time.monotonic() - started, 3),
    )
    _write_json(result.result_path, _result_document(result, run_id, parameters, checkpoint_result))
    return result


# -- run-time values --------------------------------------------------------------------------------
def week_start(date: dt.date) -> dt.date:
    """The Monday of the ISO week of `date`."""
    return date - dt.timedelta(days=date.weekday())


def expectation_parameters(date: dt.date, row_counts: Mapping[str, int]) -> dict[str, Any]:
    """The `$PARAMETER` values of the suites for the run of `date`."""
    return {
        "expected_date": [date],
        "expected_week_start": [week_start(date)],
        # daily_rank is between 1 and the row count; an empty day has no rank to check, and GX
        # rejects a max_value below the min_value, hence at least 1.
        "daily_user_stats_row_count": max(row_counts.get("daily_user_stats", 0), 1),
    }


def _check_tables(tables: Sequence[str]) -> tuple[str, ...]:
    if isinstance(tables, str):
        raise TypeError("tables must be a sequence of table names, not a string")
    unknown = [t for t in tables if t not in OUTPUT_TABLES]
    if unknown or not tables or len(set(tables)) != len(tables):
        raise ValueError(f"tables must be distinct names out of {OUTPUT_TABLES}, got {list(tables)}")
    return tuple(tables)


def _count_rows(directory: Path, table: str) -> int:
    import pyarrow.dataset as ds

    if not directory.is_dir():
        raise GateError(f"output {table} not found: {directory} is not a directory")
    return ds.dataset(directory, format="parquet").count_rows()


def _run_identifier(paths: RunPaths) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=f"{paths.date.isoformat()}_{paths.key}", run_time=dt.datetime.now(dt.UTC))


# -- the GX context of one run ------------------------------------------------------------------------
def _build_context(paths: RunPaths, site_dir: Path, project_dir: Path) -> AbstractDataContext:
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig

    def in_memory(class_name: str) -> dict[str, Any]:
        return {"class_name": class_name, "store_backend": {"class_name": "InMemoryStoreBackend"}}

    def on_disk(base_directory: Path) -> dict[str, Any]:
        return {
            "class_name": "TupleFilesystemStoreBackend",
            "base_directory": str(base_directory),
            "suppress_store_backend_id": True,
        }

    config = DataContextConfig(
        stores={
            "expectations_store": in_memory("ExpectationsStore"),
            "validation_definition_store": in_memory("ValidationDefinitionStore"),
            "checkpoint_store": in_memory("CheckpointStore"),
            "validation_results_store": {
                "class_name": "ValidationResultsStore",
                "store_backend": on_disk(site_dir / RESULTS_STORE_DIR),
            },
        },
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        data_docs_sites={
            SITE_NAME: {
                "class_name": "SiteBuilder",
                "show_how_to_buttons": False,
                "store_backend": on_disk(site_dir),
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }
        },
        analytics_enabled=False,
        progress_bars={"globally": False, "metric_calculations": False},
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.data_sources.add_pandas(datasource=_runtime_datasource(paths, project_dir))
    return context


def _runtime_datasource(paths: RunPaths, project_dir: Path) -> Any:
    """The project's datasource, parsed by GX, with each parquet asset pointed at this run's output."""
    from great_expectations.datasource.fluent.config import GxConfig

    config_file = project_dir / "great_expectations.yml"
    try:
        datasource = GxConfig.parse_yaml(config_file).get_datasource(DATASOURCE_NAME)
    except Exception as exc:  # a missing file, bad YAML or an unknown datasource: GX raises many types
        raise GateError(f"no datasource {DATASOURCE_NAME!r} in {config_file}: {exc}") from exc
    for asset in datasource.assets:
        if asset.name in OUTPUT_TABLES:
            asset.path = str(paths.output(asset.name))
    return datasource


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GateError(f"cannot read GX project file {path}: {exc}") from exc


def _load_checkpoint(context: AbstractDataContext, project_dir: Path, tables: Sequence[str]) -> Any:
    """Load the versioned checkpoint, restricted to `tables`, with its suites and definitions."""
    import great_expectations as gx

    import analytics_etl.gate_expectations  # noqa: F401  registers the suites' own expectation

    checkpoint = _read_json(project_dir / "checkpoints" / f"{CHECKPOINT_NAME}.json")
    wanted = [vd for vd in checkpoint["validation_definitions"] if vd["name"] in tables]
    if sorted(vd["name"] for vd in wanted) != sorted(tables):
        raise GateError(f"checkpoint {CHECKPOINT_NAME} does not validate every table of {list(tables)}")
    for reference in wanted:
        definition = _read_json(project_dir / "validation_definitions" / f"{reference['name']}.json")
        suite = _read_json(project_dir / "expectations" / f"{definition['suite']['name']}.json")
        context.suites.add(gx.ExpectationSuite(**suite))
        context.validation_definitions.add(gx.ValidationDefinition(**definition))
    return context.checkpoints.add(gx.Checkpoint(**{**checkpoint, "validation_definitions": wanted}))


# -- data docs ------------------------------------------------------------------------------------------
def _build_data_docs(
    context: AbstractDataContext, checkpoint_result: CheckpointResult, site_dir: Path
) -> dict[str, Path]:
    """Add this run's result pages (and the suites' pages) to the shared site; rebuild its index."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    results = checkpoint_result.run_results
    identifiers: list[Any] = [ExpectationSuiteIdentifier(name=vr.suite_name) for vr in results.values()]
    identifiers += list(results)
    from analytics_etl.run_lock import site_lock

    # On a store, gate_store holds the store site's lock around its mirror's build and upload: this
    # one, keyed by the mirror's own folder, then costs one uncontended lock.
    with site_lock(site_dir):
        context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=identifiers)
    pages = {}
    for identifier, validation in results.items():
        url = context.get_docs_sites_urls(resource_identifier=identifier, site_name=SITE_NAME)[0]["site_url"]
        pages[validation.suite_name] = Path(url.removeprefix("file://"))
    return pages


# -- reading the verdict -------------------------------------------------------------------------------
def failures_of(validation: ExpectationSuiteValidationResult) -> list[GateFailure]:
    """The failed expectations of one validation result (a suite is named after its table)."""
    return [_failure(validation.suite_name, result) for result in validation.results if not result.success]


def _failure(table: str, result: ExpectationValidationResult) -> GateFailure:
    config = result.expectation_config
    kwargs = dict(config.kwargs) if config is not None else {}
    details = dict(result.result or {})
    return GateFailure(
        table=table,
        expectation=config.type if config is not None else "unknown",
        columns=_columns(kwargs),
        unexpected_count=details.get("unexpected_count"),
        element_count=details.get("element_count"),
        sample=_sample(details, result.exception_info or {}),
        expected=expected_bounds(kwargs),
    )


def expected_bounds(kwargs: Mapping[str, Any]) -> str:
    """What an expectation holds the values to, in words an operator reads beside the failure:
    "between 0 and 100", "in {a, b}", "matching ^[0-9]+$"; "" when its arguments say nothing more."""
    parts = []
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        parts.append(f"between {_show(low)} and {_show(high)}")
    elif low is not None:
        parts.append(f"{'>' if kwargs.get('strict_min') else '>='} {_show(low)}")
    elif high is not None:
        parts.append(f"{'<' if kwargs.get('strict_max') else '<='} {_show(high)}")
    if kwargs.get("value_set") is not None:
        parts.append("in {" + ", ".join(_show(v) for v in kwargs["value_set"]) + "}")
    for key, words in (("regex", "matching"), ("type_", "of type"), ("max_bytes", "at most (bytes)")):
        if kwargs.get(key) is not None:
            parts.append(f"{words} {kwargs[key]}")
    if kwargs.get("column_A") and kwargs.get("column_B"):
        sign = ">=" if kwargs.get("or_equal") else ">"
        parts.append(f"{kwargs['column_A']} {sign} {kwargs['column_B']}")
    mostly = kwargs.get("mostly")
    if parts and mostly is not None and mostly < 1:
        parts.append(f"for at least {mostly:.0%} of rows")
    return " ".join(parts)


def _columns(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    if kwargs.get("column"):
        return (str(kwargs["column"]),)
    if kwargs.get("column_A") and kwargs.get("column_B"):
        return (str(kwargs["column_A"]), str(kwargs["column_B"]))
    return tuple(str(c) for c in kwargs.get("column_list") or ())


def _sample(details: Mapping[str, Any], exception_info: Mapping[str, Any]) -> str:
    message = _exception_message(exception_info)
    if message:
        return f"error: {message}"
    values = details.get("partial_unexpected_list")
    if values:  # GX lists a value once per row: 250 three times says less than 250 and two others
        return "e.g. " + ", ".join(list(dict.fromkeys(_show(v) for v in values))[:_SAMPLE_SIZE])
    if "observed_value" in details:
        return f"observed {_show(details['observed_value'])}"
    return ""


def _exception_message(exception_info: Mapping[str, Any]) -> str:
    """GX nests exception info per metric in some cases and keeps it flat in others."""
    infos = [exception_info, *(v for v in exception_info.values() if isinstance(v, Mapping))]
    for info in infos:
        if info.get("raised_exception"):
            return str(info.get("exception_message") or "exception").splitlines()[0][:200]
    return ""


def _show(value: Any) -> str:
    """A value as JSON, numbers rounded to what a reader compares (106.17, not 106.1675; 250, not 250.0)."""
    text = json.dumps(_rounded(value), sort_keys=True, default=_json_default)
    return text if len(text) <= 80 else text[:77] + "..."


def _rounded(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, float | decimal.Decimal):
        return value
    value = float(value)
    # Two decimals, but a small value keeps three significant digits: -0.004 must not read as 0.
    value = round(value, 2) if abs(value) >= 1 else float(f"{value:.3g}")
    return int(value) if value.is_integer() else value


def _json_default(value: Any) -> Any:
    """JSON for what pandas and GX hand back: Decimal, dates, numpy scalars, paths."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return str(value)


# -- the result file ---------------------------------------------------------------------------------
def _result_document(
    result: GateResult,
    run_id: str,
    parameters: Mapping[str, Any],
    checkpoint_result: CheckpointResult,
) -> dict[str, Any]:
    run = checkpoint_result.run_id
    return {
        "checkpoint": checkpoint_result.name,
        "success": result.success,
        "date": result.date.isoformat(),
        "run_id": run_id,
        "gx_run_name": run.run_name,
        "gx_run_time": run.run_time.isoformat(),
        "row_counts": result.row_counts,
        "expectation_parameters": dict(parameters),
        "failures": [asdict(failure) for failure in result.failures],
        "summary": result.summary().splitlines(),
        "data_docs": {
            "index": str(result.data_docs_index),
            "pages": {table: str(page) for table, page in result.data_docs_pages.items()},
        },
        "statistics": checkpoint_result.describe_dict()["statistics"],
        "validation_results": [v.to_json_dict() for v in checkpoint_result.run_results.values()],
    }


def _write_json(path: Path, document: Mapping[str, Any]) -> None:
    """Write atomically: a reader sees the previous file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=2, default=_json_default)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
