"""The shared GX data docs site after retention: its index rebuilt without the removed runs.

Every run's gate adds its result pages to one site (`RunPaths.data_docs`) and rebuilds its index,
so deleting a run's folders is not enough: the index would still list them. The rebuild goes
through GX 1.x's own API with the gate's context (same stores, same site, the suites loaded): only
the suites' pages are rendered again, and GX's index builder lists the results left in the results
store (it also drops any page whose result is gone). The result pages of the runs kept are not
rendered again.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from analytics_etl import quality
from analytics_etl.paths import OUTPUT_TABLES, RunPaths
from analytics_etl.run_lock import site_lock

log = logging.getLogger(__name__)


def rebuild_index(data_dir: Path) -> Path | None:
    """Rebuild the site's index under `data_dir`; None when no gate has built a site yet."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    # The context wants a run's paths for its datasource; retention validates nothing with it.
    paths = RunPaths(Path(data_dir), Path(data_dir), dt.date(2000, 1, 1), "retention")
    site = paths.data_docs
    index = site / "index.html"
    if not index.is_file():
        return None
    with quality._PROCESS_LOCK:
        context = quality._build_context(paths, site, quality.GX_PROJECT_DIR)
        quality._load_checkpoint(context, quality.GX_PROJECT_DIR, OUTPUT_TABLES)
        suites = [ExpectationSuiteIdentifier(name=suite.name) for suite in context.suites.all()]
        with site_lock(site):
            context.build_data_docs(site_names=[quality.SITE_NAME], resource_identifiers=suites)
    log.info("rebuilt the data docs index %s", index)
    return index
