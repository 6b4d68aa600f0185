"""A tenant's ERP configuration: ``<erp_config_dir>/<tenant>.yaml`` (no file: the tenant has no live lookups).

    connector: tryton                # an entry point of erp_assist.connectors
    connection:
      url: http://erp.internal:8000/
      database: erp
      login: erp_assist              # a read-only service account
      password_env: ERP_ASSIST_TRYTON_PASSWORD
    whitelist:                       # model → fields lookups may read (default: what the connector declares)
      product.product: [code, name, default_uom, default_uom.symbol, quantity, forecast_quantity]
    party_aliases: {宏达: S002}      # extra names of suppliers/customers → their code
    alerts: {target: {...}, checks: [...]}   # see assistant/erp/alerts.py

No field that holds personal data (addresses, phone numbers, e-mail, tax ids, bank accounts …) may be
whitelisted, whatever the file says.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from assistant.erp.connector import ConnectorConfig, Reads
from assistant.erp.errors import ErpConfigError
from erp_assist.domain import Urgency
from erp_assist.yamlio import load_yaml

__all__ = ["PERSONAL_FIELDS", "PERSONAL_MODELS", "AlertCheck", "AlertTarget", "AlertsConfig", "TenantErpConfig",
           "load_tenant_config", "allowed", "personal_reads"]

# Field names (last part of a dotted path) and models that hold personal data: never looked up.
PERSONAL_FIELDS = frozenset({
    "email", "phone", "mobile", "fax", "address", "addresses", "street", "zip", "postal_code", "city",
    "contact_mechanisms", "contact_mechanism", "identifiers", "tax_identifier", "vat_code", "birth_date",
    "birthday", "gender", "ssn", "id_number", "bank_accounts", "iban", "password", "password_hash", "login",
    "salary", "employee", "employees", "signature", "avatar", "photo",
})
PERSONAL_MODELS = frozenset({"res.user", "party.address", "party.contact_mechanism", "party.identifier",
                             "company.employee", "bank.account", "res.partner"})


def personal_reads(reads: Reads) -> list[str]:
    """The model.field entries of ``reads`` that would read personal data."""
    found = []
    for model, fields in reads.items():
        if model in PERSONAL_MODELS:
            found.append(model)
            continue
        found += [f"{model}.{f}" for f in fields if any(part in PERSONAL_FIELDS for part in f.split("."))]
    return found


def allowed(reads: Reads, whitelist: Reads) -> list[str]:
    """The model.field entries of ``reads`` the whitelist does not allow (empty: all allowed)."""
    missing = []
    for model, fields in reads.items():
        permitted = set(whitelist.get(model, ()))
        missing += [f"{model}.{f}" for f in fields if f not in permitted]
    return missing


class AlertTarget(BaseModel):
    """Where a tenant's alerts go: a group through a configured channel adapter, or a webhook."""

    model_config = ConfigDict(extra="forbid")
    platform: Literal["dingtalk", "feishu", "wecom"] | None = None
    chat_id: str | None = Field(None, description="The platform's chat id (or the robot for DingTalk)")
    webhook: str | None = Field(None, description="POSTed {title, text, urgency, tag} as JSON instead")


class AlertCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    kind: Literal["negative_stock", "below_minimum", "purchase_waiting_approval", "shipment_due_not_done"]
    urgency: Urgency = Urgency.P2
    minimum: dict[str, float] = Field({}, description="below_minimum: item code → minimum on hand")
    hours: float = Field(48, gt=0, description="purchase_waiting_approval: how long is too long")


class AlertsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target: AlertTarget = AlertTarget()
    checks: list[AlertCheck] = []


class TenantErpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    connector: str = Field(min_length=1)
    connection: ConnectorConfig
    whitelist: dict[str, list[str]] | None = None
    party_aliases: dict[str, str] = {}
    utc_offset_hours: float | None = Field(None, description="The group's time zone (default: chat_utc_offset_hours)")
    alerts: AlertsConfig = AlertsConfig()

    @field_validator("whitelist")
    @classmethod
    def _no_personal_data(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if value is not None and (personal := personal_reads({m: tuple(f) for m, f in value.items()})):
            raise ValueError(f"the whitelist names personal data, which is never looked up: {', '.join(personal)}")
        return value


def load_tenant_config(path: Path) -> TenantErpConfig:
    """Read and check one tenant's erp.yaml (``ErpConfigError`` naming the file and the problem)."""
    try:
        data: Any = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ErpConfigError(f"{path}: cannot be read as YAML ({exc})") from exc
    try:
        return TenantErpConfig.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ErpConfigError(f"{path}: {problems}") from exc
