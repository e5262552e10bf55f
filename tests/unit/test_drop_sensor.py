"""The drop wait's trigger: fires when the flag appears or at its deadline, and survives serialization
(the triggerer rebuilds it from `serialize()` in another process)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from analytics_etl.sensors import DropFlagTrigger

pytestmark = pytest.mark.unit


def first_event(trigger: DropFlagTrigger) -> dict:
    async def run():
        return await anext(trigger.run())

    return asyncio.run(run()).payload


def test_fires_found_once_the_flag_appears(tmp_path):
    flag = tmp_path / "user_events" / "2024-01-15" / "_SUCCESS"
    flag.parent.mkdir(parents=True)
    threading.Timer(0.3, flag.write_text, args=("",)).start()
    started = time.monotonic()
    event = first_event(DropFlagTrigger(str(flag), poke_interval=0.05, deadline=time.time() + 30))
    assert event["found"] is True and event["flag_path"] == str(flag)
    assert time.monotonic() - started < 10


def test_fires_not_found_at_the_deadline(tmp_path):
    flag = tmp_path / "_SUCCESS"
    deadline = time.time() + 0.5
    event = first_event(DropFlagTrigger(str(flag), poke_interval=0.05, deadline=deadline))
    assert event == {"found": False, "flag_path": str(flag), "deadline": deadline}
    assert time.time() >= deadline


def test_a_deadline_already_past_fires_at_once_but_still_sees_an_existing_flag(tmp_path):
    flag = tmp_path / "_SUCCESS"
    assert first_event(DropFlagTrigger(str(flag), 1.0, deadline=time.time() - 5))["found"] is False


def test_glob_characters_in_the_path_match_only_that_file(tmp_path):
    folder = tmp_path / "drops[1]"
    folder.mkdir()
    (tmp_path / "drops1").mkdir()
    (tmp_path / "drops1" / "_SUCCESS").write_text("")  # what the unescaped glob would match
    event = first_event(DropFlagTrigger(str(folder / "_SUCCESS"), 0.05, deadline=time.time() + 0.3))
    assert event["found"] is False
    (folder / "_SUCCESS").write_text("")
    assert first_event(DropFlagTrigger(str(folder / "_SUCCESS"), 0.05, time.time() + 5))["found"] is True


def test_serialize_round_trip():
    trigger = DropFlagTrigger("/drops/user_events/2024-01-15/_SUCCESS", 300.0, 1_700_000_000.0)
    classpath, kwargs = trigger.serialize()
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(__import__(module, fromlist=[name]), name)(**kwargs)
    assert isinstance(rebuilt, DropFlagTrigger) and rebuilt.serialize() == (classpath, kwargs)
