"""A run's writer lock: how an erasure knows that a job is writing a run's files right now.

Every task that writes into a run's folders (the extract, the Spark job, the replay of erasures, the
gate) holds a shared `flock` on `<staging of the run>/.writing.lock` while it writes; an erasure
takes it exclusively before it touches any file of that run (or of its date's quarantine). The
kernel drops the lock when its process dies, so a killed run never holds it: its leftovers are
the erasure's to clean, while a live writer is waited for, and a wait that does not end fails the
erasure naming the folder (it never skips it silently). Local and shared POSIX filesystems only,
like the erasure itself.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

LOCK_NAME = ".writing.lock"


class RunBusy(RuntimeError):
    """A run's files stayed locked by a live writer for longer than the erasure may wait."""


@contextmanager
def writing(staging: str | Path) -> Iterator[None]:
    """Held (shared) by a task while it writes the files of the run whose staging folder is `staging`."""
    folder = Path(staging)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_NAME, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH)
        yield


@contextmanager
def no_writer(stagings: Sequence[Path], timeout: float, poll: float = 0.5) -> Iterator[None]:
    """Every run of `stagings` held exclusively: no job writes them until the block ends.

    A run whose staging folder is gone has no writer (a run creates it before its first file).
    Raises RunBusy, naming the folder, when a writer keeps one beyond `timeout` seconds."""
    deadline = time.monotonic() + timeout
    with ExitStack() as held:
        for staging in sorted(stagings):
            try:
                fd = os.open(staging / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except (FileNotFoundError, NotADirectoryError):
                continue
            held.callback(os.close, fd)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise RunBusy(
                            f"a job is still writing {staging} after {timeout:.0f} s (its lock "
                            f"{staging / LOCK_NAME} is held): the erasure did not touch that run"
                        ) from None
                    time.sleep(poll)
        yield
