"""Tenants: each company or group with a review queue and FAQ store of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select

from assistant.store.engine import ConflictError, NotFoundError, aware, now, reading, writing
from assistant.store.schema import api_keys, questions, tenants
from erp_assist.settings import validate_tenant_id

__all__ = ["Tenant", "TenantSummary", "create_tenant", "get_tenant", "list_tenants", "tenant_row"]


@dataclass(frozen=True)
class Tenant:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class TenantSummary:
    """A tenant and the size of its review store (for ``erp-assist tenants list``)."""

    tenant: Tenant
    keys: int  # active (not revoked)
    questions: int
    open: int



def tenant_row(conn: Connection, tenant_id: str):  # noqa: ANN202
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
    if row is None:
        raise NotFoundError(f"no tenant {tenant_id!r}; create it with `erp-assist tenants create {tenant_id}`")
    return row


def create_tenant(engine: Engine, *, tenant_id: str, name: str | None = None) -> Tenant:
    """A new tenant: an empty review queue and FAQ store of its own (its sources and index live on disk)."""
    validate_tenant_id(tenant_id)
    with writing(engine) as conn:
        if conn.execute(select(tenants.c.id).where(tenants.c.id == tenant_id)).first() is not None:
            raise ConflictError(f"tenant {tenant_id!r} already exists")
        at = now()
        conn.execute(insert(tenants).values(id=tenant_id, name=name or tenant_id, created_at=at))
    return Tenant(tenant_id, name or tenant_id, at)


def get_tenant(engine: Engine, *, tenant_id: str) -> Tenant:
    with reading(engine) as conn:
        row = tenant_row(conn, tenant_id)
    return Tenant(row.id, row.name, aware(row.created_at))


def list_tenants(engine: Engine) -> list[TenantSummary]:
    """Every tenant with its active keys, questions and open questions (an operator's view across tenants)."""
    with reading(engine) as conn:
        rows = conn.execute(select(tenants).order_by(tenants.c.id)).all()
        keys = dict(conn.execute(select(api_keys.c.tenant, func.count()).where(api_keys.c.revoked.is_(False))
                                 .group_by(api_keys.c.tenant)).all())
        asked = dict(conn.execute(select(questions.c.tenant, func.count()).group_by(questions.c.tenant)).all())
        waiting = dict(conn.execute(select(questions.c.tenant, func.count()).where(questions.c.status == "open",
                                                                                 questions.c.off_topic.is_(False))
                                    .group_by(questions.c.tenant)).all())
    return [TenantSummary(Tenant(r.id, r.name, aware(r.created_at)), keys.get(r.id, 0), asked.get(r.id, 0),
                          waiting.get(r.id, 0)) for r in rows]

