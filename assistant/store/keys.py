"""API keys: hashed, with a role, in one tenant."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select

from assistant.store.engine import now, reading, writing
from assistant.store.schema import ROLES, api_keys
from assistant.store.tenants import tenant_row
from erp_assist.settings import DEFAULT_TENANT

__all__ = ["Role", "ApiKey", "create_key", "find_key"]

Role = str


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    role: Role
    tenant: str



def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(engine: Engine, *, name: str, role: Role, tenant: str = DEFAULT_TENANT) -> tuple[ApiKey, str]:
    """A new API key of ``tenant``; the plain key is returned once and only its hash is stored."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    plain = "ea_" + secrets.token_urlsafe(24)
    with writing(engine) as conn:
        tenant_row(conn, tenant)
        key_id = conn.execute(
            insert(api_keys).values(name=name, role=role, key_hash=_hash_key(plain), created_at=now(), revoked=False,
                                    tenant=tenant)
        ).inserted_primary_key[0]
    return ApiKey(key_id, name, role, tenant), plain


def find_key(engine: Engine, *, plain: str) -> ApiKey | None:
    """The active key, with the tenant it belongs to (which decides everything its caller may see)."""
    with reading(engine) as conn:
        row = conn.execute(
            select(api_keys).where(api_keys.c.key_hash == _hash_key(plain), api_keys.c.revoked.is_(False))
        ).first()
    return ApiKey(row.id, row.name, row.role, row.tenant) if row else None
