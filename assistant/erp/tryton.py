"""The Tryton connector: Tryton's JSON-RPC over HTTP (``POST <url>/<database>/rpc/``), read-only.

It logs in as the tenant's read-only service account (``common.db.login``), then calls only ``search_read`` on
the models and fields declared in ``READS``; a Tryton user whose groups may only read those models makes the
ERP itself refuse anything else. Tryton sends dates and decimals as ``{"__class__": ...}`` objects, decoded
here.
"""

from __future__ import annotations

import base64
import itertools
import threading
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from assistant.erp.connector import ConnectorConfig, ErpConnector, Reads
from assistant.erp.errors import ErpError, ErpUnreachableError, LookupNotAllowedError
from assistant.erp.types import (
    DeliveryState,
    DocumentKind,
    DocumentLine,
    DocumentState,
    DocumentStatus,
    ItemInfo,
    ItemStock,
    PartyOrders,
    PartyRef,
    StockLevel,
)

__all__ = ["TrytonConnector"]

_PRODUCT = ("code", "name", "default_uom", "default_uom.symbol")
_READS: dict[str, Reads] = {
    "item_stock": {"product.product": (*_PRODUCT, "quantity", "forecast_quantity"),
                   "product.uom": ("symbol",), "stock.location": ("code", "name", "type")},
    "item_info": {"product.product": (*_PRODUCT, "type", "list_price", "cost_price", "salable", "purchasable"),
                  "product.uom": ("symbol",)},
    "document": {"purchase.purchase": ("number", "state", "party", "party.name", "purchase_date", "shipment_state"),
                 "purchase.line": ("purchase", "product.code", "product.name", "quantity", "unit.symbol"),
                 "sale.sale": ("number", "state", "party", "party.name", "sale_date", "shipment_state"),
                 "sale.line": ("sale", "product.code", "product.name", "quantity", "unit.symbol"),
                 "stock.shipment.out": ("number", "state", "customer.name", "planned_date", "origins"),
                 "party.party": ("name",), "product.product": ("code", "name"), "product.uom": ("symbol",)},
    "party_orders": {"party.party": ("code", "name"),
                     "purchase.purchase": ("number", "state", "party", "party.name", "purchase_date",
                                           "shipment_state"),
                     "sale.sale": ("number", "state", "party", "party.name", "sale_date", "shipment_state")},
    "parties": {"party.party": ("code", "name")},
}
_READS["all_stock"] = _READS["item_stock"]
_READS["documents"] = _READS["document"]

_ORDER_STATES = {"draft": DocumentState.DRAFT, "quotation": DocumentState.AWAITING_APPROVAL,
                 "confirmed": DocumentState.CONFIRMED, "processing": DocumentState.IN_PROGRESS,
                 "done": DocumentState.DONE, "cancelled": DocumentState.CANCELLED}
_SHIPMENT_STATES = {"draft": DocumentState.DRAFT, "waiting": DocumentState.CONFIRMED,
                    "assigned": DocumentState.IN_PROGRESS, "picked": DocumentState.IN_PROGRESS,
                    "packed": DocumentState.IN_PROGRESS, "shipped": DocumentState.IN_PROGRESS,
                    "done": DocumentState.DONE, "cancelled": DocumentState.CANCELLED}
_DELIVERY = {"none": DeliveryState.NONE, "waiting": DeliveryState.WAITING,
             "partially shipped": DeliveryState.PARTIAL, "sent": DeliveryState.DONE,
             "received": DeliveryState.DONE, "exception": DeliveryState.EXCEPTION}
_ORDER_MODELS = {DocumentKind.PURCHASE: ("purchase.purchase", "purchase.line", "purchase", "purchase_date"),
                 DocumentKind.SALE: ("sale.sale", "sale.line", "sale", "sale_date")}


def _decode(value: Any) -> Any:  # noqa: ANN401 - JSON
    """Tryton's JSON objects: ``{"__class__": "date", ...}`` and friends."""
    if not isinstance(value, dict) or "__class__" not in value:
        return value
    kind = value["__class__"]
    if kind == "date":
        return date(value["year"], value["month"], value["day"])
    if kind == "datetime":
        return datetime(value["year"], value["month"], value["day"], value.get("hour", 0), value.get("minute", 0),
                        value.get("second", 0), tzinfo=timezone.utc)
    if kind == "Decimal":
        return Decimal(value["decimal"])
    return value


def _encode(value: date) -> dict[str, Any]:
    return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}


def _number(value: Any) -> float | None:  # noqa: ANN401
    return None if value is None else float(value)


def _related(row: Mapping[str, Any], path: str) -> Any:  # noqa: ANN401
    """``party.name`` of a search_read row: Tryton nests it as ``{"party.": {"name": ...}}``."""
    head, _, rest = path.partition(".")
    if not rest:
        return row.get(head)
    nested = row.get(f"{head}.")
    return _related(nested, rest) if isinstance(nested, Mapping) else None


class TrytonConnector(ErpConnector):
    """Tryton over JSON-RPC. Options: ``verify_tls`` (default true)."""

    name: ClassVar[str] = "tryton"
    READS: ClassVar[Mapping[str, Reads]] = _READS

    def __init__(self, config: ConnectorConfig) -> None:
        super().__init__(config)
        base = config.url.rstrip("/")
        self._endpoint = f"{base}/{config.database}/rpc/" if config.database else f"{base}/rpc/"
        self._client = httpx.Client(timeout=config.timeout_seconds,
                                    verify=bool(config.options.get("verify_tls", True)))
        self._auth: str | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._warehouses: list[tuple[int, str, str]] | None = None
        self._context: dict[str, Any] = {}

    # RPC ----------------------------------------------------------------------------------------------

    def _post(self, method: str, params: Sequence[Any], auth: str | None) -> httpx.Response:
        headers = {"Authorization": f"Session {auth}"} if auth else {}
        try:
            return self._client.post(self._endpoint, json={"id": next(self._ids), "method": method,
                                                           "params": list(params)}, headers=headers)
        except httpx.HTTPError as exc:
            raise ErpUnreachableError(f"Tryton at {self.config.url} did not answer: {exc}") from exc

    def _login(self) -> str:
        response = self._post("common.db.login", [self.config.login, {"password": self.config.secret()}, "zh_CN"],
                              None)
        payload = self._payload(response)
        if not payload.get("result"):
            raise ErpUnreachableError(f"Tryton refused the login of {self.config.login!r}: "
                                      f"{payload.get('error')}")
        user_id, session = payload["result"][0], payload["result"][1]
        return base64.b64encode(f"{self.config.login}:{user_id}:{session}".encode()).decode()

    def _payload(self, response: httpx.Response) -> dict[str, Any]:
        if response.status_code in (401, 403):
            return {"error": ["unauthorized", response.status_code]}
        if response.status_code >= 400:
            raise ErpUnreachableError(f"Tryton answered HTTP {response.status_code}")
        try:
            return response.json(object_hook=_decode)
        except ValueError as exc:
            raise ErpUnreachableError(f"Tryton sent something that is not JSON-RPC: {exc}") from exc

    def _call(self, method: str, *params: Any) -> Any:  # noqa: ANN401
        for attempt in range(2):
            with self._lock:
                if self._auth is None:
                    self._auth = self._login()
                    # The account's company, as Tryton's own clients send it (company-dependent prices).
                    prefs = self._payload(self._post("model.res.user.get_preferences", [True, {}], self._auth))
                    self._context = {k: v for k, v in (prefs.get("result") or {}).items()
                                     if k in ("company", "companies", "language")}
                auth = self._auth
            response = self._post(method, params, auth)
            payload = self._payload(response)
            error = payload.get("error")
            if error is None:
                return payload.get("result")
            if error[0] == "unauthorized" and attempt == 0:  # the session expired: log in again once
                with self._lock:
                    self._auth = None
                continue
            detail = error[1] if len(error) > 1 else error
            if error[0] in ("UserError", "AccessError") and "access" in str(detail).lower():
                raise LookupNotAllowedError(f"Tryton refused {method}: {detail}")
            raise ErpError(f"Tryton {method} failed: {error[0]} {detail}")
        raise ErpUnreachableError("Tryton keeps refusing the session")

    def _search_read(self, model: str, domain: list, fields: Sequence[str], *, context: dict | None = None,
                     limit: int | None = None, order: list | None = None) -> list[dict[str, Any]]:
        return self._call(f"model.{model}.search_read", domain, 0, limit, order, list(fields),
                          {**self._context, **(context or {})})

    # Lookups ------------------------------------------------------------------------------------------

    def _warehouse_list(self) -> list[tuple[int, str, str]]:
        if self._warehouses is None:
            rows = self._search_read("stock.location", [["type", "=", "warehouse"]], ["code", "name"],
                                     order=[["code", "ASC"]])
            self._warehouses = [(r["id"], r.get("code") or "", r["name"]) for r in rows]
        return self._warehouses

    def _stock(self, domain: list) -> list[ItemStock]:
        as_of = datetime.now(timezone.utc)
        products = self._search_read("product.product", domain, ["code", "name", "default_uom.symbol"],
                                     order=[["code", "ASC"]])
        if not products:
            return []
        ids = [p["id"] for p in products]
        levels: dict[int, list[StockLevel]] = {i: [] for i in ids}
        for warehouse_id, code, name in self._warehouse_list():
            rows = self._search_read("product.product", [["id", "in", ids]], ["quantity", "forecast_quantity"],
                                     context={"locations": [warehouse_id], "stock_date_end": _encode(date.today())})
            for row in rows:
                levels[row["id"]].append(StockLevel(name, code, float(row["quantity"] or 0),
                                                    float(row["forecast_quantity"] or 0)))
        return [ItemStock(p["code"], p["name"], _related(p, "default_uom.symbol") or "",
                          tuple(levels[p["id"]]), as_of) for p in products]

    def item_stock(self, code: str) -> ItemStock | None:
        found = self._stock([["code", "=", code]])
        return found[0] if found else None

    def all_stock(self) -> list[ItemStock]:
        return self._stock([["type", "=", "goods"]])

    def item_info(self, code: str) -> ItemInfo | None:
        fields = list(_READS["item_info"]["product.product"])
        rows = self._search_read("product.product", [["code", "=", code]],
                                 [f for f in fields if f != "default_uom"], limit=1)
        if not rows:
            return None
        row = rows[0]
        return ItemInfo(row["code"], row["name"], _related(row, "default_uom.symbol") or "", row.get("type"),
                        _number(row.get("list_price")), _number(row.get("cost_price")), row.get("salable"),
                        row.get("purchasable"))

    def _order(self, kind: DocumentKind, row: Mapping[str, Any], with_lines: bool,
               as_of: datetime) -> DocumentStatus:
        _, line_model, parent, date_field = _ORDER_MODELS[kind]
        lines: tuple[DocumentLine, ...] = ()
        if with_lines:
            found = self._search_read(line_model, [[parent, "=", row["id"]]],
                                      ["product.code", "product.name", "quantity", "unit.symbol"])
            lines = tuple(DocumentLine(_related(r, "product.code") or "", _related(r, "product.name") or "",
                                       float(r["quantity"] or 0), _related(r, "unit.symbol") or "")
                          for r in found)
        return DocumentStatus(kind, row["number"], _ORDER_STATES.get(row["state"], DocumentState.IN_PROGRESS),
                              row["state"], _related(row, "party.name") or "", row.get(date_field),
                              _DELIVERY.get(row.get("shipment_state") or "none", DeliveryState.EXCEPTION),
                              lines, as_of=as_of)

    def _shipment(self, row: Mapping[str, Any], as_of: datetime) -> DocumentStatus:
        state = _SHIPMENT_STATES.get(row["state"], DocumentState.IN_PROGRESS)
        delivery = DeliveryState.DONE if state is DocumentState.DONE else DeliveryState.WAITING
        return DocumentStatus(DocumentKind.SHIPMENT_OUT, row["number"], state, row["state"],
                              _related(row, "customer.name") or "", row.get("planned_date"), delivery,
                              origin=row.get("origins") or None, as_of=as_of)

    def document(self, number: str) -> DocumentStatus | None:
        as_of = datetime.now(timezone.utc)
        for kind, (model, _, _, date_field) in _ORDER_MODELS.items():
            rows = self._search_read(model, [["number", "=", number]],
                                     ["number", "state", "party.name", date_field, "shipment_state"], limit=1)
            if rows:
                return self._order(kind, rows[0], True, as_of)
        rows = self._search_read("stock.shipment.out", [["number", "=", number]],
                                 ["number", "state", "customer.name", "planned_date", "origins"], limit=1)
        return self._shipment(rows[0], as_of) if rows else None

    def parties(self) -> list[PartyRef]:
        rows = self._search_read("party.party", [], ["code", "name"], order=[["code", "ASC"]])
        return [PartyRef(r.get("code") or "", r["name"]) for r in rows]

    def party_orders(self, party_code: str) -> PartyOrders | None:
        as_of = datetime.now(timezone.utc)
        rows = self._search_read("party.party", [["code", "=", party_code]], ["code", "name"], limit=1)
        if not rows:
            return None
        party = rows[0]
        found: dict[DocumentKind, tuple[DocumentStatus, ...]] = {}
        for kind, (model, _, _, date_field) in _ORDER_MODELS.items():
            orders = self._search_read(model, [["party", "=", party["id"]],
                                               ["state", "not in", ["draft", "done", "cancelled"]]],
                                       ["number", "state", "party.name", date_field, "shipment_state"],
                                       order=[["number", "ASC"]])
            found[kind] = tuple(self._order(kind, row, False, as_of) for row in orders)
        return PartyOrders(PartyRef(party.get("code") or "", party["name"]), found[DocumentKind.PURCHASE],
                           found[DocumentKind.SALE], as_of)

    def documents(self, kind: DocumentKind, *, states: tuple[str, ...] = (),
                  due_by: date | None = None) -> list[DocumentStatus]:
        as_of = datetime.now(timezone.utc)
        if kind is DocumentKind.SHIPMENT_OUT:
            erp_states = [s for s, n in _SHIPMENT_STATES.items() if not states or n.value in states]
            domain: list = [["state", "in", erp_states]]
            if due_by is not None:
                domain.append(["planned_date", "<=", _encode(due_by)])
            rows = self._search_read("stock.shipment.out", domain,
                                     ["number", "state", "customer.name", "planned_date", "origins"],
                                     order=[["number", "ASC"]])
            return [self._shipment(row, as_of) for row in rows]
        model, _, _, date_field = _ORDER_MODELS[kind]
        erp_states = [s for s, n in _ORDER_STATES.items() if not states or n.value in states]
        rows = self._search_read(model, [["state", "in", erp_states], ["number", "!=", None]],
                                 ["number", "state", "party.name", date_field, "shipment_state"],
                                 order=[["number", "ASC"]])
        return [self._order(kind, row, False, as_of) for row in rows]

    def close(self) -> None:
        with self._lock:
            if self._auth is not None:
                try:
                    self._post("common.db.logout", [], self._auth)
                except ErpUnreachableError:
                    pass
                self._auth = None
        self._client.close()
