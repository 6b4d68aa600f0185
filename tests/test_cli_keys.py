"""`erp-assist keys list` and `keys revoke`: an operator ends a key (and its review-page sessions) without SQL."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from assistant.store import create_key, create_tenant, find_key, open_store
from erp_assist.cli import app

runner = CliRunner()


@pytest.fixture
def store_env(tmp_path):
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    store = open_store(url)
    yield store, {"ERP_ASSIST_DATABASE_URL": url, "COLUMNS": "160"}
    store.dispose()


def test_keys_list_shows_every_key_and_never_the_key_itself(store_env):
    store, env = store_env
    create_tenant(store, tenant_id="acme")
    expert, plain = create_key(store, name="李工", role="expert")
    admin, _ = create_key(store, name="蓝海管理员", role="admin", tenant="acme")
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "李工" in listed.output and "蓝海管理员" in listed.output and plain not in listed.output
    only = runner.invoke(app, ["keys", "list", "--tenant", "acme"], env=env)
    assert only.exit_code == 0 and "蓝海管理员" in only.output and "李工" not in only.output
    assert runner.invoke(app, ["keys", "list", "--tenant", "nobody"], env=env).exit_code == 1


def test_keys_revoke_ends_the_key_and_its_sessions(store_env):
    from assistant.store import create_session, find_session

    store, env = store_env
    create_tenant(store, tenant_id="acme")
    expert, plain = create_key(store, name="李工", role="expert")
    token, _ = create_session(store, key_id=expert.id, ttl_seconds=3600)

    unknown = runner.invoke(app, ["keys", "revoke", "987654"], env=env)
    assert unknown.exit_code == 1 and "no API key 987654" in unknown.output
    elsewhere = runner.invoke(app, ["keys", "revoke", str(expert.id), "--tenant", "acme"], env=env)
    assert elsewhere.exit_code == 1 and find_key(store, plain=plain) == expert  # another tenant's key stays

    revoked = runner.invoke(app, ["keys", "revoke", str(expert.id)], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.output and "李工" in revoked.output
    assert find_key(store, plain=plain) is None and find_session(store, token=token) is None
    listed = runner.invoke(app, ["keys", "list"], env=env)
    assert "revoked" in listed.output.split("李工", 1)[1].splitlines()[0]
