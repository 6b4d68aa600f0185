"""``ErpLookups``: a question in, a live answer from the asker's tenant's ERP out (or None: not a lookup).

One instance serves every tenant (connectors are made on first use from ``<erp_config_dir>/<tenant>.yaml``).
Every lookup that reaches the ERP side — found, unknown, unreachable, refused or rate-limited — leaves a row in
the audit trail (``erp_lookups``) with who asked, through which channel, and what was read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from sqlalchemy import Engine

from assistant.auth import RateLimiter
from assistant.erp.answer import (
    format_document,
    format_item,
    format_not_allowed,
    format_not_found,
    format_party_orders,
    format_rate_limited,
    format_stock,
    format_unreachable,
)
from assistant.erp.config import TenantErpConfig, allowed, load_tenant_config, personal_reads
from assistant.erp.connector import ErpConnector, Reads, make_connector
from assistant.erp.errors import ErpConfigError, ErpError, LookupNotAllowedError
from assistant.erp.intent import LookupIntent, LookupKind, detect_intent, may_name_party
from assistant.erp.types import PartyRef
from assistant.store.erp import record_lookup
from erp_assist.settings import Settings

__all__ = ["ErpLookups", "LookupAnswer", "TenantErp", "Outcome"]

log = logging.getLogger(__name__)
Outcome = Literal["found", "not_found", "unreachable", "not_allowed", "rate_limited"]
_METHOD = {LookupKind.STOCK: "item_stock", LookupKind.ITEM_INFO: "item_info", LookupKind.DOCUMENT: "document",
           LookupKind.PARTY_ORDERS: "party_orders"}


@dataclass(frozen=True)
class LookupAnswer:
    """What a lookup said, and how it ended."""

    kind: LookupKind
    target: str
    outcome: Outcome
    text: str
    connector: str
    looked_up_at: datetime
    latency_ms: float | None = None
    audit_id: int | None = None


class TenantErp:
    """One tenant's connector, whitelist and the supplier/customer names its questions may use."""

    def __init__(self, tenant: str, config: TenantErpConfig, connector: ErpConnector, party_ttl_seconds: float,
                 party_retry_seconds: float = 60.0):
        self.tenant = tenant
        self.config = config
        self.connector = connector
        declared = _merged(connector.READS.values())  # every method's fields: one method must not hide another's
        if personal := personal_reads(declared):
            raise ErpConfigError(f"connector {connector.name!r} declares reads of personal data: {personal}")
        self.whitelist: Reads = ({m: tuple(f) for m, f in config.whitelist.items()} if config.whitelist is not None
                                 else declared)
        self._party_ttl = party_ttl_seconds
        self._party_retry = party_retry_seconds
        self._parties: tuple[float, list[PartyRef]] | None = None  # (valid until, names)
        self._lock = threading.Lock()

    def reads(self, method: str) -> Reads:
        return self.connector.READS[method]

    def may(self, method: str) -> bool:
        return not allowed(self.reads(method), self.whitelist)

    def parties(self) -> list[PartyRef]:
        """Suppliers and customers (cached; empty when the ERP or the whitelist does not give them)."""
        with self._lock:
            if self._parties is not None and time.monotonic() < self._parties[0]:
                return self._parties[1]
        if not self.may("parties"):
            return []
        try:
            found = self.connector.parties()
        except ErpError as exc:
            # Keep what we had, and do not ask a down ERP again for every question: retry in a minute.
            log.warning("tenant %s: supplier/customer names unavailable: %s", self.tenant, exc)
            with self._lock:
                known = self._parties[1] if self._parties else []
                self._parties = (time.monotonic() + min(self._party_ttl, self._party_retry), known)
            return known
        with self._lock:
            self._parties = (time.monotonic() + self._party_ttl, found)
        return found


def _merged(groups) -> dict[str, tuple[str, ...]]:  # noqa: ANN001
    merged: dict[str, list[str]] = {}
    for reads in groups:
        for model, fields in reads.items():
            merged.setdefault(model, [])
            merged[model] += [f for f in fields if f not in merged[model]]
    return {m: tuple(f) for m, f in merged.items()}


class ErpLookups:
    """Live lookups for every tenant that has an ERP configured. Safe to share between threads."""

    def __init__(self, settings: Settings, store: Engine, *,
                 connector_factory: Callable[[TenantErpConfig], ErpConnector] | None = None,
                 on_lookup: Callable[[LookupAnswer], None] | None = None) -> None:
        """``on_lookup``: told of every lookup made, whichever path asked (API, review page, chat groups)."""
        self.settings = settings
        self.store = store
        self._on_lookup = on_lookup
        self._factory = connector_factory or (lambda c: make_connector(c.connector, c.connection))
        self._tenants: dict[str, TenantErp | None] = {}
        self._limiter = RateLimiter(settings.erp_lookups_per_minute)
        self._lock = threading.Lock()

    def config_path(self, tenant: str):  # noqa: ANN201 - a Path
        return self.settings.erp_config_dir / f"{tenant}.yaml"

    def tenant(self, tenant: str) -> TenantErp | None:
        """The tenant's ERP, or None when it has none configured. A broken configuration raises
        ``ErpConfigError`` (every time, so it is seen and fixed)."""
        with self._lock:
            if tenant in self._tenants:
                return self._tenants[tenant]
        path = self.config_path(tenant)
        if not path.is_file():
            found = None
        else:
            config = load_tenant_config(path)
            found = TenantErp(tenant, config, self._factory(config), self.settings.erp_party_cache_seconds,
                              self.settings.erp_party_retry_seconds)
        with self._lock:
            return self._tenants.setdefault(tenant, found)

    @staticmethod
    def _intent(question: str, erp: TenantErp) -> LookupIntent | None:
        # Codes need no ERP call; the party names are fetched only for a question that may name a party.
        intent = detect_intent(question, (), erp.config.party_aliases)
        if intent is None and may_name_party(question):
            intent = detect_intent(question, erp.parties(), erp.config.party_aliases)
        return intent

    def answer(self, question: str, *, tenant: str, asker: str, channel: str) -> LookupAnswer | None:
        """Look up what ``question`` asks for; None when it asks for nothing live (or the tenant has no ERP)."""
        erp = self.tenant(tenant)
        if erp is None:
            return None
        intent = self._intent(question, erp)
        if intent is None:
            return None
        return self.lookup(intent, erp=erp, question=question, asker=asker, channel=channel)

    def answer_safely(self, question: str, *, tenant: str, asker: str, channel: str) -> LookupAnswer | None:
        """``answer`` for the serving paths: a tenant's broken erp.yaml is logged (every time) and gives no
        lookup, so the knowledge-base drafts still go out."""
        try:
            return self.answer(question, tenant=tenant, asker=asker, channel=channel)
        except ErpConfigError as exc:
            log.error("tenant %s: ERP lookups off: %s", tenant, exc)
            return None

    def lookup(self, intent: LookupIntent, *, erp: TenantErp, question: str, asker: str,
               channel: str) -> LookupAnswer:
        method = _METHOD[intent.kind]
        offset = (erp.config.utc_offset_hours if erp.config.utc_offset_hours is not None
                  else self.settings.chat_utc_offset_hours)
        started = time.perf_counter()
        reads: Reads = {}
        if not self._limiter.allow((erp.tenant, asker)):
            outcome, text = "rate_limited", format_rate_limited()
        elif not erp.may(method):
            outcome, text = "not_allowed", format_not_allowed(intent)
        else:
            reads = erp.reads(method)
            try:
                outcome, text = self._run(erp, intent, method, offset)
            except LookupNotAllowedError as exc:
                log.warning("tenant %s: the ERP refused %s: %s", erp.tenant, method, exc)
                outcome, text = "not_allowed", format_not_allowed(intent)
            except ErpError as exc:  # unreachable, or an answer that makes no sense: nothing to tell
                log.warning("tenant %s: ERP lookup %s %s failed: %s", erp.tenant, method, intent.target, exc)
                outcome, text = "unreachable", format_unreachable()
        latency_ms = (time.perf_counter() - started) * 1000
        audit_id = record_lookup(self.store, tenant=erp.tenant, asker=asker, channel=channel, question=question,
                                 kind=intent.kind.value, target=intent.target, connector=erp.connector.name,
                                 reads=reads, outcome=outcome, latency_ms=round(latency_ms, 2))
        answer = LookupAnswer(intent.kind, intent.target, outcome, text, erp.connector.name,
                              datetime.now(timezone.utc), round(latency_ms, 2), audit_id)
        if self._on_lookup is not None:
            self._on_lookup(answer)
        return answer

    def _run(self, erp: TenantErp, intent: LookupIntent, method: str, offset: float) -> tuple[Outcome, str]:
        connector = erp.connector
        if intent.kind is LookupKind.PARTY_ORDERS:
            orders = connector.party_orders(intent.target)
            if orders is None:
                return "not_found", format_not_found(intent)
            return "found", format_party_orders(orders, utc_offset_hours=offset)
        for candidate in intent.candidates or (intent.target,):
            if intent.kind is LookupKind.STOCK:
                stock = connector.item_stock(candidate)
                if stock is not None:
                    return "found", format_stock(stock, utc_offset_hours=offset, asked=intent.target)
            elif intent.kind is LookupKind.ITEM_INFO:
                item = connector.item_info(candidate)
                if item is not None:
                    return "found", format_item(item, utc_offset_hours=offset, as_of=datetime.now(timezone.utc))
            else:
                document = connector.document(candidate)
                if document is not None:
                    return "found", format_document(document, utc_offset_hours=offset, asked=intent.target)
        return "not_found", format_not_found(intent)

    def close(self) -> None:
        with self._lock:
            for erp in self._tenants.values():
                if erp is not None:
                    erp.connector.close()
            self._tenants.clear()

