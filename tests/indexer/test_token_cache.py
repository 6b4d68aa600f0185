"""A rebuild tokenizes only the chunks that changed; what it builds is the same as tokenizing everything."""

from __future__ import annotations

import numpy as np

from indexer.build import build_index
from indexer.index import load_index


def test_a_rebuild_reuses_the_tokens_of_unchanged_chunks(settings, kb_copy, processor, tmp_path):
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    first = build_index(settings, processor=processor)
    assert first.reused_tokens == 0
    faq = kb_copy / "faq.csv"
    faq.write_text(faq.read_text(encoding="utf-8") + "t-new-1,成本中心怎么停用？,在【成本中心】里把状态改为停用。,finance,,"
                   "2024-12-02\n", encoding="utf-8")
    second = build_index(settings, processor=processor)
    chunks = second.manifest["counts"]["chunks"]
    assert second.reused_tokens == first.manifest["counts"]["chunks"] == chunks - 1

    # The same BM25 as a build that tokenized everything from scratch.
    cold = build_index(settings.model_copy(update={"index_dir": tmp_path / "cold", "cache_dir": tmp_path / "c2"}),
                       processor=processor)
    assert cold.reused_tokens == 0
    warm_index, cold_index = load_index(second.path), load_index(cold.path)
    assert [c.id for c in warm_index.chunks] == [c.id for c in cold_index.chunks]
    for question in ("成本中心停用", "月结时提示凭证未过账", "错误码 30005 调拨单"):
        tokens = processor.tokenize(question)
        warm, cold = (index.backend.lexical.scores(tokens)[0] for index in (warm_index, cold_index))
        np.testing.assert_allclose(warm, cold, rtol=1e-6)


def test_another_tokenizer_does_not_reuse_the_cache(settings, kb_copy, processor):
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    build_index(settings, processor=processor)
    titles_twice = build_index(settings.model_copy(update={"title_weight": 2}), processor=processor)
    assert titles_twice.reused_tokens == 0


def test_an_unreadable_cache_means_tokenizing_again(settings, kb_copy, processor):
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    build_index(settings, processor=processor)
    for cache in (settings.cache_dir / "tokens").glob("*.jsonl"):
        cache.write_text("{not json\n", encoding="utf-8")
    again = build_index(settings, processor=processor)
    assert again.reused_tokens == 0 and again.manifest["counts"]["chunks"] > 0

