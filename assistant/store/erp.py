"""The ERP lookups' audit trail and the ERP alerts' state (what was last posted for each trouble)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, and_, insert, select, update

from assistant.store.engine import aware, now, reading, writing
from assistant.store.schema import erp_alert_posts, erp_alert_state, erp_lookups

__all__ = ["StoredLookup", "AlertState", "record_lookup", "list_lookups", "active_alerts", "record_alert_post",
           "resolve_alert", "alert_post_counts"]


@dataclass(frozen=True)
class StoredLookup:
    id: int
    tenant: str
    asker: str
    channel: str
    question: str
    kind: str
    target: str
    connector: str
    reads: dict[str, list[str]]
    outcome: str
    latency_ms: float | None
    created_at: datetime


@dataclass(frozen=True)
class AlertState:
    check_name: str
    subject: str
    fingerprint: str
    urgency: str
    message: str
    first_seen_at: datetime
    last_posted_at: datetime


def record_lookup(engine: Engine, *, tenant: str, asker: str, channel: str, question: str, kind: str, target: str,
                  connector: str, reads: Mapping[str, Sequence[str]], outcome: str,
                  latency_ms: float | None = None) -> int:
    """Append one lookup to the audit trail; its id."""
    with writing(engine) as conn:
        return conn.execute(insert(erp_lookups).values(
            tenant=tenant, asker=asker[:200], channel=channel, question=question, kind=kind, target=target[:200],
            connector=connector, reads=json.dumps({m: list(f) for m, f in reads.items()}, ensure_ascii=False),
            outcome=outcome, latency_ms=latency_ms, created_at=now())).inserted_primary_key[0]


def list_lookups(engine: Engine, *, tenant: str, limit: int = 100) -> list[StoredLookup]:
    """The tenant's latest lookups, newest first."""
    with reading(engine) as conn:
        rows = conn.execute(select(erp_lookups).where(erp_lookups.c.tenant == tenant)
                            .order_by(erp_lookups.c.id.desc()).limit(limit)).mappings().all()
    return [StoredLookup(r["id"], r["tenant"], r["asker"], r["channel"], r["question"], r["kind"], r["target"],
                         r["connector"], json.loads(r["reads"]), r["outcome"], r["latency_ms"],
                         aware(r["created_at"])) for r in rows]


def active_alerts(engine: Engine, *, tenant: str) -> dict[tuple[str, str], AlertState]:
    """(check, subject) → the facts last posted, for every trouble not yet resolved."""
    with reading(engine) as conn:
        rows = conn.execute(select(erp_alert_state).where(and_(erp_alert_state.c.tenant == tenant,
                                                               erp_alert_state.c.resolved_at.is_(None))))
        return {(r.check_name, r.subject): AlertState(r.check_name, r.subject, r.fingerprint, r.urgency, r.message,
                                                      aware(r.first_seen_at), aware(r.last_posted_at))
                for r in rows}


def record_alert_post(engine: Engine, *, tenant: str, check_name: str, subject: str, fingerprint: str,
                      urgency: str, message: str, delivered: bool) -> None:
    """An alert was posted (or its post failed: ``delivered`` false, and the state is left for the next run)."""
    at = now()
    with writing(engine) as conn:
        conn.execute(insert(erp_alert_posts).values(tenant=tenant, check_name=check_name, subject=subject,
                                                    urgency=urgency, message=message, delivered=delivered,
                                                    posted_at=at))
        if not delivered:
            return
        where = and_(erp_alert_state.c.tenant == tenant, erp_alert_state.c.check_name == check_name,
                     erp_alert_state.c.subject == subject, erp_alert_state.c.resolved_at.is_(None))
        done = conn.execute(update(erp_alert_state).where(where).values(
            fingerprint=fingerprint, urgency=urgency, message=message, last_posted_at=at))
        if done.rowcount == 0:
            conn.execute(insert(erp_alert_state).values(
                tenant=tenant, check_name=check_name, subject=subject, fingerprint=fingerprint, urgency=urgency,
                message=message, first_seen_at=at, last_posted_at=at))


def resolve_alert(engine: Engine, *, tenant: str, check_name: str, subject: str) -> None:
    """The ERP no longer shows this trouble: a new occurrence will be posted again."""
    with writing(engine) as conn:
        conn.execute(update(erp_alert_state).where(and_(
            erp_alert_state.c.tenant == tenant, erp_alert_state.c.check_name == check_name,
            erp_alert_state.c.subject == subject, erp_alert_state.c.resolved_at.is_(None))).values(resolved_at=now()))


def alert_post_counts(engine: Engine, *, tenant: str | None = None, since: datetime | None = None,
                      until: datetime | None = None) -> dict[tuple[str, str], int]:
    """(tenant, urgency) → alerts delivered in ``[since, until)``. The window is applied here, on aware times:
    SQLite keeps no offset, so comparing in SQL would compare text."""
    query = select(erp_alert_posts.c.tenant, erp_alert_posts.c.urgency, erp_alert_posts.c.posted_at).where(
        erp_alert_posts.c.delivered.is_(True))
    if tenant is not None:
        query = query.where(erp_alert_posts.c.tenant == tenant)
    counts: dict[tuple[str, str], int] = {}
    with reading(engine) as conn:
        for row_tenant, urgency, posted_at in conn.execute(query):
            at = aware(posted_at)
            if (since is None or at >= since) and (until is None or at < until):
                counts[(row_tenant, urgency)] = counts.get((row_tenant, urgency), 0) + 1
    return counts
