"""psycopg2 connections built from Airflow connections.

The postgres provider hands out psycopg 3 connections whenever SQLAlchemy 2 is installed (it is,
with Airflow 3); the platform uses psycopg2 throughout (`copy_expert` streams COPY to and from
files), so it reads the Airflow connection through the hook and opens the psycopg2 connection
itself. Extras of the connection (sslmode, options, ...) are passed on as libpq parameters.
"""

from __future__ import annotations

from typing import Any

import psycopg2

# Extras the postgres provider understands itself; they are not libpq parameters.
_PROVIDER_EXTRAS = {
    "iam",
    "redshift",
    "redshift-serverless",
    "aws_conn_id",
    "cursor",
    "sqlalchemy_scheme",
    "sqlalchemy_query",
    "cluster-identifier",
    "workgroup-name",
    "region_name",
    "enable_log_db_messages",
    "azure_conn_id",
}


def connect(conn_id: str, *, application_name: str = "analytics_etl") -> Any:
    """A new psycopg2 connection to the database of Airflow connection `conn_id`."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook.get_connection(conn_id)
    params: dict[str, Any] = {
        "host": conn.host,
        "port": conn.port,
        "user": conn.login,
        "password": conn.password,
        "dbname": conn.schema,
        "application_name": application_name,
        # A failure callback must not hang on a database that is down.
        "connect_timeout": 10,
    }
    params.update({k: v for k, v in conn.extra_dejson.items() if k not in _PROVIDER_EXTRAS})
    return psycopg2.connect(**{k: v for k, v in params.items() if v not in (None, "")})
