"""Live, read-only ERP lookups and alerts for the groups: "A-1002 还有多少库存", "PO-2024-0315 到哪一步了", and
【告警】 posts before anyone asks.

* ``connector`` — the plugin interface (``ErpConnector``, entry-point group ``erp_assist.connectors``);
  ``tryton`` — the Tryton connector (JSON-RPC over HTTP).
* ``intent`` — whether a question asks for live data, and about what; ``answer`` — the sentence it gets.
* ``service`` — ``ErpLookups``: per-tenant configuration, whitelist, per-asker rate limit, audit trail.
* ``alerts`` — YAML checks run on a schedule, posted to the group once per change of facts.
"""

from assistant.erp.answer import format_document, format_stock
from assistant.erp.config import TenantErpConfig, load_tenant_config
from assistant.erp.connector import (
    ENTRY_POINT_GROUP,
    ConnectorConfig,
    ErpConnector,
    available_connectors,
    make_connector,
)
from assistant.erp.errors import ErpConfigError, ErpError, ErpUnreachableError, LookupNotAllowedError
from assistant.erp.intent import LookupIntent, LookupKind, detect_intent
from assistant.erp.service import ErpLookups, LookupAnswer, TenantErp
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

__all__ = [
    "ENTRY_POINT_GROUP", "ConnectorConfig", "ErpConnector", "available_connectors", "make_connector",
    "TenantErpConfig", "load_tenant_config", "ErpConfigError", "ErpError", "ErpUnreachableError",
    "LookupNotAllowedError", "LookupIntent", "LookupKind", "detect_intent", "ErpLookups", "LookupAnswer",
    "TenantErp", "DeliveryState", "DocumentKind", "DocumentLine", "DocumentState", "DocumentStatus", "ItemInfo",
    "ItemStock", "PartyOrders", "PartyRef", "StockLevel", "format_document", "format_stock",
]
