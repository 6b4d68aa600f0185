"""Tenants: one knowledge base per company or group — its own sources, index, review queue, learned FAQ and stats.

``TenantPool`` serves one ``Assistant`` per tenant, opened on first use from ``settings.for_tenant(id)``; every
tenant's assistant borrows the same loaded embedder, text processor and classifier, so models load once per
process however many tenants it serves. ``add_tenant`` registers a tenant and lays out its sources directory.
The review store keeps the rows apart (``assistant.store``); this module keeps the files and indexes apart.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from assistant.service import Assistant, load_or_train_classifier, load_or_train_gate
from assistant.store import (
    ConflictError,
    NotFoundError,
    Tenant,
    TenantSummary,
    create_tenant,
    get_tenant,
    list_tenants,
    validate_tenant_id,
)
from erp_assist.errors import ErpAssistError, IndexNotFoundError
from erp_assist.settings import Settings
from indexer.embedding import Embedder
from indexer.index import MANIFEST, current_build_dir
from indexer.text import TextProcessor
from models.classifier import QuestionClassifier
from models.gate import OffTopicGate

if TYPE_CHECKING:
    from indexer.loaders import FaqColumns

__all__ = [
    "PublishedBuild",
    "SharedModels",
    "TenantNotReadyError",
    "TenantOverview",
    "TenantPool",
    "add_tenant",
    "init_tenant_dir",
    "published_build",
    "tenant_overview",
]

log = logging.getLogger(__name__)


class TenantNotReadyError(ErpAssistError):
    """The tenant has no usable published index yet, so it cannot answer questions (HTTP 503)."""


@dataclass(frozen=True)
class SharedModels:
    """The loaded models every tenant's assistant uses; none of them depends on a tenant's data."""

    processor: TextProcessor
    embedder: Embedder
    classifier: QuestionClassifier
    gate: OffTopicGate | None = None  # None: the off-topic gate is switched off

    @classmethod
    def load(cls, settings: Settings) -> SharedModels:
        processor = TextProcessor.from_settings(settings)
        processor.warm_up()
        # The embedder reads its weights on first use: only a build with vectors and a dense weight needs it.
        embedder = Embedder(settings.embedder, settings.device, settings.embed_batch_size)
        return cls(processor, embedder, load_or_train_classifier(settings), load_or_train_gate(settings))

    @classmethod
    def of(cls, assistant: Assistant) -> SharedModels:
        """The models of an already loaded assistant."""
        if assistant.classifier is None:
            raise ValueError("the assistant is not loaded; call load() before sharing its models")
        return cls(assistant.processor, assistant.embedder, assistant.classifier, assistant.gate)


class TenantPool:
    """One loaded ``Assistant`` per tenant, made on first use; safe to share between request threads.

    ``settings`` are the default tenant's (``for_tenant`` is called on them); ``assistant``, when given, is an
    already loaded assistant of ``settings.tenant`` whose models the other tenants borrow.
    """

    def __init__(self, settings: Settings, *, assistant: Assistant | None = None) -> None:
        if assistant is not None and assistant.settings.tenant != settings.tenant:
            raise ValueError(f"the assistant serves tenant {assistant.settings.tenant!r}, "
                             f"the settings {settings.tenant!r}")
        self.settings = settings
        self._models = SharedModels.of(assistant) if assistant is not None else None
        self._assistants: dict[str, Assistant] = {settings.tenant: assistant} if assistant is not None else {}
        self._lock = threading.Lock()

    def load(self) -> TenantPool:
        """Load the models now (start-up), and the configured tenant's index if it has one."""
        if self._models is None:
            self._models = SharedModels.load(self.settings)
        try:
            self.get(self.settings.tenant)
        except TenantNotReadyError as exc:
            log.warning("%s", exc)  # other tenants can still be served; this one answers 503 until it is built
        return self

    @property
    def models(self) -> SharedModels:
        if self._models is None:
            raise ErpAssistError("the tenant pool is not loaded; call load() first")
        return self._models

    def settings_for(self, tenant: str) -> Settings:
        """The tenant's settings: its own ``data_dir`` and ``index_dir``."""
        return self.settings.for_tenant(tenant)

    def get(self, tenant: str) -> Assistant:
        """The tenant's assistant, switched to its newest published build; ``TenantNotReadyError`` when none."""
        assistant = self._assistants.get(tenant)
        if assistant is None:
            with self._lock:
                assistant = self._assistants.get(tenant)
                if assistant is None:
                    assistant = self._assistants[tenant] = self._open(tenant)
        assistant.refresh()
        return assistant

    def _open(self, tenant: str) -> Assistant:
        models = self.models
        try:
            settings = self.settings_for(tenant)
        except ValueError as exc:  # e.g. a process configured for one tenant asked for another
            raise TenantNotReadyError(str(exc)) from exc
        assistant = Assistant(settings, processor=models.processor, embedder=models.embedder,
                              classifier=models.classifier, gate=models.gate)
        try:
            return assistant.load()
        except IndexNotFoundError as exc:
            # Not cached: the next request tries again, so a tenant starts answering once its index is published.
            raise TenantNotReadyError(f"tenant {tenant!r} has no published index yet; build it with "
                                      f"`erp-assist index --tenant {tenant}`") from exc
        except ErpAssistError as exc:
            raise TenantNotReadyError(f"tenant {tenant!r} cannot serve its index: {exc}") from exc

    def loaded(self) -> dict[str, Assistant]:
        """The tenants opened so far (for metrics; opens nothing)."""
        with self._lock:
            return dict(self._assistants)


# Creating and listing tenants -------------------------------------------------------------------------


def init_tenant_dir(data_dir: Path, *, from_dir: Path | None = None, faq_columns: FaqColumns | None = None) -> Path:
    """A tenant's sources directory: a copy of ``from_dir``, or an empty ``faq.csv`` (header only), ``sops/`` and
    ``chats/``. Files already there are kept."""
    from indexer.loaders import FaqColumns  # the loaders (Excel, Word) are not needed to serve
    if from_dir is not None:
        if not from_dir.is_dir():
            raise ValueError(f"--from-dir {from_dir} is not a directory of sources (faq.csv, sops/, chats/)")
        if data_dir.is_dir() and any(data_dir.iterdir()):
            raise ValueError(f"{data_dir} already holds sources; remove it or add the files there yourself")
        shutil.copytree(from_dir, data_dir, dirs_exist_ok=True)
        return data_dir
    for sub in ("sops", "chats"):
        (data_dir / sub).mkdir(parents=True, exist_ok=True)
    faq = data_dir / "faq.csv"
    if not faq.exists():
        c = faq_columns or FaqColumns()
        faq.write_text(",".join((c.id, c.question, c.answer, c.module, c.tags, c.updated_at)) + "\n", encoding="utf-8")
    return data_dir


def add_tenant(settings: Settings, engine: Engine, *, tenant_id: str, name: str | None = None,
               from_dir: Path | None = None) -> tuple[Tenant, Settings]:
    """Register a tenant and lay out its sources directory; returns it with its settings (where things go)."""
    validate_tenant_id(tenant_id)
    try:
        get_tenant(engine, tenant_id=tenant_id)
    except NotFoundError:
        pass
    else:  # checked before touching the disk, so a second `create` leaves the first one's files alone
        raise ConflictError(f"tenant {tenant_id!r} already exists")
    from indexer.loaders import FaqColumns

    tenant_settings = settings.for_tenant(tenant_id)
    init_tenant_dir(tenant_settings.data_dir, from_dir=from_dir,
                    faq_columns=FaqColumns.from_mapping(settings.faq_columns))
    return create_tenant(engine, tenant_id=tenant_id, name=name), tenant_settings


@dataclass(frozen=True)
class PublishedBuild:
    build_id: str
    chunks: int
    built_at: str | None


def published_build(index_dir: Path) -> PublishedBuild | None:
    """The build the ``current`` pointer names, read from its manifest; None when nothing usable is published."""
    try:
        build = current_build_dir(index_dir)
        manifest = json.loads((build / MANIFEST).read_text(encoding="utf-8"))
    except (ErpAssistError, OSError, ValueError):
        return None
    return PublishedBuild(build.name, int(manifest.get("counts", {}).get("chunks", 0)), manifest.get("built_at"))


@dataclass(frozen=True)
class TenantOverview:
    summary: TenantSummary
    data_dir: Path
    build: PublishedBuild | None


def tenant_overview(settings: Settings, engine: Engine) -> list[TenantOverview]:
    """Every tenant with its store counts and its published build (``erp-assist tenants list``)."""
    overview = []
    for summary in list_tenants(engine):
        tenant_settings = settings.for_tenant(summary.tenant.id)
        overview.append(TenantOverview(summary, tenant_settings.data_dir, published_build(tenant_settings.index_dir)))
    return overview
