"""The fault tests' TCP forwarder (tests/integration/tcp_proxy.py), tried on the project's real
PostgreSQL server: it forwards, it cuts a client off after its byte budget, and it comes back."""

from __future__ import annotations

import psycopg2
import pytest

from tests.integration.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


def test_the_proxy_forwards_cuts_mid_stream_and_comes_back_on_the_same_port(postgres):
    proxy = TcpProxy((postgres.host, postgres.port)).start()
    try:
        conn = psycopg2.connect(host="127.0.0.1", port=proxy.port, user="etl", dbname="postgres")
        with conn.cursor() as cur:
            cur.execute("SELECT 40 + 2")
            assert cur.fetchone() == (42,)
        port = proxy.port

        proxy.cut_after_bytes = proxy.sent + 100_000  # cut in the middle of the next big request
        with pytest.raises(psycopg2.OperationalError), conn.cursor() as cur:
            cur.execute("SELECT length(%s)", ("x" * 1_000_000,))
        assert proxy.cut.is_set() and conn.closed
        with pytest.raises(psycopg2.OperationalError):  # the server is gone for new connections too
            psycopg2.connect(host="127.0.0.1", port=port, user="etl", dbname="postgres", connect_timeout=3)

        proxy.cut_after_bytes = None
        proxy.start()
        assert proxy.port == port
        again = psycopg2.connect(host="127.0.0.1", port=port, user="etl", dbname="postgres")
        with again.cursor() as cur:
            cur.execute("SELECT length(%s)", ("x" * 1_000_000,))
            assert cur.fetchone() == (1_000_000,)
        again.close()
    finally:
        proxy.stop()
