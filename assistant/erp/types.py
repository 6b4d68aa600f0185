"""What a connector returns: small frozen dataclasses, the same for every ERP.

States are normalized (``DocumentState``, ``DeliveryState``) so answers and alerts read the same whatever the ERP
calls them; ``erp_state`` keeps the ERP's own word for the audit trail and for experts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

__all__ = ["DocumentKind", "DocumentState", "DeliveryState", "StockLevel", "ItemStock", "ItemInfo",
           "DocumentLine", "DocumentStatus", "PartyOrders", "PartyRef"]


class DocumentKind(StrEnum):
    PURCHASE = "purchase"
    SALE = "sale"
    SHIPMENT_OUT = "shipment_out"


class DocumentState(StrEnum):
    DRAFT = "draft"
    AWAITING_APPROVAL = "awaiting_approval"
    CONFIRMED = "confirmed"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class DeliveryState(StrEnum):
    NONE = "none"  # nothing to deliver yet (draft, awaiting approval)
    WAITING = "waiting"
    PARTIAL = "partial"
    DONE = "done"
    EXCEPTION = "exception"


@dataclass(frozen=True)
class StockLevel:
    """On hand and forecast (on hand plus what is planned to come and go) in one warehouse."""

    warehouse: str
    warehouse_code: str
    on_hand: float
    forecast: float


@dataclass(frozen=True)
class ItemStock:
    code: str
    name: str
    unit: str
    levels: tuple[StockLevel, ...]
    as_of: datetime

    @property
    def on_hand(self) -> float:
        return sum(level.on_hand for level in self.levels)


@dataclass(frozen=True)
class ItemInfo:
    """An item's master data (only the whitelisted fields are filled)."""

    code: str
    name: str
    unit: str
    kind: str | None = None
    list_price: float | None = None
    cost_price: float | None = None
    salable: bool | None = None
    purchasable: bool | None = None


@dataclass(frozen=True)
class DocumentLine:
    code: str
    name: str
    quantity: float
    unit: str


@dataclass(frozen=True)
class DocumentStatus:
    kind: DocumentKind
    number: str
    state: DocumentState
    erp_state: str
    party: str
    date: date | None  # order date (purchase, sale) or planned date (shipment)
    delivery: DeliveryState = DeliveryState.NONE
    lines: tuple[DocumentLine, ...] = ()
    origin: str | None = None  # the order a shipment comes from
    as_of: datetime | None = None


@dataclass(frozen=True)
class PartyRef:
    code: str
    name: str


@dataclass(frozen=True)
class PartyOrders:
    """A supplier's or customer's orders still open (not done, not cancelled)."""

    party: PartyRef
    purchases: tuple[DocumentStatus, ...] = field(default_factory=tuple)
    sales: tuple[DocumentStatus, ...] = field(default_factory=tuple)
    as_of: datetime | None = None
