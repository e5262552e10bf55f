"""The plugin's routes served on 127.0.0.1 as the api-server mounts them (under /analytics-etl), without
Airflow's login (the deployment tests cover it), and a headless Chromium page to open them."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import free_port
from tests.integration.stack_client import CHROMIUM_ARGS


@contextmanager
def serve_routes() -> Iterator[str]:
    """The base URL of the plugin's routes, served in a thread of this process until the block ends."""
    import uvicorn
    from fastapi import FastAPI

    from analytics_etl.ui import URL_PREFIX, routes

    inner = FastAPI()
    inner.include_router(routes.router)
    outer = FastAPI()
    outer.mount(URL_PREFIX, inner)
    port = free_port()
    served = uvicorn.Server(uvicorn.Config(outer, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=served.run, daemon=True)
    thread.start()
    for _ in range(100):
        if served.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}{URL_PREFIX}"
    finally:
        served.should_exit = True
        thread.join(timeout=10)


@contextmanager
def chromium_page(width: int = 1200, height: int = 1000) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
