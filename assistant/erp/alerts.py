"""ERP alerts: a tenant's checks (its erp.yaml ``alerts``) run against the ERP, posted to the group with an
urgency tag — once per trouble, and again only when its facts change.

    erp-assist alerts run [--tenant acme]        # e.g. from cron: */10 * * * * erp-assist alerts run

A trouble that no longer shows in the ERP is marked resolved, so if it comes back it is posted again. A post
that fails is logged and recorded as undelivered; the next run tries again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from functools import cache
from typing import Any, Protocol

import httpx
from sqlalchemy import Engine

from assistant.erp.answer import unit_label
from assistant.erp.config import AlertCheck, AlertTarget
from assistant.erp.errors import ErpConfigError, ErpError
from assistant.erp.service import ErpLookups, TenantErp
from assistant.erp.types import DocumentKind, ItemStock
from assistant.store.erp import active_alerts, record_alert_post, resolve_alert
from erp_assist.domain import Urgency
from erp_assist.settings import Settings

__all__ = ["Alert", "AlertRun", "AlertSender", "WebhookSender", "AdapterSender", "evaluate", "run_alerts",
           "sender_for"]

log = logging.getLogger(__name__)
_URGENCY_TAG = {Urgency.P1: "紧急", Urgency.P2: "重要", Urgency.P3: "提示"}


@dataclass(frozen=True)
class Alert:
    check_name: str
    subject: str  # what the trouble is about, stable across runs (an item in a warehouse, a document number)
    urgency: Urgency
    facts: dict[str, Any]  # what the fingerprint is taken over: a change re-posts the alert
    message: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.facts, sort_keys=True, ensure_ascii=False,
                                         default=str).encode()).hexdigest()

    @property
    def title(self) -> str:
        return f"【告警】[{self.urgency.value} {_URGENCY_TAG[self.urgency]}] {self.check_name}"

    @property
    def text(self) -> str:
        return f"{self.title}：{self.message}"


@dataclass
class AlertRun:
    tenant: str
    posted: list[Alert] = field(default_factory=list)
    unchanged: list[Alert] = field(default_factory=list)
    resolved: list[tuple[str, str]] = field(default_factory=list)
    failed: list[Alert] = field(default_factory=list)
    error: str | None = None  # the ERP could not be checked at all


class AlertSender(Protocol):
    def send(self, alert: Alert) -> bool:
        """Post ``alert``; whether it was delivered."""


class WebhookSender:
    """POSTs ``{"title", "text", "urgency", "tag", "check", "subject"}`` as JSON to a URL."""

    def __init__(self, url: str, timeout_seconds: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout_seconds

    def send(self, alert: Alert) -> bool:
        try:
            response = httpx.post(self.url, timeout=self.timeout, json={
                "title": alert.title, "text": alert.text, "urgency": alert.urgency.value,
                "tag": _URGENCY_TAG[alert.urgency], "check": alert.check_name, "subject": alert.subject})
        except httpx.HTTPError as exc:
            log.error("alert webhook %s did not answer: %s", self.url, exc)
            return False
        if response.status_code >= 400:
            log.error("alert webhook %s answered %s", self.url, response.status_code)
            return False
        return True


class AdapterSender:
    """Posts through a chat channel adapter's outgoing send (``ChannelAdapter.post``)."""

    def __init__(self, adapter: Any, chat_id: str) -> None:  # noqa: ANN401 - a ChannelAdapter
        self.adapter = adapter
        self.chat_id = chat_id

    def send(self, alert: Alert) -> bool:
        from assistant.channels import ChannelError, OutgoingReply

        try:
            self.adapter.post(self.chat_id, OutgoingReply(alert.title, alert.text, urgent=alert.urgency is Urgency.P1))
        except ChannelError as exc:
            log.error("alert post to %s %s failed: %s", self.adapter.name, self.chat_id, exc)
            return False
        return True


def sender_for(target: AlertTarget, settings: Settings) -> AlertSender:
    """The sender a tenant's ``alerts.target`` names."""
    if target.webhook:
        return WebhookSender(target.webhook, settings.channel_send_timeout_seconds)
    if target.platform and target.chat_id:
        from assistant.channels import make_adapter

        return AdapterSender(make_adapter(target.platform, settings), target.chat_id)
    raise ErpConfigError("alerts.target needs a webhook, or a platform and a chat_id")


def _check(check: AlertCheck, erp: TenantErp, now: datetime, tz: timezone,
           all_stock: Callable[[], dict[str, ItemStock]]) -> list[Alert]:
    connector = erp.connector
    alerts: list[Alert] = []
    if check.kind in ("negative_stock", "below_minimum"):
        stock = all_stock()
        if check.kind == "negative_stock":
            for item in stock.values():
                for level in item.levels:
                    if level.on_hand < 0:
                        alerts.append(Alert(
                            check.name, f"{item.code}@{level.warehouse_code}", check.urgency,
                            {"code": item.code, "warehouse": level.warehouse, "on_hand": level.on_hand},
                            f"物料 {item.code} {item.name} 在 {level.warehouse} 账面库存 {level.on_hand:g} "
                            f"{unit_label(item.unit)}（负库存），请立即核查"))
        else:
            for code, minimum in check.minimum.items():
                item = stock.get(code)
                if item is not None and 0 <= item.on_hand < minimum:
                    alerts.append(Alert(
                        check.name, code, check.urgency, {"code": code, "on_hand": item.on_hand, "minimum": minimum},
                        f"物料 {code} {item.name} 库存 {item.on_hand:g} {unit_label(item.unit)}，低于最低库存 "
                        f"{minimum:g}，请安排补货"))
    elif check.kind == "purchase_waiting_approval":
        for doc in connector.documents(DocumentKind.PURCHASE, states=("awaiting_approval",)):
            if doc.date is None:
                continue
            waiting = now - datetime.combine(doc.date, time.min, tz)
            if waiting >= timedelta(hours=check.hours):
                alerts.append(Alert(
                    check.name, doc.number, check.urgency,
                    {"number": doc.number, "state": doc.erp_state, "date": doc.date.isoformat()},
                    f"采购订单 {doc.number}（供应商 {doc.party}，下单日期 {doc.date.isoformat()}）已等待审批 "
                    f"{waiting.total_seconds() / 3600:.0f} 小时，超过 {check.hours:g} 小时，请尽快审批"))
    elif check.kind == "shipment_due_not_done":
        today = now.astimezone(tz).date()
        for doc in connector.documents(DocumentKind.SHIPMENT_OUT, states=("draft", "confirmed", "in_progress"),
                                       due_by=today):
            late = "今天" if doc.date == today else f"{doc.date.isoformat() if doc.date else '之前'}"
            alerts.append(Alert(
                check.name, doc.number, check.urgency,
                {"number": doc.number, "state": doc.erp_state, "date": doc.date.isoformat() if doc.date else None},
                f"出库单 {doc.number}（客户 {doc.party}{'，来源 ' + doc.origin if doc.origin else ''}）计划{late}"
                f"发货，目前仍未完成（{doc.erp_state}），请跟进"))
    return alerts


def evaluate(erp: TenantErp, *, now: datetime, utc_offset_hours: float) -> list[Alert]:
    """Every alert the tenant's checks find in the ERP right now (``ErpError`` when it cannot be read)."""
    tz = timezone(timedelta(hours=utc_offset_hours))

    @cache
    def all_stock() -> dict[str, ItemStock]:  # read once per run, and only when a stock check asks
        return {item.code: item for item in erp.connector.all_stock()}

    return [alert for check in erp.config.alerts.checks for alert in _check(check, erp, now, tz, all_stock)]


def run_alerts(lookups: ErpLookups, store: Engine, tenant: str, *, sender: AlertSender | None = None,
               now: datetime | None = None) -> AlertRun:
    """Check ``tenant``'s ERP, post what is new or changed, resolve what is gone."""
    run = AlertRun(tenant)
    erp = lookups.tenant(tenant)
    if erp is None or not erp.config.alerts.checks:
        return run
    offset = (erp.config.utc_offset_hours if erp.config.utc_offset_hours is not None
              else lookups.settings.chat_utc_offset_hours)
    try:
        found = evaluate(erp, now=now or datetime.now(timezone.utc), utc_offset_hours=offset)
    except ErpError as exc:
        run.error = str(exc)
        log.error("tenant %s: ERP alerts not checked: %s", tenant, exc)
        return run
    sender = sender or sender_for(erp.config.alerts.target, lookups.settings)
    posted_before = active_alerts(store, tenant=tenant)
    current = set()
    for alert in found:
        key = (alert.check_name, alert.subject)
        current.add(key)
        before = posted_before.get(key)
        if before is not None and before.fingerprint == alert.fingerprint:
            run.unchanged.append(alert)
            continue
        delivered = sender.send(alert)
        record_alert_post(store, tenant=tenant, check_name=alert.check_name, subject=alert.subject,
                          fingerprint=alert.fingerprint, urgency=alert.urgency.value, message=alert.text,
                          delivered=delivered)
        (run.posted if delivered else run.failed).append(alert)
    for key in posted_before.keys() - current:
        resolve_alert(store, tenant=tenant, check_name=key[0], subject=key[1])
        run.resolved.append(key)
    return run
