"""The gate's one expectation of its own: a text value's length in UTF-8 bytes.

Sinks limit bytes, not characters: a Cassandra key holds at most 65,535 bytes, and the contract caps
`page` and `subject` at 2,048 bytes so every sink holds them. GX's `expect_column_value_lengths_*`
count characters, which lets a 2,048-character page of multi-byte text (up to 8 KB) through. Imported
by `analytics_etl.quality` before the suites are loaded, which registers it with GX.
"""

from __future__ import annotations

from typing import ClassVar

from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics import ColumnMapMetricProvider, column_condition_partial


def utf8_length(value: object) -> int:
    return len(str(value).encode("utf-8", "surrogatepass"))


class ColumnValuesUtf8BytesAtMost(ColumnMapMetricProvider):
    condition_metric_name = "column_values.utf8_bytes_at_most"
    condition_value_keys = ("max_bytes",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, max_bytes, **kwargs):  # GX's metric signature
        return column.map(utf8_length) <= max_bytes


class ExpectColumnValuesUtf8BytesToBeAtMost(ColumnMapExpectation):
    """Every non-null value is at most `max_bytes` long in UTF-8."""

    max_bytes: int

    map_metric = "column_values.utf8_bytes_at_most"
    success_keys = ("max_bytes", "mostly")
    args_keys = ("column", "max_bytes")
    library_metadata: ClassVar[dict] = {
        "maturity": "production",
        "tags": ["analytics_etl"],
        "contributors": [],
    }
