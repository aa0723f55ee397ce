"""Real databases: creating a Postgres makes a database and a role on the cluster; deleting drops them."""

from __future__ import annotations

import psycopg
import pytest

from tests.localrender.conftest import STG_DB, TASKS, new_postgres


def _admin(pg_cluster):
    return psycopg.connect(pg_cluster.url(), autocommit=True)


def test_created_database_really_connects_with_both_urls(api_pg):
    db = new_postgres(api_pg, databaseName="tasks_prd", databaseUser="tasks_prd_user")
    info = api_pg.get(f"/postgres/{db['id']}/connection-info").json()
    for url in (info["internalConnectionString"], info["externalConnectionString"]):
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT current_database(), current_user").fetchone()
        assert row == (db["databaseName"], "tasks_prd_user")


def test_created_role_owns_the_database_and_has_a_password(api_pg, pg_cluster):
    db = new_postgres(api_pg, databaseUser="owner_check")
    with _admin(pg_cluster) as conn:
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                             (db["databaseName"],)).fetchone()
        has_password = conn.execute("SELECT rolpassword IS NOT NULL FROM pg_authid WHERE rolname = %s",
                                    ("owner_check",)).fetchone()
    assert owner == ("owner_check",)
    # The test cluster trusts local connections, so a wrong password would also get in; this at
    # least proves the role was given one.
    assert has_password == (True,)


def test_delete_drops_the_database_and_the_role(api_pg, pg_cluster):
    db = new_postgres(api_pg, databaseUser="dropped_user")
    url = api_pg.get(f"/postgres/{db['id']}/connection-info").json()["externalConnectionString"]
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE t (id int)")
    assert api_pg.delete(f"/postgres/{db['id']}").status_code == 204
    with _admin(pg_cluster) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db["databaseName"],)).fetchone() is None
        assert conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'dropped_user'").fetchone() is None
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)


def test_seeded_stg_database_exists_and_the_service_env_points_at_it(api_pg):
    info = api_pg.get(f"/postgres/{STG_DB}/connection-info").json()
    env = {e["envVar"]["key"]: e["envVar"]["value"] for e in api_pg.get(f"/services/{TASKS}/env-vars").json()}
    assert env["DATABASE_URL"] == info["internalConnectionString"]
    with psycopg.connect(env["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("test_codex_migration_stg_db_x8qa",)


def test_suspended_database_refuses_connections_until_resumed(api_pg):
    url = api_pg.get(f"/postgres/{STG_DB}/connection-info").json()["externalConnectionString"]
    assert api_pg.post(f"/postgres/{STG_DB}/suspend").status_code == 202
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=5)
    assert api_pg.post(f"/postgres/{STG_DB}/resume").status_code == 202
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
