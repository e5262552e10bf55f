"""User events of one day's drop: every format into one schema, the rejection rules, the duplicate rule.

Pure functions (DataFrames and explicit parameters in, a DataFrame or a plain value out). The I/O
(listing the drop, reading files with their line numbers) lives in `analytics_jobs.drops`.

The pipeline is

    parse_json_lines / parse_csv_lines / normalise_parquet   -> candidates (CANDIDATE_SCHEMA)
    classify(candidates, day)                               -> + timestamp, duration_ms, reason
    mark_duplicates(classified)                              -> reason also `duplicate`
    kept_events / quarantine_rows / build_report             -> outputs

`reason` is NULL for a kept row, otherwise the first of REASONS (contract section 3) the row fails.
The rules are written down in docs/ingestion.md.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from analytics_jobs.jvm import FAST_JSON_SCHEMA

REASONS = (
    "malformed",
    "missing_field",
    "invalid_event_type",
    "invalid_timestamp",
    "invalid_value",
    "out_of_window",
    "duplicate",
)
EVENT_TYPES = ("page_view", "click", "session_start", "session_end")
PAGE_REQUIRED = ("page_view", "click")
CSV_COLUMNS = ("event_id", "event_type", "user_id", "timestamp", "page", "duration_ms", "device")

# ISO-8601 date-time with a mandatory zone designator: minutes or seconds precision (seconds may
# carry a fraction of up to 9 digits; Spark keeps microseconds), zone Z, +hh:mm, +hhmm or +hh.
# Spark's cast needs seconds, so `_iso_for_cast` fills in `:00` where ISO-8601 lets them be left out.
# The 16 characters of date, hours and minutes are followed by `:` (seconds) or the zone.
_MINUTES_END = 16
ISO_TIMESTAMP = r"^([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2})(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"
# duration_ms: the text of a non-negative integer (no sign, no fraction, no exponent).
INTEGER_TEXT = r"^[0-9]{1,19}$"
# Limits of the sinks (docs/ingestion.md): a longer duration alone overflows user_engagement's int
# `total_time_minutes`; a longer page does not fit the contract's 2,048 bytes (a Cassandra key).
MAX_DURATION_MS = (2**31 - 1) * 60_000
MAX_PAGE_BYTES = 2048
# user_id: a hyphenated UUID, any case (compared after trimming and lower-casing).
UUID_TEXT = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
# What counts as "empty": NULL or nothing but whitespace.
_WHITESPACE = " \t\r\n\f\u000b"

# Lines read from text files, as `analytics_jobs.drops.read_text_lines` returns them.
LINES_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("line_number", T.LongType(), False),
        T.StructField("value", T.StringType(), True),
    ]
)

# Every format is brought to this shape before the rules run.
CANDIDATE_SCHEMA = T.StructType(
    [
        T.StructField("source_file", T.StringType(), False),
        T.StructField("line_number", T.LongType(), False),
        T.StructField("raw", T.StringType(), True),
        T.StructField("malformed", T.BooleanType(), False),
        T.StructField("event_id", T.StringType(), True),
        T.StructField("event_type", T.StringType(), True),
        T.StructField("user_id", T.StringType(), True),
        T.StructField("timestamp_text", T.StringType(), True),  # an ISO string to parse
        T.StructField("timestamp_instant", T.TimestampType(), True),  # a Parquet instant
        T.StructField("page", T.StringType(), True),
        T.StructField("duration_text", T.StringType(), True),
        T.StructField("device", T.StringType(), True),
    ]
)

# The kept events, exactly as written to --events-out.
EVENT_SCHEMA = T.StructType(
    [
        T.StructField("event_id", T.StringType(), True),
        T.StructField("event_type", T.StringType(), True),
        T.StructField("user_id", T.StringType(), True),
        T.StructField("timestamp", T.TimestampType(), True),
        T.StructField("page", T.StringType(), True),
        T.StructField("duration_ms", T.LongType(), True),
        T.StructField("device", T.StringType(), True),
        T.StructField("source_file", T.StringType(), True),
        T.StructField("line_number", T.LongType(), True),
    ]
)
QUARANTINE_COLUMNS = ("reason", "source_file", "line_number", "raw", "event_id")

_STR = T.StringType()
_PROPERTIES = T.StructType([T.StructField(n, _STR) for n in ("page", "duration_ms", "device")])
_JSON_EVENT = T.StructType(
    [T.StructField(n, _STR) for n in ("event_id", "event_type", "user_id", "timestamp")]
    + [T.StructField("properties", _PROPERTIES)]
)
# A JSON line is parsed as the value of `{"v": <line>}` and counted as the elements of `[<line>]`
# (see parse_json_lines); counting only tokenizes, it builds no row.
_JSON_WRAPPED = T.StructType([T.StructField("v", _JSON_EVENT), T.StructField("_corrupt", _STR)])
# `properties`' own `duration_ms` key followed by a minus sign (JSON strings skipped whole, so a key
# of a nested object or the text of a value does not match).
_NEGATIVE_DURATION = r'"properties"\s*:\s*\{(?:[^{}"]++|"(?:[^"\\]++|\\.)*+")*?"duration_ms"\s*:\s*-'
# The most quotes a line may hold for _NEGATIVE_DURATION to run on it (a zero duration on a longer
# line is taken as 0): 1,000 were seen to pass and 1,400 to overflow a thread's stack.
_REGEX_MAX_QUOTES = 400
# Strict JSON: Spark would otherwise accept single-quoted strings, which are not JSON.
_JSON_OPTIONS = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt", "allowSingleQuotes": "false"}
# RFC 4180: a doubled quote inside a quoted field is a quote (Spark's default escape is a backslash).
_CSV_SCHEMA = ", ".join(f"c{i} string" for i in range(len(CSV_COLUMNS)))
_CSV_OPTIONS = {"sep": ",", "quote": '"', "escape": '"', "mode": "PERMISSIVE"}


# -- text lines -----------------------------------------------------------------------------------
# Trimming with a set of characters (`UTF8String.trim(trimString)`) allocates two int arrays the size
# of the value on every call (the fifth round's profile: 9% of the executors' time). Only a value that
# is empty or begins or ends with whitespace can change under a trim: the others skip it. The first
# character is read with `ascii` (it looks at that character only: `substring` counts every
# character of the value first), the last with `endswith`. The whitespace characters are ASCII.
# These tests run on every value of every row, so they are kept small: a generated method that
# outgrows 8,000 bytes of bytecode is never compiled by the JIT (HotSpot's HugeMethodLimit), and
# a chain of seven `startswith` per value doubled the cost of a text row (docs/performance.md).
_FIRST_BLANK = (0, *(ord(c) for c in _WHITESPACE))  # ascii("") is 0


def _starts_blank(column: Column) -> Column:
    """Empty, or its first character is whitespace (or NUL, which the trims then leave alone)."""
    return F.ascii(column).isin(*_FIRST_BLANK)


def _may_trim(column: Column) -> Column:
    test = _starts_blank(column)
    for char in _WHITESPACE:
        test = test | column.endswith(char)
    return test


def _trimmed(column: Column) -> Column:
    """The value without leading and trailing whitespace (_WHITESPACE)."""
    return F.when(_may_trim(column), F.btrim(column, F.lit(_WHITESPACE))).otherwise(column)


def _is_blank(column: Column) -> Column:
    """NULL, empty or nothing but whitespace (a value that begins with anything else is not)."""
    blank = F.btrim(column, F.lit(_WHITESPACE)) == ""
    return column.isNull() | F.when(_starts_blank(column), blank).otherwise(F.lit(False))


def _present(column: Column) -> Column:
    """The value, or NULL when it is empty (empty means absent, in every format)."""
    return F.when(_is_blank(column), F.lit(None).cast(_STR)).otherwise(column)


def is_row_line(value: Column) -> Column:
    """Whether a text line is a row: not whitespace-only (the lines drop_blank_lines keeps)."""
    return ~_is_blank(value)


def is_blank_text(text: str | None) -> bool:
    """The same test as `is_row_line`, negated, for one line already on the driver."""
    return text is None or text.strip(_WHITESPACE) == ""


def drop_blank_lines(lines: DataFrame) -> DataFrame:
    """Whitespace-only lines are not rows: not read, not kept, not rejected (they keep their number)."""
    return lines.where(is_row_line(F.col("value")))


def _without_bom(value: Column, line_number: Column) -> Column:
    return F.when((line_number == 1) & value.startswith("\ufeff"), F.substring(value, 2, 1 << 30)).otherwise(
        value
    )


def parse_json_lines(lines: DataFrame, fast_json: str | None = None) -> DataFrame:
    """JSON lines (LINES_SCHEMA, blank lines already dropped) -> candidates.

    A line is malformed when it is not exactly one JSON object: invalid JSON, an array, a scalar,
    `null`, two objects (`{...}{...}`) or any other text after the closing brace; or when
    `properties` is present but neither an object nor null.

    `fast_json` names a registered function that reads the lines whose reading is plain
    (`analytics_jobs.jvm`, nearly every line) and returns NULL for the others; only those go
    through the reading below.

    Spark's JSON parser reads the first value of its input and ignores whatever follows, so the
    line is read twice, each time inside a wrapper that the rest of the line would have to close:
    parsed as the value of `{"v": <line>}` (this gives the fields) and counted as the elements of
    `[<line>]` (`json_array_length`, which only tokenizes). Both succeed, with one element, only if
    the token after the line's first value is, at the same time, one of `}`/`,`/end and one of
    `]`/end (a `,` would add a second element, `}` breaks the array): that is, only if nothing
    follows it.
    """
    if fast_json:
        fast = F.call_function(fast_json, F.col("value"))
    else:
        fast = F.lit(None).cast(FAST_JSON_SCHEMA)
    # Its own projection: the function runs once a line, and the reading below only where it is NULL.
    lines = lines.select("source_file", "line_number", "value", fast.alias("_fast"))
    slow = F.col("_fast").isNull()
    text = _without_bom(F.col("value"), F.col("line_number"))
    parsed = lines.select(
        "source_file",
        "line_number",
        F.col("value").alias("raw"),
        "_fast",
        F.when(
            slow, F.from_json(F.concat(F.lit('{"v":'), text, F.lit("}")), _JSON_WRAPPED, _JSON_OPTIONS)
        ).alias("j"),
        F.when(slow, F.json_array_length(F.concat(F.lit("["), text, F.lit("]")))).alias("elements"),
    )
    malformed = slow & (
        F.col("j").isNull()
        | F.col("j._corrupt").isNotNull()
        | F.col("j.v").isNull()  # the line is `null`
        | (F.coalesce(F.col("elements"), F.lit(-1)) != 1)
    )
    event = F.col("j.v")  # what could be read of a malformed line too: its event_id goes to quarantine
    # Jackson hands a number to a string field re-printed, and re-printing the integer -0 gives `0`;
    # the rules read the token, which has a sign. Only a zero is checked against the line itself,
    # and only a line of at most _REGEX_MAX_QUOTES quotes: Java's regex engine recurses once per
    # token the pattern passes, and a line of ~700 strings overflowed the task thread's stack.
    duration = event.properties.duration_ms
    negative_zero = (
        (duration == "0")
        & (_count_of(F.col("raw"), '"') <= _REGEX_MAX_QUOTES)
        & F.col("raw").rlike(_NEGATIVE_DURATION)
    )
    duration = F.when(negative_zero, F.lit("-0")).otherwise(duration)
    read = {
        "event_id": event.event_id,
        "event_type": event.event_type,
        "user_id": event.user_id,
        "timestamp": event.timestamp,
        "page": event.properties.page,
        "duration_ms": duration,
        "device": event.properties.device,
    }

    def field(name: str) -> Column:
        return F.when(slow, read[name]).otherwise(F.col("_fast").getField(name))

    return parsed.select(
        "source_file",
        "line_number",
        "raw",
        malformed.alias("malformed"),
        field("event_id").alias("event_id"),
        field("event_type").alias("event_type"),
        field("user_id").alias("user_id"),
        field("timestamp").alias("timestamp_text"),
        F.lit(None).cast(T.TimestampType()).alias("timestamp_instant"),
        field("page").alias("page"),
        field("duration_ms").alias("duration_text"),
        field("device").alias("device"),
    )


def csv_header_ok(header_line: str | None) -> bool:
    """Whether a CSV file's first line is the contract's header (names trimmed, any case, BOM ignored)."""
    if header_line is None:
        return False
    fields = next(csv.reader([header_line.lstrip("\ufeff")]), [])
    return tuple(f.strip().lower() for f in fields) == CSV_COLUMNS


def _count_of(value: Column, char: str) -> Column:
    """How often `char` occurs in `value`. Counted in characters (`length`), not bytes: on a value
    that is not valid UTF-8 the two can differ, and the CSV rule was written with characters."""
    return F.length(value) - F.length(F.replace(value, F.lit(char), F.lit("")))


# A quoted field of RFC 4180: opens where its field opens, `""` inside, closes where its field ends.
# Possessive quantifiers: Java's regex loops once per run of text, not once per character.
_QUOTED_FIELD = r'(^|,)"(?:[^"]++|"")*+"(?=,|$)'


def parse_csv_lines(lines: DataFrame, bad_header_files: Iterable[str] = ()) -> DataFrame:
    """CSV lines (LINES_SCHEMA, blank lines already dropped, header line included) -> candidates.

    The header (line 1) is not a row. Each other line is one record of exactly 7 fields with RFC 4180
    quoting; `line_number` becomes the data row number (line number - 1). A line is malformed when
    a quote is not where RFC 4180 puts one (a field never closed, which includes one continued on
    the next line; text before an opening or after a closing quote; a quote in an unquoted field),
    when it has another number of fields, or when its file's header is not the contract's.
    """
    bad = sorted(set(bad_header_files))
    value = F.col("value")
    # What is left once every RFC 4180 quoted field is taken out: a quote left over is a quote inside
    # an unquoted field, text before an opening or after a closing quote, or a field never closed.
    # (Most lines hold no quote at all: the regular expression runs only on those that do.)
    unquoted = F.when(value.contains('"'), F.regexp_replace(value, _QUOTED_FIELD, "$1")).otherwise(value)
    malformed = F.contains(unquoted, F.lit('"')) | (_count_of(unquoted, ",") != len(CSV_COLUMNS) - 1)
    if bad:
        malformed = malformed | F.col("source_file").isin(bad)
    # An unnumbered line (NULL) stays, so that the run's check finds it.
    parsed = lines.where(F.col("line_number").isNull() | (F.col("line_number") > 1)).select(
        "source_file",
        (F.col("line_number") - 1).alias("line_number"),
        value.alias("raw"),
        malformed.alias("malformed"),
        F.from_csv(value, _CSV_SCHEMA, _CSV_OPTIONS).alias("c"),
    )
    fields = {name: F.col(f"c.c{i}") for i, name in enumerate(CSV_COLUMNS)}
    event_id = fields["event_id"]
    if bad:  # the first field of a file with a foreign header is not known to be the event id
        event_id = F.when(F.col("source_file").isin(bad), F.lit(None).cast(_STR)).otherwise(event_id)
    return parsed.select(
        "source_file",
        "line_number",
        "raw",
        "malformed",
        event_id.alias("event_id"),
        fields["event_type"].alias("event_type"),
        fields["user_id"].alias("user_id"),
        fields["timestamp"].alias("timestamp_text"),
        F.lit(None).cast(T.TimestampType()).alias("timestamp_instant"),
        fields["page"].alias("page"),
        fields["duration_ms"].alias("duration_text"),
        fields["device"].alias("device"),
    )


# -- parquet --------------------------------------------------------------------------------------
def _as_text(column: Column, data_type: T.DataType) -> Column:
    """A Parquet value as the text the rules read (numbers as Spark prints them: 5000, 5000.0)."""
    if isinstance(data_type, T.StringType):
        return column
    if isinstance(data_type, T.StructType | T.MapType | T.ArrayType):
        return F.to_json(column)
    return column.cast(_STR)


def _property(props: Column, props_type: T.DataType, key: str) -> Column:
    if isinstance(props_type, T.StructType):
        if key not in props_type.fieldNames():
            return F.lit(None).cast(_STR)
        return _as_text(props.getField(key), props_type[key].dataType)
    if isinstance(props_type, T.MapType) and isinstance(props_type.keyType, T.StringType):
        return _as_text(F.try_element_at(props, F.lit(key)), props_type.valueType)
    return F.lit(None).cast(_STR)


def _timestamp_columns(schema: T.StructType) -> tuple[Column, Column]:
    """(timestamp_text, timestamp_instant) of a Parquet file's `timestamp` column.

    A Parquet instant (TIMESTAMP with isAdjustedToUTC) is taken as is. A local timestamp
    (TIMESTAMP_NTZ) has no zone, so it is given to the rules as zone-less text, which they reject.
    """
    none_text, none_instant = F.lit(None).cast(_STR), F.lit(None).cast(T.TimestampType())
    if "timestamp" not in schema.fieldNames():
        return none_text, none_instant
    column, data_type = F.col("timestamp"), schema["timestamp"].dataType
    if isinstance(data_type, T.TimestampType):
        return none_text, column
    if isinstance(data_type, T.TimestampNTZType):
        return F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS"), none_instant
    return _as_text(column, data_type), none_instant


def normalise_parquet(rows: DataFrame) -> DataFrame:
    """Rows of Parquet files sharing one schema (+ source_file, line_number) -> candidates.

    `properties` may be a struct or a map with string keys; any other non-null `properties` makes
    the row malformed. `raw` is the row rendered as JSON.
    """
    schema = T.StructType([f for f in rows.schema.fields if f.name not in ("source_file", "line_number")])
    names = schema.fieldNames()

    def text(name: str) -> Column:
        if name not in names:
            return F.lit(None).cast(_STR)
        return _as_text(F.col(name), schema[name].dataType)

    malformed: Column = F.lit(False)
    page = device = duration = F.lit(None).cast(_STR)
    if "properties" in names:
        props, props_type = F.col("properties"), schema["properties"].dataType
        page, duration, device = (_property(props, props_type, k) for k in ("page", "duration_ms", "device"))
        usable = isinstance(props_type, T.StructType) or (
            isinstance(props_type, T.MapType) and isinstance(props_type.keyType, T.StringType)
        )
        if not usable:
            malformed = props.isNotNull()
    timestamp_text, timestamp_instant = _timestamp_columns(schema)
    raw = F.to_json(F.struct(*[F.col(n) for n in names]), {"ignoreNullFields": "false"})
    return rows.select(
        "source_file",
        F.col("line_number").cast(T.LongType()).alias("line_number"),
        raw.alias("raw"),
        malformed.alias("malformed"),
        text("event_id").alias("event_id"),
        text("event_type").alias("event_type"),
        text("user_id").alias("user_id"),
        timestamp_text.alias("timestamp_text"),
        timestamp_instant.alias("timestamp_instant"),
        page.alias("page"),
        duration.alias("duration_text"),
        device.alias("device"),
    )


# -- the rules ------------------------------------------------------------------------------------
def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """[D 00:00, D+1 00:00) as UTC instants."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def _iso_for_cast(text: Column) -> Column:
    """A text matching ISO_TIMESTAMP in the form Spark's cast reads: `:00` seconds added where only
    minutes are given (the cast reads every zone form ISO_TIMESTAMP allows: Z, +hh:mm, +hhmm, +hh).
    Plain string functions, not a regular expression: the text's form is already known."""
    after_minutes = F.substring(text, _MINUTES_END + 1, 1)
    with_seconds = F.concat(
        F.substring(text, 1, _MINUTES_END), F.lit(":00"), F.substring(text, _MINUTES_END + 1, 1 << 30)
    )
    return F.when(after_minutes == ":", text).otherwise(with_seconds)


def _user_key(user_id: Column) -> Column:
    """`user_id` trimmed and lower case: uuid text is case-insensitive, so the same user written in
    upper and in lower case is one user downstream (user_engagement keys on it)."""
    return F.lower(_trimmed(user_id))


def _normalised(candidates: DataFrame) -> DataFrame:
    """Step 1 of `classify`: empty values as NULL, the user key, and which key fields are blank.

    Each step is its own projection so Spark computes every value once per row: written as one
    nested expression, the regular expressions and casts were re-evaluated for every `when` branch
    that uses them (classify cost 5x the parse).
    """
    return candidates.select(
        "source_file",
        "line_number",
        "raw",
        "malformed",
        "event_id",
        "event_type",
        _user_key(F.col("user_id")).alias("user_id"),
        _present(F.col("timestamp_text")).alias("ts_text"),
        "timestamp_instant",
        _present(F.col("page")).alias("page"),
        _present(F.col("duration_text")).alias("duration_text"),
        _present(F.col("device")).alias("device"),
        (_is_blank(F.col("event_id")) | _is_blank(F.col("event_type")) | _is_blank(F.col("user_id"))).alias(
            "_key_blank"
        ),
    )


def _typed(normalised: DataFrame) -> DataFrame:
    """Step 2 of `classify`: the UTC instant, the duration as a long, and the value checks."""
    ts_text, duration_text = F.col("ts_text"), F.col("duration_text")
    parsed_ts = F.when(ts_text.rlike(ISO_TIMESTAMP), _iso_for_cast(ts_text).try_cast(T.TimestampType()))
    duration = F.when(duration_text.rlike(INTEGER_TEXT), duration_text.try_cast(T.LongType()))
    return normalised.select(
        "*",
        F.coalesce(F.col("timestamp_instant"), parsed_ts).alias("timestamp"),
        duration.alias("_duration"),
        F.col("user_id").rlike(UUID_TEXT).alias("_uuid_ok"),
        F.coalesce(F.octet_length(F.col("page")) <= MAX_PAGE_BYTES, F.lit(True)).alias("_page_ok"),
    )


def classify(candidates: DataFrame, day: dt.date) -> DataFrame:
    """Adds `timestamp` (UTC instant), `duration_ms` (long) and `reason` (NULL = passes, for now).

    Every check but `duplicate`, in the contract's order: the first failing one is the reason.
    `user_id` comes out trimmed and lower case; `event_id` as given (duplicates compare it exactly).
    """
    start, end = day_bounds(day)
    event_type, timestamp = F.col("event_type"), F.col("timestamp")
    missing = (
        F.col("_key_blank")
        | (F.col("ts_text").isNull() & F.col("timestamp_instant").isNull())
        | (event_type.isin(*PAGE_REQUIRED) & F.col("page").isNull())
    )
    invalid_value = (
        (F.col("duration_text").isNotNull() & F.coalesce(F.col("_duration") > MAX_DURATION_MS, F.lit(True)))
        | ~F.col("_uuid_ok")
        | ~F.col("_page_ok")
    )
    reason = (
        F.when(F.col("malformed"), "malformed")
        .when(missing, "missing_field")
        .when(~event_type.isin(*EVENT_TYPES), "invalid_event_type")
        .when(timestamp.isNull(), "invalid_timestamp")
        .when(invalid_value, "invalid_value")
        .when((timestamp < F.lit(start)) | (timestamp >= F.lit(end)), "out_of_window")
    )
    return _typed(_normalised(candidates)).select(
        "source_file",
        "line_number",
        "raw",
        "event_id",
        "event_type",
        "user_id",
        "timestamp",
        "page",
        F.when(F.col("_duration") <= MAX_DURATION_MS, F.col("_duration")).alias("duration_ms"),
        "device",
        reason.alias("reason"),
    )


def _passed(classified: DataFrame) -> DataFrame:
    return classified.where(F.col("reason").isNull()).select(
        "event_id", "timestamp", "source_file", "line_number", F.xxhash64("event_id").alias("_h")
    )


def _place_hash() -> Column:
    """The 64-bit hash of a row's place (source_file, line_number): the losers are looked up by it."""
    return F.xxhash64("source_file", "line_number")


def repeated_id_hashes(classified: DataFrame) -> DataFrame:
    """`_h`: the 64-bit hashes of the `event_id`s that more than one passing row carries (a few per
    duplicate, whatever the day's size): the first step of `duplicate_losers`, which the ingest
    writes out so that Spark knows how small it is and broadcasts it."""
    return _passed(classified).groupBy("_h").count().where(F.col("count") > 1).select("_h")


def duplicate_losers(classified: DataFrame, repeated: DataFrame | None = None) -> DataFrame:
    """The rows that are `duplicate`: among rows that passed every other check, per `event_id` all
    but the earliest timestamp (ties: the first file in name order, then the first line).

    One row per hash of a loser's place: `_p`, the hash of (source_file, line_number), and
    `_losers`, the places with that hash (one, but where two places collide). Keyed so, every
    passing row finds out whether it lost by one lookup of a long in a broadcast map
    (`mark_duplicates`), not of a file name and line number (the sixth round's profile: the lookups
    by name were 6% of the executors' time); and as numbered places are unique, no list grows with
    the size of a duplicate group (a drop that repeats one id a million times stays linear).

    Only a 64-bit hash of each passing `event_id` is shuffled to find the ids that occur more than
    once (`repeated`, computed here when not given); the exact ordering then runs on the few rows
    that share a hash (a hash collision only adds a row to that small set, never a wrong verdict).
    """
    if repeated is None:
        repeated = repeated_id_hashes(classified)
    contenders = _passed(classified).join(repeated, "_h", "left_semi")
    order = Window.partitionBy("event_id").orderBy("timestamp", "source_file", "line_number")
    return (
        contenders.select("source_file", "line_number", F.row_number().over(order).alias("_rank"))
        .where(F.col("_rank") > 1)
        .groupBy(_place_hash().alias("_p"))
        .agg(F.collect_list(F.struct("source_file", "line_number")).alias("_losers"))
    )


def loser_rows(losers: DataFrame) -> DataFrame:
    """(source_file, line_number) of every row `duplicate_losers` lists."""
    return losers.select(F.explode("_losers").alias("_l")).select("_l.source_file", "_l.line_number")


def mark_duplicates(classified: DataFrame, losers: DataFrame | None = None) -> DataFrame:
    """`classified` with `reason` set to `duplicate` on the `duplicate_losers` rows (computed here
    when not given); `raw` is dropped from kept rows (only the quarantine needs it).

    A passing row is a loser when its place's hash is a loser's and its place is among that hash's
    places: exact, whatever collides."""
    if losers is None:
        losers = duplicate_losers(classified)
    # A rejected row is not looked up, nor one without a line number (the run fails on those, and
    # the hash of a NULL place would be its file's alone).
    place = F.when(
        F.col("reason").isNull() & F.col("source_file").isNotNull() & F.col("line_number").isNotNull(),
        _place_hash(),
    )
    marked = classified.withColumn("_p", place).join(losers, "_p", "left")
    lost = F.array_contains(F.col("_losers"), F.struct("source_file", "line_number"))
    reason = F.coalesce(F.col("reason"), F.when(lost, F.lit("duplicate")))
    return marked.select(
        *[c for c in classified.columns if c not in ("reason", "raw")],
        reason.alias("reason"),
        F.when(reason.isNotNull(), F.col("raw")).alias("raw"),
    )


# -- outputs --------------------------------------------------------------------------------------
def kept_events(result: DataFrame) -> DataFrame:
    """The kept rows with exactly the columns of EVENT_SCHEMA."""
    return result.where(F.col("reason").isNull()).select(
        *[F.col(f.name).cast(f.dataType) for f in EVENT_SCHEMA.fields]
    )


def quarantine_rows(result: DataFrame) -> DataFrame:
    return result.where(F.col("reason").isNotNull()).select(*QUARANTINE_COLUMNS)


def orphan_events(kept: DataFrame, users: DataFrame) -> DataFrame:
    """Kept events whose user_id is no users.id (uuid text, compared without regard to case)."""
    ids = users.select(F.lower(F.col("id").cast(_STR)).alias("_uid")).where(F.col("_uid").isNotNull())
    return kept.select(F.lower(F.col("user_id")).alias("_uid")).join(ids, "_uid", "left_anti")


def build_report(
    day: dt.date,
    files: Sequence[tuple[str, str]],
    ignored_files: Sequence[str],
    counts: Iterable[tuple[str, str | None, int]],
    orphan_user: int,
) -> dict:
    """The run record of the ingest. `files` are (name, format) in name order, `counts` (file, reason, rows),
    reason NULL for the kept rows. Every reason is present, zeros included, in the contract's order."""
    per_file: dict[str, int] = {name: 0 for name, _ in files}
    rejected: dict[str, int] = dict.fromkeys(REASONS, 0)
    kept = 0
    for name, reason, rows in counts:
        per_file[name] = per_file.get(name, 0) + rows
        if reason is None:
            kept += rows
        else:
            rejected[reason] += rows
    total_rejected = sum(rejected.values())
    return {
        "date": day.isoformat(),
        "rows_read": kept + total_rejected,
        "rows_kept": kept,
        "rows_rejected": total_rejected,
        "rejected": rejected,
        "orphan_user": orphan_user,
        "files": [{"name": n, "format": f, "rows_read": per_file[n]} for n, f in files],
        "ignored_files": list(ignored_files),
    }


def union_all(frames: Sequence[DataFrame]) -> DataFrame:
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result
