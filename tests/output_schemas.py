"""The Parquet schemas of the four outputs as the Spark jobs write them (contract section 4), for
tests that build outputs by hand with pyarrow."""

from __future__ import annotations

import pyarrow as pa

OUTPUT_SCHEMAS = {
    "daily_user_stats": pa.schema(
        [
            ("date", pa.date32()),
            ("user_id", pa.string()),
            ("name", pa.string()),
            ("email", pa.string()),
            ("total_time", pa.int64()),
            ("lessons_completed", pa.int32()),
            ("average_score", pa.decimal128(5, 2)),
            ("daily_rank", pa.int32()),
        ]
    ),
    "page_view_stats": pa.schema(
        [("date", pa.date32()), ("hour", pa.int32()), ("page", pa.string()), ("view_count", pa.int64())]
    ),
    "user_engagement": pa.schema(
        [
            ("user_id", pa.string()),
            ("date", pa.date32()),
            ("total_events", pa.int64()),
            ("unique_pages", pa.int32()),
            ("session_count", pa.int32()),
            ("total_time_minutes", pa.int32()),
            ("engagement_score", pa.float64()),
        ]
    ),
    "learning_progress": pa.schema(
        [
            ("user_id", pa.string()),
            ("subject", pa.string()),
            ("week_start", pa.date32()),
            ("lessons_completed", pa.int32()),
            ("time_spent_minutes", pa.int32()),
            ("average_score", pa.float64()),
        ]
    ),
}
