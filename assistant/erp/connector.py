"""The connector interface every ERP plugin implements (read-only), and how plugins are found.

A connector is a class registered under the entry-point group ``erp_assist.connectors``::

    [project.entry-points."erp_assist.connectors"]
    tryton = "assistant.erp.tryton:TrytonConnector"

Each lookup method declares what it reads in ``READS`` (model → fields, in the ERP's own names). The lookup
service checks those against the tenant's whitelist before calling, so a connector can never read what a tenant
did not allow, and the audit trail records exactly what was read. See docs/erp-connectors.md.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import date
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from assistant.erp.errors import ErpConfigError
from assistant.erp.types import DocumentKind, DocumentStatus, ItemInfo, ItemStock, PartyOrders, PartyRef

__all__ = ["ENTRY_POINT_GROUP", "ConnectorConfig", "ErpConnector", "Reads", "available_connectors",
           "make_connector"]

ENTRY_POINT_GROUP = "erp_assist.connectors"
# The connectors shipped with erp-assist, found even where the package's metadata is stale (a source checkout
# run from PYTHONPATH); an installed plugin of the same name takes precedence.
BUILTIN = {"tryton": "assistant.erp.tryton:TrytonConnector"}
Reads = Mapping[str, tuple[str, ...]]  # model → fields


class ConnectorConfig(BaseModel):
    """How to reach one tenant's ERP (the ``connection`` block of its erp.yaml)."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="The ERP's base URL, e.g. http://erp.internal:8000/")
    database: str = Field("", description="Database / company / account set name, where the ERP has one")
    login: str = Field(description="The read-only service account")
    password: str | None = Field(None, description="Its password (prefer password_env)")
    password_env: str | None = Field(None, description="Environment variable holding the password")
    timeout_seconds: float = Field(5.0, gt=0, le=120)
    options: dict[str, Any] = Field({}, description="Connector-specific options")

    def secret(self) -> str:
        import os

        if self.password_env:
            value = os.environ.get(self.password_env)
            if not value:
                raise ErpConfigError(f"environment variable {self.password_env} (the ERP password) is not set")
            return value
        if self.password is None:
            raise ErpConfigError("the ERP connection needs password_env (or password)")
        return self.password


class ErpConnector(ABC):
    """Read-only access to one ERP. Methods return ``None`` for an unknown code or number (never a guess) and
    raise ``ErpUnreachableError`` when the ERP does not answer, ``LookupNotAllowedError`` when it refuses."""

    name: ClassVar[str]
    READS: ClassVar[Mapping[str, Reads]]  # method name → what it reads

    def __init__(self, config: ConnectorConfig) -> None:
        self.config = config

    @abstractmethod
    def item_stock(self, code: str) -> ItemStock | None:
        """On-hand and forecast quantity of an item in each warehouse."""

    @abstractmethod
    def item_info(self, code: str) -> ItemInfo | None:
        """An item's master data."""

    @abstractmethod
    def document(self, number: str) -> DocumentStatus | None:
        """A purchase order, sale order or shipment by its number."""

    @abstractmethod
    def party_orders(self, party_code: str) -> PartyOrders | None:
        """A supplier's or customer's open orders."""

    @abstractmethod
    def parties(self) -> list[PartyRef]:
        """Every supplier and customer (code and name only): how questions name them."""

    # For alerts ---------------------------------------------------------------------------------------

    @abstractmethod
    def all_stock(self) -> list[ItemStock]:
        """Every stocked item's levels (for stock checks)."""

    @abstractmethod
    def documents(self, kind: DocumentKind, *, states: tuple[str, ...] = (),
                  due_by: date | None = None) -> list[DocumentStatus]:
        """Documents of ``kind`` in the given normalized states (all when empty), planned on or before
        ``due_by`` when given."""

    def close(self) -> None:
        """Log out and free connections."""


def _entry_points() -> dict[str, Any]:
    found: dict[str, Any] = {name: EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in BUILTIN.items()}
    found.update({ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)})
    return found


def available_connectors() -> list[str]:
    """Names of the installed connector plugins."""
    return sorted(_entry_points())


def make_connector(name: str, config: ConnectorConfig) -> ErpConnector:
    """The connector plugin ``name`` (an entry point of ``erp_assist.connectors``) for ``config``."""
    found = _entry_points()
    if name not in found:
        raise ErpConfigError(f"unknown ERP connector {name!r}; installed: {', '.join(sorted(found)) or 'none'} "
                             f"(a plugin registers itself under the entry-point group {ENTRY_POINT_GROUP!r})")
    cls = found[name].load()
    if not (isinstance(cls, type) and issubclass(cls, ErpConnector)):
        raise ErpConfigError(f"connector {name!r} ({found[name].value}) is not an ErpConnector subclass")
    return cls(config)
