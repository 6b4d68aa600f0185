"""The full knowledge-base rebuild: sources plus what reviews taught, chat threads tagged by the classifier,
the dense weight chosen on the validation set. One function for the CLI, cron and the admin API."""

from __future__ import annotations

from erp_assist.settings import Settings
from indexer.build import BuildReport, ProgressCallback, build_index

__all__ = ["rebuild_knowledge_base"]


def rebuild_knowledge_base(settings: Settings, *, assistant=None, progress: ProgressCallback | None = None,  # noqa: ANN001
                           publish: bool = True) -> BuildReport:
    """Build (and by default publish) a new index; a loaded ``assistant`` lends its models instead of reloading."""
    from assistant.service import load_or_train_classifier, module_tagger
    from assistant.store import learned_documents, open_store
    from eval.tuning import fusion_tuner
    from indexer.embedding import Embedder
    from indexer.text import TextProcessor

    if assistant is not None:
        embedder, processor, classifier = assistant.embedder, assistant.processor, assistant.classifier
    else:
        embedder = Embedder(settings.embedder, settings.device, settings.embed_batch_size).load()
        processor = TextProcessor.from_settings(settings)
        classifier = load_or_train_classifier(settings)
    return build_index(
        settings,
        embedder=embedder,
        processor=processor,
        progress=progress,
        module_tagger=module_tagger(classifier),
        learned=learned_documents(open_store(settings.database_url)),
        fusion_tuner=fusion_tuner(settings, processor, embedder),
        publish=publish,
    )
