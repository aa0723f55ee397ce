"""The throwaway cluster fixture really starts PostgreSQL 15 and gives each test its own database."""

import psycopg


def test_each_test_gets_an_empty_database_of_its_own(pg_url):
    with psycopg.connect(pg_url) as conn:
        version = conn.execute("SHOW server_version_num").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
    assert int(version) // 10000 == 15
    assert tables == 0


def test_databases_are_distinct(pg_cluster, pg_url):
    other = pg_cluster.create_database("another_one")
    assert other != pg_url
