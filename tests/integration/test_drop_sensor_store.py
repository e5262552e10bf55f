"""The drop wait's trigger with the drop on the real S3 store (the session's S3Proxy): it fires when a
producer (the test's own client) PUTs `_SUCCESS`, or at its deadline; the event loop keeps running
while the store is asked (the listing runs in a thread)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from analytics_etl import sensors
from analytics_etl.sensors import DropFlagTrigger, flag_exists

pytestmark = pytest.mark.integration


def test_fires_once_the_flag_is_put_on_the_store_and_never_blocks_the_loop(s3_server, s3_root, monkeypatch):
    prefix = s3_root.removeprefix(f"s3://{s3_server.bucket}/")
    flag = f"{s3_root}/user_events/2024-01-15/_SUCCESS"
    s3_server.client().put_object(
        Bucket=s3_server.bucket, Key=f"{prefix}/user_events/2024-01-15/a.jsonl", Body=b"{}"
    )
    assert not flag_exists(flag)  # the folder exists, the flag not yet
    asked_from = []  # the thread of each look at the store (the real call, observed)

    def observed(path: str) -> bool:
        asked_from.append(threading.get_ident())
        return flag_exists(path)

    monkeypatch.setattr(sensors, "flag_exists", observed)

    async def run() -> tuple[dict, int]:
        ticks = 0
        asked_from.append(("loop", threading.get_ident()))

        async def producer() -> None:
            await asyncio.sleep(1.5)
            await asyncio.to_thread(
                s3_server.client().put_object,
                Bucket=s3_server.bucket,
                Key=f"{prefix}/user_events/2024-01-15/_SUCCESS",
                Body=b"",
            )

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        tasks = [asyncio.create_task(producer()), asyncio.create_task(ticker())]
        event = await anext(DropFlagTrigger(flag, poke_interval=0.2, deadline=time.time() + 60).run())
        for task in tasks:
            task.cancel()
        return event.payload, ticks

    started = time.monotonic()
    event, ticks = asyncio.run(run())
    assert event["found"] is True and event["flag_path"] == flag
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 20
    # The loop ran the ticker all along, and never called the store itself: each look ran in a thread.
    assert ticks >= elapsed / 0.01 / 3, (ticks, elapsed)
    [(_, loop)] = [a for a in asked_from if isinstance(a, tuple)]
    looks = [a for a in asked_from if not isinstance(a, tuple)]
    assert len(looks) >= 2 and loop not in looks, asked_from
    assert flag_exists(flag)


def test_fires_not_found_at_the_deadline_on_the_store(s3_server, s3_root):
    flag = f"{s3_root}/user_events/2024-01-16/_SUCCESS"
    deadline = time.time() + 1.0

    async def run() -> dict:
        return (await anext(DropFlagTrigger(flag, poke_interval=0.1, deadline=deadline).run())).payload

    assert asyncio.run(run()) == {"found": False, "flag_path": flag, "deadline": deadline}
    assert time.time() >= deadline
