"""Review-page sessions and key revocation in the store, on SQLite and PostgreSQL (issue #15)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, insert, inspect, select, update

from assistant.store import (
    SCHEMA_VERSION,
    KeyInfo,
    NotFoundError,
    UiSession,
    api_keys,
    create_key,
    create_session,
    create_tenant,
    end_session,
    find_key,
    find_session,
    list_keys,
    metadata,
    open_store,
    revoke_key,
    schema_version,
    tenants,
    ui_sessions,
)
from erp_assist.settings import DEFAULT_TENANT


@pytest.fixture
def store(store_url):
    engine = open_store(store_url)
    yield engine
    engine.dispose()


def _rows(store) -> list:  # noqa: ANN001
    with store.connect() as conn:
        return conn.execute(select(ui_sessions)).all()


def test_a_session_is_found_by_its_token_whose_hash_alone_is_stored(store):
    key, _ = create_key(store, name="李工", role="expert")
    token, session = create_session(store, key_id=key.id, ttl_seconds=3600)
    assert isinstance(session, UiSession) and session.key == key
    assert len(token) >= 40 and session.csrf_token and session.csrf_token != token
    assert timedelta(minutes=59) < session.expires_at - datetime.now(timezone.utc) <= timedelta(hours=1)
    assert find_session(store, token=token) == session
    [row] = _rows(store)
    assert row.id == hashlib.sha256(token.encode()).hexdigest() and token not in tuple(str(v) for v in row)
    for wrong in ("", "x", row.id, token + "x"):  # the stored hash is not a token
        assert find_session(store, token=wrong) is None
    other_token, other = create_session(store, key_id=key.id, ttl_seconds=3600)
    assert other_token != token and other.csrf_token != session.csrf_token
    assert end_session(store, token=token) is True
    assert find_session(store, token=token) is None and find_session(store, token=other_token) == other
    assert end_session(store, token=token) is False


def test_an_expired_session_is_not_found_and_is_deleted_on_the_next_login(store):
    key, _ = create_key(store, name="李工", role="expert")
    old, _ = create_session(store, key_id=key.id, ttl_seconds=3600)
    with store.begin() as conn:
        conn.execute(update(ui_sessions).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert find_session(store, token=old) is None
    new, _ = create_session(store, key_id=key.id, ttl_seconds=3600)
    assert [r.id for r in _rows(store)] == [hashlib.sha256(new.encode()).hexdigest()]
    with pytest.raises(ValueError, match="ttl_seconds"):
        create_session(store, key_id=key.id, ttl_seconds=0)


def test_a_revoked_key_has_no_sessions(store):
    key, plain = create_key(store, name="李工", role="expert")
    other, _ = create_key(store, name="王工", role="expert")
    token, _ = create_session(store, key_id=key.id, ttl_seconds=3600)
    kept, _ = create_session(store, key_id=other.id, ttl_seconds=3600)
    # Revoked by hand in the database: the session is refused all the same (the key is checked in the query).
    with store.begin() as conn:
        conn.execute(update(api_keys).where(api_keys.c.id == key.id).values(revoked=True))
    assert find_session(store, token=token) is None
    with store.begin() as conn:
        conn.execute(update(api_keys).where(api_keys.c.id == key.id).values(revoked=False))
    assert find_session(store, token=token) is not None

    assert revoke_key(store, key_id=key.id) == key
    assert find_key(store, plain=plain) is None and find_session(store, token=token) is None
    assert [r.key_id for r in _rows(store)] == [other.id]  # its sessions are deleted, the other key's kept
    assert find_session(store, token=kept) is not None
    assert revoke_key(store, key_id=key.id) == key  # again: nothing changes
    with pytest.raises(NotFoundError, match="key"):
        create_session(store, key_id=key.id, ttl_seconds=3600)


def test_revoke_key_refuses_unknown_ids_and_other_tenants_keys(store):
    create_tenant(store, tenant_id="acme")
    ours, _ = create_key(store, name="a", role="admin", tenant="acme")
    theirs, plain = create_key(store, name="d", role="expert")
    with pytest.raises(NotFoundError, match="no API key 987654"):
        revoke_key(store, key_id=987654)
    with pytest.raises(NotFoundError, match=f"no API key {theirs.id}$"):  # word for word what a missing id gets
        revoke_key(store, key_id=theirs.id, tenant="acme")
    assert find_key(store, plain=plain) == theirs
    assert revoke_key(store, key_id=ours.id, tenant="acme") == ours


def test_list_keys_shows_every_key_or_one_tenants(store):
    create_tenant(store, tenant_id="acme")
    a, _ = create_key(store, name="李工", role="expert")
    b, _ = create_key(store, name="蓝海管理员", role="admin", tenant="acme")
    revoke_key(store, key_id=a.id)
    listed = list_keys(store)
    assert all(isinstance(k, KeyInfo) for k in listed)
    assert [(k.id, k.name, k.role, k.tenant, k.revoked) for k in listed] == [
        (b.id, "蓝海管理员", "admin", "acme", False), (a.id, "李工", "expert", DEFAULT_TENANT, True)]
    assert all(k.created_at.tzinfo is not None for k in listed)
    assert [k.id for k in list_keys(store, tenant="acme")] == [b.id]
    assert list_keys(store, tenant="nobody") == []


def test_a_schema_3_store_is_migrated_to_sessions(store_url):
    # A store as schema 3 left it: every table but ui_sessions, with a key in it.
    old = create_engine(store_url)
    with old.begin() as conn:
        metadata.create_all(conn, tables=[t for t in metadata.sorted_tables if t.name != ui_sessions.name])
        conn.execute(insert(schema_version).values(version=3))
        conn.execute(insert(tenants).values(id=DEFAULT_TENANT, name=DEFAULT_TENANT,
                                            created_at=datetime.now(timezone.utc)))
        key_id = conn.execute(insert(api_keys).values(name="李工", role="expert", key_hash="0" * 64,
                                                      created_at=datetime.now(timezone.utc), revoked=False,
                                                      tenant=DEFAULT_TENANT)).inserted_primary_key[0]
        assert not inspect(conn).has_table(ui_sessions.name)
    old.dispose()
    store = open_store(store_url)
    with store.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalar() == SCHEMA_VERSION == 6
        assert inspect(conn).has_table(ui_sessions.name)
    token, session = create_session(store, key_id=key_id, ttl_seconds=60)
    assert find_session(store, token=token) == session and session.key.name == "李工"
    store.dispose()
    again = open_store(store_url)  # opening a migrated store again changes nothing
    assert find_session(again, token=token) == session
    again.dispose()
