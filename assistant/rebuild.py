"""The full knowledge-base rebuild of one tenant: its sources plus what its reviews taught, chat threads tagged by
the classifier, the dense weight and the abstention chosen on the validation set, abstention also learned from
the tenant's reviewed questions, experts' hygiene resolutions applied (merges, retired sources, edited answers)
and the hygiene report written beside the build. One function for the CLI, cron and the admin API."""

from __future__ import annotations

from typing import TYPE_CHECKING

from erp_assist.settings import Settings
from indexer.build import BuildReport, ProgressCallback, build_index

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from assistant.tenants import SharedModels

__all__ = ["rebuild_knowledge_base"]


def rebuild_knowledge_base(settings: Settings, *, models: SharedModels | None = None, store: Engine | None = None,
                           progress: ProgressCallback | None = None, publish: bool = True) -> BuildReport:
    """Build (and by default publish) a new index of ``settings.tenant`` — pass ``settings.for_tenant(id)`` — from
    its sources and the learned FAQ of its reviews; its reviewed questions (accepted: answerable, rejected:
    not) train the abstention model beside the validation set. Already loaded ``models`` are lent instead of
    reloading."""
    from assistant.kb_hygiene import hygiene_inputs
    from assistant.service import module_tagger
    from assistant.store import learned_documents, open_store, review_outcomes
    from assistant.tenants import SharedModels
    from eval.tuning import fusion_tuner, review_samples
    from indexer.text import TextProcessor
    from indexer.vocab import vocabulary_for_settings

    models = models or SharedModels.load(settings)
    engine = store or open_store(settings.database_url)
    try:
        learned = learned_documents(engine, tenant=settings.tenant)
        reviewed = review_samples(review_outcomes(engine, tenant=settings.tenant))
        hygiene = hygiene_inputs(engine, settings.tenant)
    finally:
        if store is None:
            engine.dispose()
    processor = models.processor
    vocabulary = vocabulary_for_settings(settings)  # the tenant's own vocab.yaml may choose other packs
    if (vocabulary.fingerprint if vocabulary is not None else None) != processor.vocabulary_fingerprint:
        processor = TextProcessor.from_settings(settings, vocabulary)
    return build_index(
        settings,
        embedder=models.embedder,
        processor=processor,
        progress=progress,
        module_tagger=module_tagger(models.classifier),
        learned=learned,
        hygiene=hygiene,
        fusion_tuner=fusion_tuner(settings, processor, models.embedder, classifier=models.classifier,
                                  reviews=reviewed),
        publish=publish,
    )
