"""A small, hand-made day with its expected outputs worked out by hand from the contract.

Day D = 2024-01-17, a Wednesday: its ISO week runs Monday 2024-01-15 .. Sunday 2024-01-21.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

D = dt.date(2024, 1, 17)
WEEK_START = dt.date(2024, 1, 15)

U1 = "11111111-1111-4111-8111-111111111111"  # Alice
U2 = "22222222-2222-4222-8222-222222222222"  # Bob
U3 = "33333333-3333-4333-8333-333333333333"  # Carol
U4 = "44444444-4444-4444-8444-444444444444"  # Dave: progress earlier in the week only
U9 = "99999999-9999-4999-8999-999999999999"  # not in users: an orphan

USERS = [
    (U1, "Alice Martin", "alice@example.com", "FR", "2023-05-01T10:00:00+00"),
    (U2, "Bob Müller", "bob@example.com", "DE", "2023-06-01T10:00:00+00"),
    (U3, "Carol Smith", "carol@example.com", None, "2023-07-01T10:00:00+00"),
    (U4, "Dave Jones", "dave@example.com", "GB", "2023-08-01T10:00:00+00"),
]

L = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
# (user_id, subject, date, minutes, score)
PROGRESS = [
    (U1, "math", D, 30, "80.00"),
    (U1, "physics", D, 20, "90.00"),
    (U2, "math", D, 50, None),  # ties U1 on 50 minutes; no score at all
    (U3, "history", D, 0, "70.01"),  # zero minutes
    (U3, "history", D, 10, "70.00"),  # average 70.005 rounds half up to 70.01
    (U3, "math", D, 0, None),
    (U9, "math", D, 100, "50.00"),  # orphan: not in daily_user_stats, but in learning_progress
    (U1, "math", dt.date(2024, 1, 15), 40, "60.00"),  # Monday of the week
    (U4, "history", dt.date(2024, 1, 16), 15, None),
    (U1, "math", dt.date(2024, 1, 14), 25, "10.00"),  # the Sunday before: outside the week
    (U1, "math", dt.date(2024, 1, 22), 25, "10.00"),  # the next Monday: outside the week
]

EXPECTED_DAILY_USER_STATS = [
    # (user_id, name, email, total_time, lessons_completed, average_score, daily_rank)
    (U1, "Alice Martin", "alice@example.com", 50, 2, Decimal("85.00"), 1),
    (U2, "Bob Müller", "bob@example.com", 50, 1, None, 1),
    (U3, "Carol Smith", "carol@example.com", 10, 3, Decimal("70.01"), 2),
]

EXPECTED_LEARNING_PROGRESS = [
    # (user_id, subject, week_start, lessons_completed, time_spent_minutes, average_score)
    (U1, "math", WEEK_START, 2, 70, 70.0),
    (U1, "physics", WEEK_START, 1, 20, 90.0),
    (U2, "math", WEEK_START, 1, 50, None),
    (U3, "history", WEEK_START, 2, 10, 70.005),
    (U3, "math", WEEK_START, 1, 0, None),
    (U4, "history", WEEK_START, 1, 15, None),
    (U9, "math", WEEK_START, 1, 100, 50.0),
]


def _event(event_id, event_type, user, ts, **props):
    return {
        "event_id": event_id,
        "event_type": event_type,
        "user_id": user,
        "timestamp": ts,
        "properties": props,
    }


JSON_LINES = [
    json.dumps(_event("e1", "session_start", U1, "2024-01-17T08:00:00Z", device="desktop")),
    json.dumps(_event("e2", "page_view", U1, "2024-01-17T08:01:00Z", page="/dashboard")),
    json.dumps(_event("e3", "page_view", U1, "2024-01-17T08:30:00+01:00", page="/lesson/1")),  # 07:30Z
    json.dumps(_event("e4", "click", U1, "2024-01-17T08:05:00Z", page="/lesson/1")),
    json.dumps(_event("e5", "session_end", U1, "2024-01-17T09:00:00Z", duration_ms=3600000)),
    json.dumps(_event("e6", "page_view", U2, "2024-01-17T23:59:59Z", page="/dashboard")),
    json.dumps(_event("e7", "page_view", U9, "2024-01-17T00:00:00.000Z", page="/dashboard")),
    "{not json",  # malformed
    json.dumps(_event("e8", "page_view", U2, "2024-01-18T00:00:00Z", page="/dashboard")),  # out_of_window
    json.dumps(_event("e2", "page_view", U1, "2024-01-17T10:00:00Z", page="/other")),  # duplicate, later
]

CSV_TEXT = (
    "event_id,event_type,user_id,timestamp,page,duration_ms,device\n"
    f"e9,session_end,{U2},2024-01-17T12:00:00Z,,90000,mobile\n"
    f'e10,click,{U2},2024-01-17T12:01:00Z,"/search?q=a,b",,mobile\n'
    f"e11,page_view,{U3},2024-01-17T12:00:00,/x,,\n"  # invalid_timestamp: no zone
    f"e12,unknown,{U3},2024-01-17T12:00:00Z,,,\n"  # invalid_event_type
    f"e13,session_end,{U3},2024-01-17T12:00:00Z,,-5,\n"  # invalid_value
    f",page_view,{U3},2024-01-17T12:00:00Z,/x,,\n"  # missing_field
)

EXPECTED_REPORT = {
    "rows_read": 16,
    "rows_kept": 9,
    "rows_rejected": 7,
    "rejected": {
        "malformed": 1,
        "missing_field": 1,
        "invalid_event_type": 1,
        "invalid_timestamp": 1,
        "invalid_value": 1,
        "out_of_window": 1,
        "duplicate": 1,
    },
    "orphan_user": 1,
}

EXPECTED_PAGE_VIEW_STATS = [
    # (date, hour, page, view_count)
    (D, 0, "/dashboard", 1),
    (D, 7, "/lesson/1", 1),
    (D, 8, "/dashboard", 1),
    (D, 23, "/dashboard", 1),
]

EXPECTED_USER_ENGAGEMENT = [
    # (user_id, date, total_events, unique_pages, session_count, total_time_minutes, engagement_score)
    (U1, D, 5, 2, 1, 60, 2.6),
    (U2, D, 3, 2, 0, 1, 2.0),
    (U9, D, 1, 1, 0, 0, 0.7),
]


def write_drop(drop_dir: Path, day: dt.date = D, complete: bool = True) -> Path:
    folder = drop_dir / "user_events" / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a.jsonl").write_text("\n".join(JSON_LINES) + "\n", encoding="utf-8")
    (folder / "b.csv").write_text(CSV_TEXT, encoding="utf-8")
    if complete:
        (folder / "_SUCCESS").write_text("")
    return folder


def load_source(conn, progress: list | None = None) -> None:
    """Replace the source tables' content with USERS and `progress` (PROGRESS by default)."""
    with conn, conn.cursor() as cur:
        cur.execute("TRUNCATE users, progress RESTART IDENTITY")
        cur.executemany("INSERT INTO users VALUES (%s, %s, %s, %s, %s)", USERS)
        cur.executemany(
            "INSERT INTO progress (user_id, lesson_id, subject, date, time_spent_minutes, score, completed_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s::date + time '12:00')",
            [(u, L, s, d, m, sc, d) for u, s, d, m, sc in (PROGRESS if progress is None else progress)],
        )
