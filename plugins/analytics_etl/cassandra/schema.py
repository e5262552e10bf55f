"""The CQL of the sink: statements read from `cql/`, rendered for a keyspace, and the schema ensured.

Every statement lives in a file under `cql/`, one per file. Only identifiers are rendered into them
(`{keyspace}`, and the validated `{replication}` map of the keyspace DDL, which takes no bind
markers); values are always bound to prepared statements.
"""

from __future__ import annotations

import ast
import logging
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from analytics_etl.cassandra.settings import (
    STRATEGY_PREFIX,
    VAR_REPLICATION,
    keyspace_name,
    render_replication,
)

log = logging.getLogger(__name__)

CQL_DIR = Path(__file__).resolve().parents[3] / "cql"

SCHEMA_AGREEMENT_WAIT_SECONDS = 60
DDL_TIMEOUT_SECONDS = 60.0

_PLACEHOLDER = re.compile(r"\{(keyspace|replication)\}")

# Objects of the schema, in creation order: (object name in the metadata, statement file).
SCHEMA = (
    ("page_view_stats", "page_view_stats_create"),
    ("user_engagement", "user_engagement_create"),
    ("learning_progress", "learning_progress_create"),
    ("key_manifest", "key_manifest_create"),
)


@cache
def read_cql(name: str) -> str:
    """The statement of `cql/<name>.cql`, without its comment lines and final semicolon."""
    path = CQL_DIR / f"{name}.cql"
    if not path.is_file():
        raise FileNotFoundError(f"CQL statement file {path} does not exist")
    lines = [
        line for line in path.read_text(encoding="utf-8").splitlines() if not line.lstrip().startswith("--")
    ]
    return "\n".join(lines).strip().rstrip(";").strip()


def render(text: str, keyspace: str, replication: Mapping[str, str] | None = None) -> str:
    """Fill the `{keyspace}` (and `{replication}`) placeholders; values are never rendered, always bound."""
    keyspace = keyspace_name(keyspace)

    def fill(match: re.Match[str]) -> str:
        if match.group(1) == "keyspace":
            return keyspace
        if replication is None:
            raise ValueError("statement needs a replication map")
        return render_replication(replication)

    return _PLACEHOLDER.sub(fill, text)


def statement(name: str, keyspace: str) -> str:
    """The statement of `cql/<name>.cql` for `keyspace`."""
    return render(read_cql(name), keyspace)


def schema_statements(keyspace: str, replication: Mapping[str, str]) -> list[tuple[str, str]]:
    """(object, CQL) to create the keyspace and its tables, keyspace first."""
    statements = [(keyspace_name(keyspace), render(read_cql("keyspace_create"), keyspace, replication))]
    statements += [(table, statement(name, keyspace)) for table, name in SCHEMA]
    return statements


def replication_matches(existing: str | Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    """Whether an existing keyspace's replication (`export_for_schema()` text or a map) is `wanted`."""
    if isinstance(existing, str):
        try:
            existing = ast.literal_eval(existing)
        except (ValueError, SyntaxError):
            return False
    if not isinstance(existing, Mapping):
        return False
    normal = {str(k): str(v) for k, v in existing.items()}
    normal["class"] = normal.get("class", "").removeprefix(STRATEGY_PREFIX)
    return normal == dict(wanted)


def ensure_schema(session: Any, keyspace: str, replication: Mapping[str, str]) -> None:
    """Create the keyspace and tables that do not exist yet, and wait for schema agreement."""
    cluster = session.cluster
    for name, cql in schema_statements(keyspace, replication):
        if _schema_object_exists(cluster.metadata, keyspace, name):
            continue
        log.info("creating %s", name if name == keyspace else f"{keyspace}.{name}")
        result = session.execute(cql, timeout=DDL_TIMEOUT_SECONDS)
        if not result.response_future.is_schema_agreed:
            _wait_for_schema_agreement(cluster)
    _wait_for_schema_agreement(cluster)
    _warn_on_replication_drift(cluster.metadata, keyspace, replication)


def _warn_on_replication_drift(metadata: Any, keyspace: str, replication: Mapping[str, str]) -> None:
    ks = metadata.keyspaces.get(keyspace)
    if ks is None:
        raise RuntimeError(f"keyspace {keyspace} is missing from the cluster metadata after its creation")
    existing = ks.replication_strategy.export_for_schema()
    if not replication_matches(existing, replication):
        log.warning(
            "keyspace %s has replication %s, variable %s asks for %s: change it with ALTER KEYSPACE "
            "and a repair (never done automatically)",
            keyspace,
            existing,
            VAR_REPLICATION,
            render_replication(replication),
        )


def _schema_object_exists(metadata: Any, keyspace: str, name: str) -> bool:
    ks = metadata.keyspaces.get(keyspace)
    return ks is not None and (name == keyspace or name in ks.tables)


def _wait_for_schema_agreement(cluster: Any) -> None:
    if not cluster.control_connection.wait_for_schema_agreement(wait_time=SCHEMA_AGREEMENT_WAIT_SECONDS):
        raise RuntimeError(
            f"Cassandra nodes did not agree on the schema within {SCHEMA_AGREEMENT_WAIT_SECONDS}s "
            "(is a node down or unreachable?)"
        )
