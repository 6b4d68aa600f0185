"""The module bonus is earned by modules a source (or an expert) set, never by one the build guessed."""

from __future__ import annotations

import pytest

from assistant.rebuild import rebuild_knowledge_base
from assistant.service import Assistant
from erp_assist.domain import MODULE_INFERRED
from indexer.retrieval import FusionConfig

BOOST = 0.5


@pytest.fixture
def ranked(settings, processor):  # noqa: ANN201
    settings = settings.model_copy(update={"module_boost": BOOST})
    rebuild_knowledge_base(settings)  # chat threads have no module: the classifier guesses one
    assistant = Assistant(settings, processor=processor).load()
    question = "调拨单审核报错 错误码 30005，库存这边急用"
    fused = assistant.serving.retriever.hybrid(question, settings.candidate_k,
                                               FusionConfig.from_settings(settings, assistant.index.manifest))
    return assistant.rank(question), {h.chunk.id: h.score for h in fused}


def test_a_guessed_module_earns_no_bonus(ranked):
    ranking, fused = ranked
    module = ranking.classification.module
    guessed = [h for h in ranking.hits if h.chunk.metadata.get(MODULE_INFERRED) and h.chunk.module == module]
    assert guessed, "the chat thread about 30005 should carry the guessed module"
    for hit in guessed:
        assert hit.score == pytest.approx(fused[hit.chunk.id])


def test_a_module_from_the_source_still_earns_it(ranked):
    ranking, fused = ranked
    module = ranking.classification.module
    given = [h for h in ranking.hits if not h.chunk.metadata.get(MODULE_INFERRED) and h.chunk.module == module]
    assert given
    for hit in given:
        assert hit.score == pytest.approx(fused[hit.chunk.id] + BOOST)
