"""Schema 6 (issue #21): the lookup audit trail and alert state, on SQLite and PostgreSQL, and the migration
of a schema-5 store."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import create_engine, insert, inspect, select

from assistant.store import open_store
from assistant.store.erp import (
    active_alerts,
    alert_post_counts,
    list_lookups,
    record_alert_post,
    record_lookup,
    resolve_alert,
)
from assistant.store.schema import (
    SCHEMA_VERSION,
    erp_alert_posts,
    erp_alert_state,
    erp_lookups,
    metadata,
    schema_version,
    tenants,
)
from erp_assist.settings import DEFAULT_TENANT

NEW = {erp_lookups.name, erp_alert_state.name, erp_alert_posts.name}


def test_a_schema_5_store_is_migrated(store_url):
    old = create_engine(store_url)
    with old.begin() as conn:
        metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t.name not in NEW])
        conn.execute(insert(schema_version).values(version=5))
        conn.execute(insert(tenants).values(id=DEFAULT_TENANT, name=DEFAULT_TENANT, created_at=datetime.now(timezone.utc)))
    old.dispose()
    store = open_store(store_url)
    with store.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalar() == SCHEMA_VERSION
        assert NEW <= set(inspect(conn).get_table_names())
    record_lookup(store, tenant=DEFAULT_TENANT, asker="王会计", channel="api", question="A-1002 还有多少库存",
                  kind="stock", target="A-1002", connector="tryton", reads={"product.product": ("quantity",)},
                  outcome="found", latency_ms=12.5)
    store.dispose()
    again = open_store(store_url)  # opening a migrated store again changes nothing
    [row] = list_lookups(again, tenant=DEFAULT_TENANT)
    assert (row.asker, row.reads, row.outcome) == ("王会计", {"product.product": ["quantity"]}, "found")
    assert list_lookups(again, tenant="acme") == []


def test_alert_state_keeps_the_last_posted_facts(store_url):
    store = open_store(store_url)
    kwargs = dict(tenant=DEFAULT_TENANT, check_name="负库存", subject="B@WH", urgency="P1", message="m")
    record_alert_post(store, fingerprint="a", delivered=False, **kwargs)
    assert active_alerts(store, tenant=DEFAULT_TENANT) == {}  # an undelivered post is tried again
    record_alert_post(store, fingerprint="a", delivered=True, **kwargs)
    record_alert_post(store, fingerprint="b", delivered=True, **kwargs)
    [state] = active_alerts(store, tenant=DEFAULT_TENANT).values()
    assert state.fingerprint == "b"
    resolve_alert(store, tenant=DEFAULT_TENANT, check_name="负库存", subject="B@WH")
    assert active_alerts(store, tenant=DEFAULT_TENANT) == {}
    assert alert_post_counts(store) == {(DEFAULT_TENANT, "P1"): 2}
