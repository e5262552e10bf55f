"""Deterministic demo and benchmark data: the source PostgreSQL and the event file drop of one day.

`generate_day` builds, for a day D and a seed, what the platform reads (contract sections 2 and 3):

* source `users`: realistic names, e-mails and countries (ISO 3166-1 alpha-2 or NULL), uuids drawn
  from the seeded generator, so the same seed gives the same users on every date;
* source `progress`: the ISO week of D as the source holds it at run time, i.e. every day from Monday
  up to and including D, `progress_per_day` rows per day (or `progress_week` rows spread over those
  days). Activity is skewed (a Pareto tail of heavy
  users, many light ones, a share of dormant ones), each user favours a few subjects, rows are in
  `completed_at` order (ids grow with time, as in an OLTP table), and a few rows belong to user ids that
  are not in `users` (orphans the inner join of `daily_user_stats` must drop). A day's rows depend only
  on (seed, day), so the run for Wednesday holds the same Monday as the run for Tuesday;
* the drop `<drop_dir>/user_events/<D>/`: sessions (session_start, page views, clicks, session_end)
  spread over six files in every supported format, timestamps in `Z` and in offsets, a few unknown user
  ids, and about `bad_share` planted bad rows spread over every rejection reason of section 3.
  `_SUCCESS` is written last. `write_benchmark_drop` writes the benchmark layout instead: eleven
  files shaped like a production drop, faults of every reason (the issue-10 rules too), redelivered
  events as duplicates, written by parallel processes from per-file seeds (section "the benchmark
  layout" below).

The same arguments give byte-identical database content and files (gzip headers carry no name or
mtime; Parquet carries no wall-clock metadata). Memory does not grow with the number of rows: progress is
streamed into `COPY ... FROM STDIN` in chunks, event files are streamed and Parquet is written in row
groups. The summary says what was *planted*; it is not a prediction of what the platform will count.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import gzip
import io
import itertools
import json
import random
import shutil
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analytics_etl.ingest import REASONS as INGEST_REASONS
from analytics_etl.sql import read_sql

SCHEMA_SQL = Path(__file__).resolve().parents[1] / "sql" / "demo" / "source_schema.sql"


DAY_SECONDS = 86_400
DAY_MS = DAY_SECONDS * 1000
MINUTES_PER_DAY = 1440

# -- vocabulary ------------------------------------------------------------------------------------
FIRST_NAMES = (
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Mateo", "Sofia", "Leon", "Chloé", "Hugo",
    "Zoë", "Jonas", "Aisha", "Omar", "Fatima", "Yusuf", "Priya", "Arjun", "Ananya", "Rohan", "Mei",
    "Wei", "Hana", "Yuki", "Haruto", "Min-jun", "Seo-yeon", "Chinedu", "Amara", "Kwame", "Nia",
    "Santiago", "Valentina", "João", "Ana", "Łukasz", "Zofia", "Olena", "Dmytro", "Ingrid", "Björn",
    "Sara", "Elif", "Mehmet", "Noor", "Ali", "Grace", "Daniel", "Isabella", "James", "Charlotte",
    "Ethan", "Amelia", "Maximilian", "Léa", "Marco", "Giulia", "Siobhán", "Seán", "Thandiwe",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Garcia", "Martinez", "Müller", "Schmidt", "Dubois",
    "Martin", "Rossi", "Bianchi", "Kowalski", "Nowak", "Shevchenko", "Kovalenko", "Andersson",
    "Johansson", "Yılmaz", "Kaya", "Khan", "Ahmed", "Hassan", "Patel", "Sharma", "Singh", "Iyer",
    "Wang", "Li", "Zhang", "Chen", "Tanaka", "Suzuki", "Sato", "Kim", "Park", "Lee", "Okafor",
    "Adeyemi", "Mensah", "Mwangi", "Silva", "Santos", "Oliveira", "Pereira", "Fernández", "López",
    "González", "O'Brien", "O'Connor", "Murphy", "Nguyen", "Tran", "Cohen", "Levi", "van der Berg",
    "De Vries", "Novák", "Horváth", "Papadopoulos",
)  # fmt: skip
EMAIL_DOMAINS = (
    "gmail.com", "gmail.com", "gmail.com", "outlook.com", "yahoo.com", "icloud.com", "proton.me",
    "gmx.de", "web.de", "mail.ru", "students.example.edu", "school.example.org",
)  # fmt: skip
COUNTRIES = {
    "US": 20, "IN": 12, "GB": 8, "DE": 6, "BR": 6, "FR": 5, "ES": 4, "MX": 4, "NG": 3, "PL": 3,
    "JP": 3, "CA": 3, "IT": 3, "AU": 2, "NL": 2, "UA": 2, "ZA": 2, "KR": 2, "EG": 2, "PH": 2,
    "ID": 2, "TR": 2, "AR": 2, "SE": 1, "KE": 1, "VN": 1, "IE": 1,
}  # fmt: skip
NULL_COUNTRY_SHARE = 0.08

SUBJECTS = (
    "math", "physics", "chemistry", "biology", "history", "geography", "english", "spanish",
    "french", "computer_science", "economics", "art", "music",
)  # fmt: skip
SUBJECT_WEIGHTS = (18, 10, 8, 8, 9, 5, 14, 7, 4, 9, 5, 3, 4)
LESSONS_PER_SUBJECT = 60

DEVICES = ("desktop", "mobile", "tablet")
DEVICE_WEIGHTS = (55, 35, 10)

# Share of activity per UTC hour (learners are most active in the evening of Europe and the Americas).
HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 6, 7, 7, 7, 8, 9, 10, 11, 10, 8, 5, 3)

DORMANT_USER_SHARE = 0.2  # users with no activity at all
ACTIVITY_PARETO_ALPHA = 1.16  # the 80/20 rule
ACTIVITY_CAP = 30.0  # the heaviest user is ~30 times as active as the lightest active one
FAVOURITE_SUBJECT_SHARE = 0.75
ZERO_MINUTES_SHARE = 0.006
NULL_SCORE_SHARE = 0.15
ORPHAN_PROGRESS_SHARE = 0.002
ORPHAN_SESSION_SHARE = 0.01
ORPHAN_POOL = 12

# Event timestamps are rendered in the zone of the client; None means "Z".
ZONES = (None, None, None, None, None, dt.timedelta(0), dt.timedelta(hours=1), dt.timedelta(hours=2),
         dt.timedelta(hours=-5), dt.timedelta(hours=5, minutes=30), dt.timedelta(hours=-8),
         dt.timedelta(hours=9))  # fmt: skip

# -- the drop's files --------------------------------------------------------------------------------
EVENT_FILES = {  # name -> share of the good rows
    "events_a.jsonl": 25,
    "events_b.jsonl.gz": 20,
    "events_c.csv": 15,
    "events_d.csv.gz": 15,
    "events_e.parquet": 15,  # properties a struct, timestamp an ISO-8601 string
    "events_f.parquet": 10,  # properties a map<string,string>, timestamp a Parquet timestamp (UTC)
}
FORMAT_FAMILY = {
    "events_a.jsonl": "json",
    "events_b.jsonl.gz": "json",
    "events_c.csv": "csv",
    "events_d.csv.gz": "csv",
    "events_e.parquet": "parquet",
    "events_f.parquet": "parquet",
}
CSV_COLUMNS = ("event_id", "event_type", "user_id", "timestamp", "page", "duration_ms", "device")
SUCCESS_FLAG = "_SUCCESS"

PAGES = (
    ("/dashboard", 30), ("/", 12), ("/courses", 14), ("/courses/math", 8), ("/courses/physics", 4),
    ("/courses/history", 4), ("/courses/english", 6), ("/courses/computer-science", 5),
    ("/lessons/math/fractions-1", 6), ("/lessons/math/algebra-2", 5), ("/lessons/physics/motion", 3),
    ("/lessons/history/rome", 3), ("/lessons/english/grammar", 4), ("/quiz", 7), ("/leaderboard", 4),
    ("/profile", 4), ("/settings", 2), ("/search", 3), ("/pricing", 2), ("/help", 1),
)  # fmt: skip

# Every planted bad row has exactly one fault, so its reason is the one the contract assigns to it.
REASONS = INGEST_REASONS
_ALL = tuple(EVENT_FILES)
_JSON = ("events_a.jsonl", "events_b.jsonl.gz")
_CSV = ("events_c.csv", "events_d.csv.gz")
_TEXT_TS = _ALL[:5]  # files whose timestamp is a string (events_f holds a Parquet timestamp)
_INT_DURATION_FREE = _JSON + _CSV + ("events_f.parquet",)  # events_e holds duration_ms as int64


# -- configuration -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class DayConfig:
    """What to generate. Every output is a function of these values only."""

    date: dt.date
    users: int = 2000
    progress_per_day: int = 5000
    events: int = 20000
    bad_share: float = 0.02
    seed: int = 42
    # When set, the week's rows so far (Monday..D) in total, spread evenly over those days; a day's
    # rows then depend on D's weekday too. None: `progress_per_day` rows on every day.
    progress_week: int | None = None

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be at least 1, got {self.users}")
        if self.progress_per_day < 0 or self.events < 0 or (self.progress_week or 0) < 0:
            raise ValueError("progress_per_day, progress_week and events must not be negative")
        if not 0 <= self.bad_share <= 0.5:
            raise ValueError(f"bad_share must be between 0 and 0.5, got {self.bad_share}")

    def progress_rows_on(self, day: dt.date) -> int:
        if self.progress_week is None:
            return self.progress_per_day
        base, extra = divmod(self.progress_week, len(self.days))
        return base + ((day - self.week_start).days < extra)

    @property
    def week_start(self) -> dt.date:
        return self.date - dt.timedelta(days=self.date.weekday())

    @property
    def days(self) -> list[dt.date]:
        """The days of D's ISO week the source holds at run time: Monday up to and including D."""
        return [self.week_start + dt.timedelta(days=i) for i in range(self.date.weekday() + 1)]


def seeded(seed: int, *parts: object) -> random.Random:
    """An independent, reproducible stream per purpose (str seeds are hashed with SHA-512)."""
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def new_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _cumulative(weights: Iterable[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def _pick(rng: random.Random, items: tuple[Any, ...], cum: list[float]) -> Any:
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


_HOUR_CUM = [c / sum(HOUR_WEIGHTS) for c in _cumulative(HOUR_WEIGHTS)]
_SUBJECT_CUM = _cumulative(SUBJECT_WEIGHTS)
_DEVICE_CUM = _cumulative(DEVICE_WEIGHTS)
_COUNTRY_CODES = tuple(COUNTRIES)
_COUNTRY_CUM = _cumulative(COUNTRIES.values())
_PAGE_NAMES = tuple(p for p, _ in PAGES)
_PAGE_CUM = _cumulative(w for _, w in PAGES)


def second_of_day(u: float) -> int:
    """Maps u in [0, 1) to a second of the day along the diurnal profile (monotone in u)."""
    hour = min(bisect.bisect_right(_HOUR_CUM, u), 23)
    low = _HOUR_CUM[hour - 1] if hour else 0.0
    frac = (u - low) / (_HOUR_CUM[hour] - low)
    return min(int((hour + frac) * 3600), DAY_SECONDS - 1)


def ascending_uniforms(rng: random.Random, n: int) -> Iterator[float]:
    """n sorted uniforms in O(1) memory (Bentley & Saxe: the maximum of i uniforms is U ** (1/i))."""
    top = 1.0
    for i in range(n, 0, -1):
        top *= rng.random() ** (1.0 / i)
        yield 1.0 - top


def selection(rng: random.Random, n: int, k: int) -> Iterator[bool]:
    """n flags of which exactly k are set, uniformly spread, in O(1) memory (Knuth's algorithm S)."""
    for remaining in range(n, 0, -1):
        chosen = rng.random() * remaining < k
        k -= chosen
        yield chosen


# -- users -------------------------------------------------------------------------------------------
@dataclass
class Population:
    """The users and their behaviour; O(users) memory, independent of the number of rows."""

    rows: list[tuple[str, str, str, str | None, str]]  # users table: id, name, email, country, created_at
    activity_cum: list[float]  # cumulative activity weights: heavy users are picked more often
    favourites: list[tuple[str, ...]]
    skill: list[float]  # alpha of the user's score distribution
    device: list[str]
    orphan_ids: list[str]  # user ids that are not in `users`
    lessons: dict[str, list[str]] = field(default_factory=dict)

    def pick_user(self, rng: random.Random) -> int:
        return bisect.bisect_right(self.activity_cum, rng.random() * self.activity_cum[-1])


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def _email(rng: random.Random, first: str, last: str, taken: set[str]) -> str:
    local = rng.choice((f"{_ascii(first)}.{_ascii(last)}", f"{_ascii(first)}{_ascii(last)[:1]}",
                        f"{_ascii(first)[:1]}{_ascii(last)}", f"{_ascii(first)}_{_ascii(last)}"))  # fmt: skip
    email = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
    while email in taken:
        email = f"{local}{rng.randint(1, 9999)}@{rng.choice(EMAIL_DOMAINS)}"
    taken.add(email)
    return email


def _activity(rng: random.Random) -> float:
    if rng.random() < DORMANT_USER_SHARE:
        return 0.0
    return min(rng.paretovariate(ACTIVITY_PARETO_ALPHA), ACTIVITY_CAP)


def build_population(cfg: DayConfig) -> Population:
    """Users depend on (seed, users) only; `created_at` lies before the Monday of D's week."""
    rng = seeded(cfg.seed, "users", cfg.users)
    week_start = dt.datetime.combine(cfg.week_start, dt.time(), dt.UTC)
    taken: set[str] = set()
    rows, weights, favourites, skill, device = [], [], [], [], []
    for _ in range(cfg.users):
        user_id = new_uuid(rng)
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country = None if rng.random() < NULL_COUNTRY_SHARE else _pick(rng, _COUNTRY_CODES, _COUNTRY_CUM)
        created = week_start - dt.timedelta(seconds=rng.randint(3600, 3 * 365 * DAY_SECONDS))
        rows.append((user_id, f"{first} {last}", _email(rng, first, last, taken), country,
                     created.strftime("%Y-%m-%d %H:%M:%S+00")))  # fmt: skip
        weights.append(_activity(rng))
        favourites.append(tuple({_pick(rng, SUBJECTS, _SUBJECT_CUM) for _ in range(rng.randint(1, 3))}))
        skill.append(rng.uniform(1.5, 8.0))
        device.append(_pick(rng, DEVICES, _DEVICE_CUM))
    if not any(weights):  # a tiny population may draw only dormant users
        weights[0] = 1.0
    orphan_rng = seeded(cfg.seed, "orphans")
    lesson_rng = seeded(cfg.seed, "lessons")
    return Population(
        rows=rows,
        activity_cum=_cumulative(weights),
        favourites=sorted_favourites(favourites),
        skill=skill,
        device=device,
        orphan_ids=[new_uuid(orphan_rng) for _ in range(ORPHAN_POOL)],
        lessons={s: [new_uuid(lesson_rng) for _ in range(LESSONS_PER_SUBJECT)] for s in SUBJECTS},
    )


def sorted_favourites(favourites: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """Set iteration order of str depends on PYTHONHASHSEED: sort to stay deterministic."""
    return [tuple(sorted(f)) for f in favourites]


# -- progress ----------------------------------------------------------------------------------------
@dataclass
class ProgressStats:
    rows_per_day: dict[str, int] = field(default_factory=dict)
    orphan_rows_per_day: dict[str, int] = field(default_factory=dict)
    zero_minute_rows: int = 0
    null_scores: int = 0
    clipped_to_day_budget: int = 0  # rows shortened so no user learns more than 24 h in a day


ProgressRow = tuple[str, str, str, str, int, str | None, str]


def iter_progress_day(
    cfg: DayConfig, pop: Population, day: dt.date, stats: ProgressStats | None = None
) -> Iterator[ProgressRow]:
    """`progress_per_day` rows of one day, in completed_at order: (user_id, lesson_id, subject, date,
    time_spent_minutes, score, completed_at). Depends on (seed, users, day) only."""
    stats = stats if stats is not None else ProgressStats()
    rng = seeded(cfg.seed, "progress", cfg.users, day.isoformat())
    n = cfg.progress_rows_on(day)
    orphan_at = selection(rng, n, min(n, max(1, round(n * ORPHAN_PROGRESS_SHARE))))
    minutes_left = [MINUTES_PER_DAY] * len(pop.rows)
    day_iso = day.isoformat()
    stats.rows_per_day[day_iso] = n
    stats.orphan_rows_per_day[day_iso] = 0
    for u, orphan in zip(ascending_uniforms(rng, n), orphan_at, strict=True):
        stats.orphan_rows_per_day[day_iso] += orphan
        if orphan:
            user_id, user = rng.choice(pop.orphan_ids), -1
        else:
            user = pop.pick_user(rng)
            user_id = pop.rows[user][0]
        subject = _subject(rng, pop, user)
        lesson = pop.lessons[subject][int(LESSONS_PER_SUBJECT * rng.random() ** 1.6)]
        minutes = _minutes(rng)
        if user >= 0:
            if minutes > minutes_left[user]:
                minutes = minutes_left[user]
                stats.clipped_to_day_budget += 1
            minutes_left[user] -= minutes
        score = _score(rng, pop.skill[user] if user >= 0 else 4.0)
        stats.zero_minute_rows += minutes == 0
        stats.null_scores += score is None
        hh, rest = divmod(second_of_day(u), 3600)
        yield (user_id, lesson, subject, day_iso, minutes, score,
               f"{day_iso} {hh:02d}:{rest // 60:02d}:{rest % 60:02d}+00")  # fmt: skip


def _subject(rng: random.Random, pop: Population, user: int) -> str:
    if user >= 0 and rng.random() < FAVOURITE_SUBJECT_SHARE:
        fav = pop.favourites[user]
        return fav[int(rng.random() * len(fav))]
    return _pick(rng, SUBJECTS, _SUBJECT_CUM)


def _minutes(rng: random.Random) -> int:
    if rng.random() < ZERO_MINUTES_SHARE:
        return 0  # opened and immediately marked complete
    return min(120, max(1, int(rng.lognormvariate(2.8, 0.65))))


def _score(rng: random.Random, alpha: float) -> str | None:
    if rng.random() < NULL_SCORE_SHARE:
        return None  # lesson without an assessment
    return f"{100.0 * rng.betavariate(alpha, 2.0):.2f}"


def iter_progress_week(cfg: DayConfig, pop: Population, stats: ProgressStats) -> Iterator[ProgressRow]:
    for day in cfg.days:
        yield from iter_progress_day(cfg, pop, day, stats)


# -- COPY FROM STDIN, streamed -------------------------------------------------------------------------
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_line(values: Iterable[object]) -> str:
    """One row in COPY's text format: tab-separated, NULL as \\N."""
    return "\t".join("\\N" if v is None else str(v).translate(_COPY_ESCAPES) for v in values) + "\n"


class CopyStream:
    """A read-only file over an iterator of lines, in chunks: what `copy_expert` needs, in O(chunk) memory."""

    def __init__(self, lines: Iterable[str], chunk_lines: int = 20_000) -> None:
        it = iter(lines)
        self._chunks = (
            "".join(batch).encode() for batch in iter(lambda: list(itertools.islice(it, chunk_lines)), [])
        )
        self._buf = b""
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        if self._pos >= len(self._buf):
            self._buf, self._pos = next(self._chunks, b""), 0
        end = len(self._buf) if size is None or size < 0 else self._pos + size
        piece = self._buf[self._pos : end]
        self._pos += len(piece)
        return piece

    def readline(self, size: int = -1) -> bytes:  # psycopg2 only calls read(); here for file-likeness
        return self.read(size)


def ensure_database(dsn: str) -> None:
    """Creates the DSN's database when it does not exist (a convenience of the demo stack)."""
    import psycopg2
    from psycopg2 import sql
    from psycopg2.extensions import make_dsn, parse_dsn

    try:
        psycopg2.connect(dsn).close()
        return
    except psycopg2.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    dbname = parse_dsn(dsn)["dbname"]
    admin = psycopg2.connect(make_dsn(dsn, dbname="postgres"))
    try:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    finally:
        admin.close()


def load_source(dsn: str, cfg: DayConfig, pop: Population, fresh: bool = True) -> ProgressStats:
    """Creates the schema if missing and, in one transaction, either replaces users and progress
    (`fresh`: the week so far, Monday..D, and nothing else) or adds D to what is there (`_add_day`)."""
    import psycopg2

    ensure_database(dsn)
    stats = ProgressStats()
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(SCHEMA_SQL.read_text())
            if fresh:
                cur.execute(read_sql("demo/truncate_source.sql"))
                cur.copy_expert(
                    read_sql("demo/copy_users.sql"), CopyStream(copy_line(r) for r in pop.rows), size=1 << 20
                )
                days = cfg.days
            else:
                days = _add_day(cur, cfg, pop)
            rows = (copy_line(r) for day in days for r in iter_progress_day(cfg, pop, day, stats))
            cur.copy_expert(read_sql("demo/copy_progress.sql"), CopyStream(rows), size=1 << 20)
        conn.commit()
    finally:
        conn.close()
    return stats


def _add_day(cur: Any, cfg: DayConfig, pop: Population) -> list[dt.date]:
    """Adds D to the source as it is, so that a week can be prepared day by day: the users are merged
    (the ones other days' rows point at stay), D's progress rows are deleted, and the days to write
    are D and the days of its week before D that hold no rows yet (the platform extracts the week
    so far). Days already there keep their rows and ids."""
    cur.execute(read_sql("demo/stage_users.sql"))
    cur.copy_expert(
        read_sql("demo/copy_users_generated.sql"), CopyStream(copy_line(r) for r in pop.rows), size=1 << 20
    )
    cur.execute(read_sql("demo/merge_users.sql"))
    cur.execute(read_sql("demo/delete_progress_day.sql"), {"date": cfg.date})
    cur.execute(read_sql("demo/progress_days_present.sql"), {"start": cfg.week_start, "end": cfg.date})
    present = {row[0] for row in cur.fetchall()}
    return [day for day in cfg.days if day not in present]


# -- events --------------------------------------------------------------------------------------------
@dataclass
class PlantedRow:
    """One row of a drop file: an event record (dict, keys may be absent) or a raw unparsable line."""

    file: str
    record: dict[str, Any] | None = None
    raw: str | None = None
    reason: str | None = None  # None: a good row
    variant: str | None = None
    instant: dt.datetime | None = None  # the UTC instant of a good row


def render_ts(instant: dt.datetime, zone: dt.timedelta | None, millis: bool = True) -> str:
    """ISO-8601 in the client's zone; `Z` for zone None."""
    local = instant.astimezone(dt.timezone(zone or dt.timedelta(0)))
    text = local.isoformat(timespec="milliseconds" if millis else "seconds")
    return text.replace("+00:00", "Z") if zone is None else text


def _event(event_id: str, event_type: str, user_id: str, ts: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": event_id, "event_type": event_type, "user_id": user_id, "timestamp": ts,
            "properties": props}  # fmt: skip


def _session_steps(rng: random.Random, device: str) -> list[tuple[int, str, dict[str, Any]]]:
    """(offset_ms, event_type, properties) of one session, offsets from its start."""
    page = _pick(rng, _PAGE_NAMES, _PAGE_CUM)
    steps: list[tuple[int, str, dict[str, Any]]] = [(0, "session_start", {"page": page, "device": device})]
    t = rng.randint(50, 1500)
    for _ in range(1 + min(30, int(rng.expovariate(0.25)))):
        on_page = min(1_800_000, int(rng.lognormvariate(9.9, 1.0)))  # median ~20 s
        steps.append((t, "page_view", {"page": page, "duration_ms": on_page, "device": device}))
        for _ in range(min(6, int(rng.expovariate(0.8)))):
            steps.append((t + int(on_page * rng.random()), "click", {"page": page, "device": device}))
        t += on_page + rng.randint(100, 3000)
        page = _pick(rng, _PAGE_NAMES, _PAGE_CUM)
    steps.sort(key=lambda s: s[0])
    steps.append((t, "session_end", {"duration_ms": t, "device": device}))
    return steps


def iter_sessions(cfg: DayConfig, pop: Population, stream: str | None = None) -> Iterator[list[PlantedRow]]:
    """An endless stream of sessions that each lie entirely inside D (file not yet assigned); each
    `stream` name gives an independent stream (the benchmark layout draws one per file)."""
    rng = seeded(cfg.seed, "sessions", cfg.users, cfg.date.isoformat(), *([stream] if stream else []))
    day_start = dt.datetime.combine(cfg.date, dt.time(), dt.UTC)
    while True:
        if rng.random() < ORPHAN_SESSION_SHARE:
            user_id, device = rng.choice(pop.orphan_ids), _pick(rng, DEVICES, _DEVICE_CUM)
        else:
            user = pop.pick_user(rng)
            device = pop.device[user] if rng.random() < 0.85 else _pick(rng, DEVICES, _DEVICE_CUM)
            user_id = pop.rows[user][0]
        steps = _session_steps(rng, device)
        length = min(steps[-1][0], DAY_MS - 2)
        start_ms = min(second_of_day(rng.random()) * 1000 + rng.randrange(1000), DAY_MS - 1 - length)
        zone, millis = rng.choice(ZONES), rng.random() < 0.8
        session = []
        for offset, event_type, props in steps:
            instant = day_start + dt.timedelta(milliseconds=min(start_ms + offset, DAY_MS - 1))
            record = _event(new_uuid(rng), event_type, user_id, render_ts(instant, zone, millis), props)
            session.append(PlantedRow(file="", record=record, instant=instant))
        yield session


class _DuplicatePool:
    """A bounded reservoir of good rows that can be sent again later (for planted duplicates)."""

    def __init__(self, rng: random.Random, latest: dt.datetime, size: int = 512) -> None:
        self._rng, self._latest, self._size, self._rows, self._seen = rng, latest, size, [], 0

    def offer(self, row: PlantedRow) -> None:
        if row.instant is None or row.instant >= self._latest:
            return
        self._seen += 1
        if len(self._rows) < self._size:
            self._rows.append(row)
        elif (j := self._rng.randrange(self._seen)) < self._size:
            self._rows[j] = row

    def take(self) -> PlantedRow | None:
        return self._rows.pop(self._rng.randrange(len(self._rows))) if self._rows else None


def _lone_event(rng: random.Random, cfg: DayConfig, pop: Population) -> tuple[dict[str, Any], dt.datetime]:
    """A valid page_view inside D: the base that a bad row breaks in exactly one way."""
    user = pop.pick_user(rng)
    instant = dt.datetime.combine(cfg.date, dt.time(), dt.UTC) + dt.timedelta(
        milliseconds=second_of_day(rng.random()) * 1000 + rng.randrange(1000)
    )
    props = {"page": _pick(rng, _PAGE_NAMES, _PAGE_CUM), "duration_ms": rng.randint(500, 90_000),
             "device": pop.device[user]}  # fmt: skip
    record = _event(
        new_uuid(rng), "page_view", pop.rows[user][0], render_ts(instant, rng.choice(ZONES)), props
    )
    return record, instant


def csv_fields(record: dict[str, Any]) -> list[str]:
    props = record.get("properties") or {}
    values = [record.get(c) for c in CSV_COLUMNS[:4]] + [props.get(c) for c in CSV_COLUMNS[4:]]
    return ["" if v is None else str(v) for v in values]


# Each bad-row builder takes (rng, cfg, base record) and breaks it in one way: (record, raw line).
Breaker = Callable[[random.Random, DayConfig, dict[str, Any]], tuple[dict[str, Any] | None, str | None]]


_ABSENT = object()  # _set(..., _ABSENT) deletes the key


def _set(path: tuple[str, ...], value: Any) -> Breaker:
    def breaker(rng: random.Random, cfg: DayConfig, rec: dict[str, Any]) -> tuple[dict[str, Any], None]:
        target = rec
        for key in path[:-1]:
            target = target[key]
        if value is _ABSENT:
            del target[path[-1]]
        else:
            target[path[-1]] = value(rng, cfg) if callable(value) else value
        return rec, None

    return breaker


def _click_without_page(
    rng: random.Random, cfg: DayConfig, rec: dict[str, Any]
) -> tuple[dict[str, Any], None]:
    rec["event_type"] = "click"
    rec["properties"] = {"device": rec["properties"]["device"]}
    return rec, None


def _json_truncated(rng: random.Random, cfg: DayConfig, rec: dict[str, Any]) -> tuple[None, str]:
    text = json.dumps(rec, ensure_ascii=False)
    return None, text[: rng.randint(10, len(text) - 2)]  # a producer killed mid-write: no closing brace


def _json_garbage(rng: random.Random, cfg: DayConfig, rec: dict[str, Any]) -> tuple[None, str]:
    return None, rng.choice((
        "<html><body><h1>502 Bad Gateway</h1></body></html>",
        str({"event_id": rec["event_id"], "event_type": rec["event_type"]}),  # a Python repr, not JSON
        f"event_id={rec['event_id']}&event_type={rec['event_type']}&user_id={rec['user_id']}",
    ))  # fmt: skip


def _csv_extra_field(rng: random.Random, cfg: DayConfig, rec: dict[str, Any]) -> tuple[None, str]:
    rec["properties"]["page"] = "/search?q=algebra,fractions"  # an unquoted comma: 8 fields
    return None, ",".join(csv_fields(rec))


def _csv_too_few(rng: random.Random, cfg: DayConfig, rec: dict[str, Any]) -> tuple[None, str]:
    return None, ",".join(csv_fields(rec)[:5])  # a line cut short: 5 fields


def _ts(make: Callable[[random.Random, DayConfig], str]) -> Breaker:
    return _set(("timestamp",), make)


def _hms(rng: random.Random) -> str:
    return f"{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"


# variant -> (reason, files it may be written to, builder); duplicates are built from the pool.
BAD_VARIANTS: dict[str, tuple[str, tuple[str, ...], Breaker | None]] = {
    "json_truncated": ("malformed", _JSON, _json_truncated),
    "json_garbage": ("malformed", _JSON, _json_garbage),
    "csv_extra_field": ("malformed", _CSV, _csv_extra_field),
    "csv_too_few_fields": ("malformed", _CSV, _csv_too_few),
    "no_event_id": ("missing_field", _ALL, _set(("event_id",), _ABSENT)),
    "empty_user_id": ("missing_field", _ALL, _set(("user_id",), "")),
    "no_timestamp": ("missing_field", _ALL, _set(("timestamp",), _ABSENT)),
    "page_view_without_page": ("missing_field", _ALL, _set(("properties", "page"), _ABSENT)),
    "click_without_page": ("missing_field", _ALL, _click_without_page),
    "unknown_event_type": ("invalid_event_type", _ALL,
                           _set(("event_type",), lambda r, c: r.choice(("purchase", "scroll", "PageView")))),
    "timestamp_without_zone": ("invalid_timestamp", _TEXT_TS, _ts(lambda r, c: f"{c.date}T10:{_hms(r)}")),
    "timestamp_garbage": ("invalid_timestamp", _TEXT_TS,
                          _ts(lambda r, c: r.choice((f"{c.date:%d/%m/%Y} 10:30:00", "yesterday", "not-a-date")))),
    "timestamp_impossible": ("invalid_timestamp", _TEXT_TS, _ts(lambda r, c: f"{c.date:%Y-%m}-32T10:{_hms(r)}Z")),
    "duration_negative": ("invalid_value", _ALL, _set(("properties", "duration_ms"), -5)),
    "duration_not_a_number": ("invalid_value", _INT_DURATION_FREE, _set(("properties", "duration_ms"), "abc")),
    "duration_fractional": ("invalid_value", _INT_DURATION_FREE, _set(("properties", "duration_ms"), 1.5)),
    "day_before": ("out_of_window", _ALL,
                   _ts(lambda r, c: f"{c.date - dt.timedelta(days=1)}T23:59:59Z")),
    "day_after": ("out_of_window", _ALL, _ts(lambda r, c: f"{c.date + dt.timedelta(days=1)}T00:00:00Z")),
    "offset_into_day_before": ("out_of_window", _TEXT_TS, _ts(lambda r, c: f"{c.date}T01:{_hms(r)}+02:00")),
    "offset_into_day_after": ("out_of_window", _TEXT_TS, _ts(lambda r, c: f"{c.date}T23:{_hms(r)}-02:00")),
    "later_copy_other_format": ("duplicate", _ALL, None),
}  # fmt: skip
_VARIANTS_BY_REASON = {r: [v for v, spec in BAD_VARIANTS.items() if spec[0] == r] for r in REASONS}


def bad_variant(k: int) -> str:
    """The k-th planted bad row: round robin over the reasons, then over each reason's variants."""
    variants = _VARIANTS_BY_REASON[REASONS[k % len(REASONS)]]
    return variants[(k // len(REASONS)) % len(variants)]


@dataclass
class EventStats:
    rows_per_file: Counter[str] = field(default_factory=Counter)
    good_rows: int = 0
    orphan_user_rows: int = 0
    good_by_event_type: Counter[str] = field(default_factory=Counter)
    bad_by_reason: Counter[str] = field(default_factory=Counter)
    bad_by_variant: Counter[str] = field(default_factory=Counter)

    edge_by_variant: Counter[str] = field(default_factory=Counter)  # good rows at a limit (benchmark)

    def count(self, row: PlantedRow, orphan_ids: set[str]) -> None:
        self.rows_per_file[row.file] += 1
        if row.reason is None:
            self.good_rows += 1
            self.good_by_event_type[row.record["event_type"]] += 1
            self.orphan_user_rows += row.record["user_id"] in orphan_ids
        else:
            self.bad_by_reason[row.reason] += 1
            self.bad_by_variant[row.variant] += 1

    def merge(self, other: EventStats) -> None:
        self.good_rows += other.good_rows
        self.orphan_user_rows += other.orphan_user_rows
        for name in (
            "rows_per_file",
            "good_by_event_type",
            "bad_by_reason",
            "bad_by_variant",
            "edge_by_variant",
        ):
            getattr(self, name).update(getattr(other, name))


class _Planter:
    """Builds bad rows; a duplicate that finds no earlier good row yet is owed to a later slot."""

    def __init__(self, rng: random.Random, cfg: DayConfig, pop: Population, pool: _DuplicatePool) -> None:
        self._rng, self._cfg, self._pop, self._pool = rng, cfg, pop, pool
        self._k = 0
        self._owed_duplicates = 0

    def next_row(self) -> PlantedRow:
        if self._owed_duplicates and (row := self._duplicate()) is not None:
            self._owed_duplicates -= 1
            return row
        variant = bad_variant(self._k)
        self._k += 1
        if variant == "later_copy_other_format":
            row = self._duplicate()
            if row is not None:
                return row
            self._owed_duplicates += 1
            return self.next_row()
        return self._broken(variant)

    def _broken(self, variant: str) -> PlantedRow:
        reason, files, breaker = BAD_VARIANTS[variant]
        base, _ = _lone_event(self._rng, self._cfg, self._pop)
        record, raw = breaker(self._rng, self._cfg, base)
        return PlantedRow(self._rng.choice(files), record, raw, reason, variant)

    def _duplicate(self) -> PlantedRow | None:
        original = self._pool.take()
        if original is None:
            return None
        instant = original.instant + dt.timedelta(seconds=self._rng.randint(1, 120))
        record = {**original.record, "timestamp": render_ts(instant, self._rng.choice(ZONES))}
        others = [f for f in _ALL if FORMAT_FAMILY[f] != FORMAT_FAMILY[original.file]]
        return PlantedRow(
            self._rng.choice(others), record, None, "duplicate", "later_copy_other_format", instant
        )


def iter_event_rows(cfg: DayConfig, pop: Population) -> Iterator[PlantedRow]:
    """Exactly `cfg.events` rows, each assigned to a file; round(events * bad_share) of them bad."""
    rng = seeded(cfg.seed, "drop", cfg.users, cfg.date.isoformat())
    n_bad = round(cfg.events * cfg.bad_share)
    bad_at = selection(rng, cfg.events, n_bad)
    day_end = dt.datetime.combine(cfg.date + dt.timedelta(days=1), dt.time(), dt.UTC)
    pool = _DuplicatePool(rng, day_end - dt.timedelta(seconds=121))
    planter = _Planter(rng, cfg, pop, pool)
    good = itertools.chain.from_iterable(iter_sessions(cfg, pop))
    files, cum = tuple(EVENT_FILES), _cumulative(EVENT_FILES.values())
    for bad in bad_at:
        if bad:
            yield planter.next_row()
            continue
        row = next(good)
        row.file = _pick(rng, files, cum)
        pool.offer(row)
        yield row


# -- file sinks ------------------------------------------------------------------------------------------
def _text_stream(path: Path, compressed: bool) -> tuple[io.TextIOWrapper, Any]:
    raw = open(path, "wb")  # closed by the sink
    # No file name and mtime 0 in the gzip header: reruns are byte-identical.
    stream = (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) if compressed else raw
    )
    return io.TextIOWrapper(stream, encoding="utf-8", newline="\n"), raw


class JsonlSink:
    def __init__(self, path: Path) -> None:
        self._text, self._raw = _text_stream(path, path.name.endswith(".gz"))

    def write(self, row: PlantedRow) -> None:
        self._text.write(
            (row.raw if row.raw is not None else json.dumps(row.record, ensure_ascii=False)) + "\n"
        )

    def close(self) -> None:
        self._text.close()
        self._raw.close()


class CsvSink(JsonlSink):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self._csv = csv.writer(self._text, lineterminator="\n")
        self._csv.writerow(CSV_COLUMNS)

    def write(self, row: PlantedRow) -> None:
        if row.raw is not None:
            self._text.write(row.raw + "\n")
        else:
            self._csv.writerow(csv_fields(row.record))


class ParquetSink:
    """Buffers one row group of columns, then hands it to pyarrow: memory bounded by the row group."""

    COLUMNS = ("event_id", "event_type", "user_id", "timestamp", "properties")

    def __init__(self, path: Path, row_group_rows: int = 50_000) -> None:
        import pyarrow.parquet as pq

        self._schema = self.schema()
        self._writer = pq.ParquetWriter(path, self._schema, compression="snappy")
        self._row_group_rows = row_group_rows
        self._columns: dict[str, list[Any]] = {c: [] for c in self.COLUMNS}

    @staticmethod
    def schema() -> Any:
        import pyarrow as pa

        props = pa.struct([("page", pa.string()), ("duration_ms", pa.int64()), ("device", pa.string())])
        return pa.schema([*[(c, pa.string()) for c in ParquetSink.COLUMNS[:4]], ("properties", props)])

    def convert(self, record: dict[str, Any]) -> dict[str, Any]:
        return {c: record.get(c) for c in self.COLUMNS}

    def write(self, row: PlantedRow) -> None:
        for key, value in self.convert(row.record).items():
            self._columns[key].append(value)
        if len(self._columns["event_id"]) >= self._row_group_rows:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self._columns["event_id"]:
            self._writer.write_table(pa.Table.from_pydict(self._columns, schema=self._schema))
            self._columns = {c: [] for c in self.COLUMNS}

    def close(self) -> None:
        self._flush()
        self._writer.close()


class ParquetMapSink(ParquetSink):
    """properties as map<string,string> (duration_ms as a string), timestamp as a UTC Parquet timestamp."""

    @staticmethod
    def schema() -> Any:
        import pyarrow as pa

        return pa.schema([("event_id", pa.string()), ("event_type", pa.string()), ("user_id", pa.string()),
                          ("timestamp", pa.timestamp("us", tz="UTC")),
                          ("properties", pa.map_(pa.string(), pa.string()))])  # fmt: skip

    def convert(self, record: dict[str, Any]) -> dict[str, Any]:
        values = {c: record.get(c) for c in self.COLUMNS}
        if values["timestamp"] is not None:
            values["timestamp"] = dt.datetime.fromisoformat(values["timestamp"]).astimezone(dt.UTC)
        props = values["properties"]
        values["properties"] = None if props is None else [(k, str(v)) for k, v in props.items()]
        return values


SINKS: dict[str, Callable[[Path], Any]] = {
    "events_a.jsonl": JsonlSink,
    "events_b.jsonl.gz": JsonlSink,
    "events_c.csv": CsvSink,
    "events_d.csv.gz": CsvSink,
    "events_e.parquet": ParquetSink,
    "events_f.parquet": ParquetMapSink,
}


def drop_folder(drop_dir: str | Path, date: dt.date) -> Path:
    return Path(drop_dir) / "user_events" / date.isoformat()


def _fresh_drop_folder(drop_dir: str | Path, date: dt.date) -> Path:
    """The drop folder of `date`, emptied: its old `_SUCCESS` goes first."""
    folder = drop_folder(drop_dir, date)
    (folder / SUCCESS_FLAG).unlink(missing_ok=True)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def write_event_drop(cfg: DayConfig, pop: Population, drop_dir: str | Path) -> EventStats:
    """Replaces the drop of D: the old `_SUCCESS` goes first, the new one is written last."""
    folder = _fresh_drop_folder(drop_dir, cfg.date)
    stats, orphans = EventStats(), set(pop.orphan_ids)
    sinks = {name: factory(folder / name) for name, factory in SINKS.items()}
    try:
        for row in iter_event_rows(cfg, pop):
            sinks[row.file].write(row)
            stats.count(row, orphans)
    finally:
        for sink in sinks.values():
            sink.close()
    (folder / SUCCESS_FLAG).write_bytes(b"")
    return stats


# -- the benchmark layout ----------------------------------------------------------------------------------
# A day shaped like a production drop (issue 6): eleven files of the four kinds the demo layout shows,
# sized by share of rows (40% JSON lines, 20% gzip JSON lines, 15% CSV, 10% gzip CSV, 15% Parquet).
# Every file is drawn from its own seeded streams, so the files can be written by parallel processes
# and the bytes do not depend on how many. `bad_share` is the share of faulty rows over every reason
# but `duplicate`; `duplicate_share` of the rows are later copies, in another format, of an event
# that another file holds too (a producer's redelivery).
@dataclass(frozen=True)
class DropFile:
    name: str
    kind: str  # jsonl | csv | parquet_struct (like events_e) | parquet_map (like events_f)
    share: float  # of the day's rows


BENCHMARK_FILES = (
    DropFile("events_01.jsonl", "jsonl", 0.12),
    DropFile("events_02.jsonl", "jsonl", 0.12),
    DropFile("events_03.jsonl", "jsonl", 0.12),
    DropFile("events_04.jsonl.gz", "jsonl", 0.10),
    DropFile("events_05.jsonl.gz", "jsonl", 0.10),
    DropFile("events_06.csv", "csv", 0.075),
    DropFile("events_07.csv", "csv", 0.075),
    DropFile("events_08.csv.gz", "csv", 0.10),
    DropFile("events_09.parquet", "parquet_struct", 0.075),
    DropFile("events_10.parquet", "parquet_map", 0.075),
    DropFile("events_11_late.jsonl", "jsonl", 0.04),
)
KIND_OF_DEMO_FILE = {
    "events_a.jsonl": "jsonl",
    "events_b.jsonl.gz": "jsonl",
    "events_c.csv": "csv",
    "events_d.csv.gz": "csv",
    "events_e.parquet": "parquet_struct",
    "events_f.parquet": "parquet_map",
}
SINK_OF_KIND: dict[str, Callable[[Path], Any]] = {
    "jsonl": JsonlSink,
    "csv": CsvSink,
    "parquet_struct": ParquetSink,
    "parquet_map": ParquetMapSink,
}
FAMILY_OF_KIND = {"jsonl": "json", "csv": "csv", "parquet_struct": "parquet", "parquet_map": "parquet"}
_ALL_KINDS = frozenset(SINK_OF_KIND)
_TEXT_TS_KINDS = frozenset(("jsonl", "csv", "parquet_struct"))
PAGE_MAX_BYTES = 2048  # contract section 3: a longer page is invalid_value
PAGE_FILLERS = ("a", "é", "漢", "🙂")  # 1, 2, 3 and 4 bytes in UTF-8
EDGE_SHARE = 0.002  # of the good session rows: valid, but at a limit of the contract


def page_of_bytes(size: int, filler: str) -> str:
    """A page path of exactly `size` bytes in UTF-8: `/lessons/`, `filler` repeated, ASCII padding."""
    text = "/lessons/" + filler * ((size - 9) // len(filler.encode()))
    return text + "x" * (size - len(text.encode()))


def _user_id_not_a_uuid(
    rng: random.Random, cfg: DayConfig, rec: dict[str, Any]
) -> tuple[dict[str, Any], None]:
    uid = rec["user_id"]
    rec["user_id"] = rng.choice((
        uid.replace("-", ""), "{" + uid + "}", uid[:-1], uid + "0", uid[:-1] + "g", "not-a-uuid",
        f"user-{rng.randint(1, 99_999)}",
    ))  # fmt: skip
    return rec, None


def _page_too_long(rng: random.Random, cfg: DayConfig, rec: dict[str, Any]) -> tuple[dict[str, Any], None]:
    size = rng.choice((PAGE_MAX_BYTES + 1, PAGE_MAX_BYTES + 2, 2 * PAGE_MAX_BYTES + 1, 70_000))
    rec["properties"]["page"] = page_of_bytes(size, rng.choice(PAGE_FILLERS))
    return rec, None


# variant -> (reason, kinds of file it may be written to, builder): the demo layout's faults, and the
# rules that arrived with issue 10. Duplicates are planted separately (`_redelivered`).
BENCHMARK_VARIANTS: dict[str, tuple[str, frozenset[str], Breaker]] = {
    **{
        variant: (reason, frozenset(KIND_OF_DEMO_FILE[f] for f in files), breaker)
        for variant, (reason, files, breaker) in BAD_VARIANTS.items()
        if breaker is not None
    },
    "user_id_not_uuid": ("invalid_value", _ALL_KINDS, _user_id_not_a_uuid),
    "page_over_2048_bytes": ("invalid_value", _ALL_KINDS, _page_too_long),
}


@dataclass(frozen=True)
class FileJob:
    """What one file of the benchmark layout holds: row counts per category and its redeliveries."""

    file: DropFile
    index: int  # its place in the layout: files start their round robin of faults at different places
    rows: int
    bad: int
    originals: tuple[int, ...]  # redelivered events whose first copy this file holds
    copies: tuple[int, ...]  # redelivered events whose later copy this file holds

    @property
    def sessions(self) -> int:
        return self.rows - self.bad - len(self.originals) - len(self.copies)


def apportion(total: int, weights: Iterable[float]) -> list[int]:
    """`total` split in proportion to `weights`, largest remainders first: the parts add up exactly."""
    weights = list(weights)
    exact = [total * w / sum(weights) for w in weights]
    parts = [int(x) for x in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - parts[i]), i))
    for i in by_remainder[: total - sum(parts)]:
        parts[i] += 1
    return parts


def benchmark_plan(
    cfg: DayConfig, duplicate_share: float, files: tuple[DropFile, ...] = BENCHMARK_FILES
) -> list[FileJob]:
    """Row counts per file and which file holds each side of each redelivered event."""
    if not 0 <= duplicate_share <= 0.2:
        raise ValueError(f"duplicate_share must be between 0 and 0.2, got {duplicate_share}")
    rows = apportion(cfg.events, (f.share for f in files))
    bad = apportion(round(cfg.events * cfg.bad_share), rows) if cfg.events else [0] * len(files)
    room = [r - b for r, b in zip(rows, bad, strict=True)]
    originals: list[list[int]] = [[] for _ in files]
    copies: list[list[int]] = [[] for _ in files]
    rng = seeded(cfg.seed, "redelivery-plan", cfg.users, cfg.date.isoformat())
    for k in range(round(cfg.events * duplicate_share)):
        first = [i for i in range(len(files)) if room[i] > 0]
        if not first:
            break
        origin = _pick(rng, tuple(first), _cumulative(rows[i] for i in first))
        family = FAMILY_OF_KIND[files[origin].kind]
        room[origin] -= 1
        later = [i for i in range(len(files)) if room[i] > 0 and FAMILY_OF_KIND[files[i].kind] != family]
        if not later:
            room[origin] += 1
            break
        copy = _pick(rng, tuple(later), _cumulative(rows[i] for i in later))
        room[copy] -= 1
        originals[origin].append(k)
        copies[copy].append(k)
    return [
        FileJob(f, i, rows[i], bad[i], tuple(originals[i]), tuple(copies[i])) for i, f in enumerate(files)
    ]


def _redelivered(cfg: DayConfig, pop: Population, k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Event k sent twice: (first record, later copy). Both files' writers rebuild it from its own seed."""
    rng = seeded(cfg.seed, "redelivered", cfg.users, cfg.date.isoformat(), k)
    record, instant = _lone_event(rng, cfg, pop)
    latest = dt.datetime.combine(cfg.date + dt.timedelta(days=1), dt.time(), dt.UTC) - dt.timedelta(
        seconds=121
    )
    if instant >= latest:  # the copy must stay inside D to be a duplicate and not out_of_window
        instant -= dt.timedelta(hours=1)
        record["timestamp"] = render_ts(instant, rng.choice(ZONES))
    if rng.random() < 0.3:
        record["event_type"] = "click"
        del record["properties"]["duration_ms"]
    later = instant + dt.timedelta(seconds=rng.randint(1, 120))
    return record, {**record, "timestamp": render_ts(later, rng.choice(ZONES))}


def _categories(rng: random.Random, counts: dict[str, int]) -> Iterator[str]:
    """Each category exactly its count of times, uniformly interleaved, in O(1) memory."""
    remaining, total = dict(counts), sum(counts.values())
    while total:
        r = rng.random() * total
        for category, count in remaining.items():
            if r < count:
                remaining[category] -= 1
                total -= 1
                yield category
                break
            r -= count


def _compact_zone(rng: random.Random, instant: dt.datetime) -> str:
    """The same instant with a `+hhmm` or `+hh` offset, or at minute precision in `Z` (truncated)."""
    form = rng.randrange(3)
    if form == 2:
        return instant.strftime("%Y-%m-%dT%H:%MZ")
    zone = dt.timedelta(hours=5, minutes=30) if form == 0 else dt.timedelta(hours=-3)
    local = instant.astimezone(dt.timezone(zone))
    offset = local.strftime("%z")  # +0530 / -0300
    return local.strftime("%Y-%m-%dT%H:%M:%S") + (offset if form == 0 else offset[:3])


def _at_a_limit(rng: random.Random, kind: str, row: PlantedRow) -> str | None:
    """Moves a good row to a limit of the contract that it must still pass; returns what was done."""
    props = row.record["properties"]
    choice = rng.randrange(3)
    if choice == 0 and "page" in props:
        props["page"] = page_of_bytes(PAGE_MAX_BYTES, rng.choice(PAGE_FILLERS))
        return "page_of_2048_bytes"
    if choice == 1:
        row.record["user_id"] = row.record["user_id"].upper()
        return "user_id_upper_case"
    if choice == 2 and kind in _TEXT_TS_KINDS:
        row.record["timestamp"] = _compact_zone(rng, row.instant)
        return "timestamp_compact_zone"
    return None


class _FileWriter:
    """Writes one file of the benchmark layout from its own seeded streams."""

    def __init__(self, cfg: DayConfig, pop: Population, job: FileJob, omit: frozenset[str]) -> None:
        self.cfg, self.pop, self.job = cfg, pop, job
        name = job.file.name
        self.rng = seeded(cfg.seed, "drop-file", cfg.users, cfg.date.isoformat(), name)
        self.sessions = itertools.chain.from_iterable(iter_sessions(cfg, pop, stream=name))
        kind = job.file.kind
        reasons: dict[str, list[str]] = {}
        for variant, (reason, kinds, _) in BENCHMARK_VARIANTS.items():
            if kind in kinds and variant not in omit:
                reasons.setdefault(reason, []).append(variant)
        self.variants = [reasons[r] for r in REASONS if r in reasons]
        self.bad_k = 0
        self.originals, self.copies = iter(job.originals), iter(job.copies)

    def row(self, category: str) -> PlantedRow:
        if category == "session":
            row = next(self.sessions)
            if self.rng.random() < EDGE_SHARE:
                row.variant = _at_a_limit(self.rng, self.job.file.kind, row)
            return row
        if category == "bad":
            if not self.variants:
                raise ValueError(f"every fault that fits {self.job.file.name} is omitted")
            k = self.bad_k + self.job.index  # so that a small day still plants every variant somewhere
            by_reason = self.variants[k % len(self.variants)]
            variant = by_reason[(k // len(self.variants) + self.job.index) % len(by_reason)]
            self.bad_k += 1
            reason, _, breaker = BENCHMARK_VARIANTS[variant]
            base, _ = _lone_event(self.rng, self.cfg, self.pop)
            record, raw = breaker(self.rng, self.cfg, base)
            return PlantedRow("", record, raw, reason, variant)
        if category == "original":
            return PlantedRow("", _redelivered(self.cfg, self.pop, next(self.originals))[0])
        later = _redelivered(self.cfg, self.pop, next(self.copies))[1]
        return PlantedRow("", later, None, "duplicate", "later_copy_other_format")

    def write(self, folder: Path) -> EventStats:
        job, stats, orphans = self.job, EventStats(), set(self.pop.orphan_ids)
        counts = {"session": job.sessions, "bad": job.bad, "original": len(job.originals),
                  "copy": len(job.copies)}  # fmt: skip
        sink = SINK_OF_KIND[job.file.kind](folder / job.file.name)
        try:
            for category in _categories(self.rng, counts):
                row = self.row(category)
                row.file = job.file.name
                sink.write(row)
                stats.count(row, orphans)
                if category == "session" and row.variant:
                    stats.edge_by_variant[row.variant] += 1
        finally:
            sink.close()
        return stats


_WORKER: dict[str, Any] = {}  # what forked writer processes inherit (the population is not pickled)


def _write_file(job: FileJob) -> EventStats:
    return _FileWriter(_WORKER["cfg"], _WORKER["pop"], job, _WORKER["omit"]).write(_WORKER["folder"])


def write_benchmark_drop(
    cfg: DayConfig,
    pop: Population,
    drop_dir: str | Path,
    duplicate_share: float = 0.01,
    jobs: int = 1,
    omit: Iterable[str] = (),
) -> EventStats:
    """Replaces the drop of D with the benchmark layout, one process per file up to `jobs` at a time;
    the bytes are the same for any `jobs`. `omit` names faults (BENCHMARK_VARIANTS) not to plant."""
    omit = frozenset(omit)
    if unknown := omit - set(BENCHMARK_VARIANTS):
        raise ValueError(f"unknown fault variants {sorted(unknown)}; known: {sorted(BENCHMARK_VARIANTS)}")
    plan = sorted(benchmark_plan(cfg, duplicate_share), key=lambda j: -j.rows)  # largest files first
    folder = _fresh_drop_folder(drop_dir, cfg.date)
    _WORKER.update(cfg=cfg, pop=pop, omit=omit, folder=folder)
    try:
        if jobs > 1:
            import multiprocessing

            with multiprocessing.get_context("fork").Pool(min(jobs, len(plan))) as pool:
                results = pool.map(_write_file, plan, chunksize=1)
        else:
            results = [_write_file(job) for job in plan]
    finally:
        _WORKER.clear()
    stats = EventStats()
    for result in results:
        stats.merge(result)
    (folder / SUCCESS_FLAG).write_bytes(b"")
    return stats


# -- the whole day ---------------------------------------------------------------------------------------
def summary(
    cfg: DayConfig, pop: Population, progress: ProgressStats | None, events: EventStats | None
) -> dict:
    out: dict[str, Any] = {
        "date": cfg.date.isoformat(),
        "seed": cfg.seed,
        "users": len(pop.rows),
        "users_without_country": sum(r[3] is None for r in pop.rows),
    }
    if progress is not None:
        out["progress"] = {
            "rows_per_day": progress.rows_per_day,
            "total_rows": sum(progress.rows_per_day.values()),
            "orphan_rows_per_day": progress.orphan_rows_per_day,
            "zero_minute_rows": progress.zero_minute_rows,
            "null_scores": progress.null_scores,
            "clipped_to_day_budget": progress.clipped_to_day_budget,
        }
    if events is not None:
        out["events"] = {
            "rows_per_file": dict(sorted(events.rows_per_file.items())),
            "total_rows": sum(events.rows_per_file.values()),
            "good_rows": events.good_rows,
            "good_rows_by_event_type": dict(sorted(events.good_by_event_type.items())),
            "orphan_user_rows": events.orphan_user_rows,
            "bad_rows_planted": sum(events.bad_by_reason.values()),
            "bad_rows_planted_by_reason": {r: events.bad_by_reason[r] for r in REASONS},
            "bad_rows_planted_by_variant": dict(sorted(events.bad_by_variant.items())),
        }
        if events.edge_by_variant:
            out["events"]["good_rows_at_a_limit"] = dict(sorted(events.edge_by_variant.items()))
    return out


def generate_day(cfg: DayConfig, source_dsn: str | None, drop_dir: str | Path | None) -> dict[str, Any]:
    """Replaces the source content and the drop of D (either may be skipped with None)."""
    pop = build_population(cfg)
    progress = load_source(source_dsn, cfg, pop) if source_dsn else None
    events = write_event_drop(cfg, pop, drop_dir) if drop_dir is not None else None
    return summary(cfg, pop, progress, events)
