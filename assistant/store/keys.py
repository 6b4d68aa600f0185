"""API keys: hashed, with a role, in one tenant; and the review page's sessions, each logged in with one key.

A session lives in the store (every API worker process sees it) under the hash of its random token; it is found
only while it has not expired and its key is not revoked — both checked in the query, on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update

from assistant.store.engine import NotFoundError, aware, now, reading, writing
from assistant.store.schema import ROLES, api_keys, ui_sessions
from assistant.store.tenants import tenant_row
from erp_assist.settings import DEFAULT_TENANT

__all__ = [
    "Role", "ApiKey", "KeyInfo", "UiSession", "create_key", "find_key", "list_keys", "revoke_key",
    "create_session", "find_session", "end_session",
]

Role = str


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    role: Role
    tenant: str


@dataclass(frozen=True)
class KeyInfo:
    """A key as an operator lists it (never the key itself: only its hash is stored)."""

    id: int
    name: str
    role: Role
    tenant: str
    created_at: datetime
    revoked: bool


@dataclass(frozen=True)
class UiSession:
    """A logged-in review page: its key, and the token every form of the page must send back."""

    key: ApiKey
    csrf_token: str
    created_at: datetime
    expires_at: datetime


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


def list_keys(engine: Engine, *, tenant: str | None = None) -> list[KeyInfo]:
    """Every key (or ``tenant``'s), revoked ones included, by tenant then id."""
    query = select(api_keys).order_by(api_keys.c.tenant, api_keys.c.id)
    if tenant is not None:
        query = query.where(api_keys.c.tenant == tenant)
    with reading(engine) as conn:
        rows = conn.execute(query).all()
    return [KeyInfo(r.id, r.name, r.role, r.tenant, aware(r.created_at), bool(r.revoked)) for r in rows]


def revoke_key(engine: Engine, *, key_id: int, tenant: str | None = None) -> ApiKey:
    """Revoke a key (the API refuses it from now on) and end its review-page sessions.

    With ``tenant``, only that tenant's key: another tenant's id is ``NotFoundError`` like a missing one.
    Revoking a revoked key changes nothing."""
    query = select(api_keys).where(api_keys.c.id == key_id)
    if tenant is not None:
        query = query.where(api_keys.c.tenant == tenant)
    with writing(engine) as conn:
        row = conn.execute(query).first()
        if row is None:
            raise NotFoundError(f"no API key {key_id}")
        conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked=True))
        conn.execute(delete(ui_sessions).where(ui_sessions.c.key_id == key_id))
    return ApiKey(row.id, row.name, row.role, row.tenant)


def create_session(engine: Engine, *, key_id: int, ttl_seconds: float) -> tuple[str, UiSession]:
    """A new session of an active key for ``ttl_seconds``: the random token for the cookie (returned once; only
    its hash is stored) and the session. Expired sessions of every key are deleted on the way."""
    if ttl_seconds <= 0:
        raise ValueError(f"ttl_seconds must be positive, not {ttl_seconds!r}")
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    created_at = now()
    expires_at = created_at + timedelta(seconds=ttl_seconds)
    with writing(engine) as conn:
        conn.execute(delete(ui_sessions).where(ui_sessions.c.expires_at <= created_at))
        row = conn.execute(
            select(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked.is_(False))
        ).first()
        if row is None:
            raise NotFoundError(f"no active API key {key_id}")
        conn.execute(insert(ui_sessions).values(id=_hash_key(token), key_id=key_id, csrf_token=csrf_token,
                                                created_at=created_at, expires_at=expires_at))
    return token, UiSession(ApiKey(row.id, row.name, row.role, row.tenant), csrf_token, created_at, expires_at)


def find_session(engine: Engine, *, token: str) -> UiSession | None:
    """The session of a cookie's token, or None when there is none, it has expired or its key is revoked."""
    if not token:
        return None
    query = (
        select(api_keys.c.id, api_keys.c.name, api_keys.c.role, api_keys.c.tenant, ui_sessions.c.csrf_token,
               ui_sessions.c.created_at, ui_sessions.c.expires_at)
        .join_from(ui_sessions, api_keys, ui_sessions.c.key_id == api_keys.c.id)
        .where(ui_sessions.c.id == _hash_key(token), ui_sessions.c.expires_at > now(),
               api_keys.c.revoked.is_(False))
    )
    with reading(engine) as conn:
        row = conn.execute(query).first()
    if row is None:
        return None
    return UiSession(ApiKey(row.id, row.name, row.role, row.tenant), row.csrf_token, aware(row.created_at),
                     aware(row.expires_at))


def end_session(engine: Engine, *, token: str) -> bool:
    """Log a session out; whether there was one."""
    with writing(engine) as conn:
        return conn.execute(delete(ui_sessions).where(ui_sessions.c.id == _hash_key(token))).rowcount > 0
