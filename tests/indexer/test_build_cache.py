"""A rebuild reads, chunks and tokenizes only what changed and reuses the hygiene check's pairs while no Q&A
entry changed; what it builds is the same as building everything from scratch."""

from __future__ import annotations

import json
import marshal
import random

import bm25s
import numpy as np

from indexer.build import HYGIENE, build_index
from indexer.index import CHUNKS, load_index
from indexer.lexical import LexicalIndex, TermMatrix

SECOND_SOP = """---
id: sop-test-month-end
title: 月末结账检查清单
module: finance
---
# 月末结账检查清单

## 结账前
确认本期所有凭证已审核并过账，应收应付已与总账对平。

## 结账
在【总账】→【期末处理】→【结账】执行结账；提示存在未过账凭证时先过账再结账。
"""


def _cold(settings, tmp_path, processor, name):  # noqa: ANN001, ANN202
    return build_index(settings.model_copy(update={"index_dir": tmp_path / name / "index",
                                                   "cache_dir": tmp_path / name / "cache"}), processor=processor)


QUESTIONS = ("成本中心停用", "月结时提示凭证未过账", "错误码 30005 调拨单", "收料通知单怎么下推", "逾期需蓝鲸项目组审批")


def _same_build(warm, cold, processor) -> None:  # noqa: ANN001
    """Same chunks, same hygiene findings, same vocabulary and document frequencies, same BM25 scores (raw and
    bounded: a term no chunk has any more must be unknown, as it is to a cold build)."""
    assert (warm.path / CHUNKS).read_text(encoding="utf-8") == (cold.path / CHUNKS).read_text(encoding="utf-8")
    warm_hygiene, cold_hygiene = (json.loads((b.path / HYGIENE).read_text(encoding="utf-8")) for b in (warm, cold))
    assert warm_hygiene == cold_hygiene
    warm_index, cold_index = load_index(warm.path), load_index(cold.path)
    assert warm_index.backend.lexical.doc_freq == cold_index.backend.lexical.doc_freq
    for question in QUESTIONS:
        tokens = processor.tokenize(question)
        for warm_scores, cold_scores in zip(*(i.backend.lexical.scores(tokens) for i in (warm_index, cold_index))):
            np.testing.assert_allclose(warm_scores, cold_scores, rtol=1e-6)


def test_a_rebuild_reuses_the_tokens_of_unchanged_chunks(settings, kb_copy, processor, tmp_path):
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    first = build_index(settings, processor=processor)
    assert first.reused_tokens == 0 and not first.cache_hits.get("hygiene_pairs")
    faq = kb_copy / "faq.csv"
    faq.write_text(faq.read_text(encoding="utf-8") + "t-new-1,成本中心怎么停用？,在【成本中心】里把状态改为停用。,finance,,"
                   "2024-12-02\n", encoding="utf-8")
    second = build_index(settings, processor=processor)
    chunks = second.manifest["counts"]["chunks"]
    assert second.reused_tokens == first.manifest["counts"]["chunks"] == chunks - 1
    # A new Q&A entry may duplicate an old one: the pairs are scored again.
    assert not second.cache_hits.get("hygiene_pairs")

    cold = _cold(settings, tmp_path, processor, "cold")
    assert cold.reused_tokens == 0
    _same_build(second, cold, processor)


def test_an_sop_edit_reads_and_chunks_only_that_page_and_keeps_the_hygiene_pairs(settings, kb_copy, processor,
                                                                                 tmp_path):
    (kb_copy / "sops" / "sop-test-month-end.md").write_text(SECOND_SOP, encoding="utf-8")
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    first = build_index(settings, processor=processor)
    assert not first.cache_hits.get("files")
    sop = kb_copy / "sops" / "sop-test-receipt.md"
    sop.write_text(sop.read_text(encoding="utf-8") + "\n## 补充说明\n到货后 24 小时内必须完成收货过账，逾期需采购经理审批。\n",
                   encoding="utf-8")
    second = build_index(settings, processor=processor)
    assert second.cache_hits["files"] == 1  # the month-end page; the edited one was read again
    assert second.cache_hits["hygiene_pairs"] == 1  # no FAQ entry or chat thread changed
    # Every FAQ entry and chat thread and the untouched page were chunked before; the edited page was not.
    documents = sum(second.manifest["counts"]["by_source"].get(kind, 0) for kind in ("faq", "chat")) + 1
    assert second.cache_hits["documents"] == documents
    assert second.reused_tokens < second.manifest["counts"]["chunks"]
    assert "24 小时内" in (second.path / CHUNKS).read_text(encoding="utf-8")
    _same_build(second, _cold(settings, tmp_path, processor, "cold"), processor)


def test_a_removed_section_takes_its_terms_out_of_the_rebuild(settings, kb_copy, processor, tmp_path):
    """The rebuild starts from the last build's term matrix; terms only the removed text had leave it."""
    sop = kb_copy / "sops" / "sop-test-month-end.md"
    sop.write_text(SECOND_SOP + "\n## 逾期处理\n逾期未结账需蓝鲸项目组审批并在凭证摘要注明原因。\n", encoding="utf-8")
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    first = build_index(settings, processor=processor)
    assert "蓝鲸" in load_index(first.path).backend.lexical.doc_freq
    sop.write_text(SECOND_SOP, encoding="utf-8")
    second = build_index(settings, processor=processor)
    assert second.reused_tokens == second.manifest["counts"]["chunks"]  # every chunk left was counted before
    assert "蓝鲸" not in load_index(second.path).backend.lexical.doc_freq
    _same_build(second, _cold(settings, tmp_path, processor, "cold"), processor)


def test_another_tokenizer_does_not_reuse_the_cache(settings, kb_copy, processor):
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    build_index(settings, processor=processor)
    titles_twice = build_index(settings.model_copy(update={"title_weight": 2}), processor=processor)
    assert titles_twice.reused_tokens == 0


def test_an_unreadable_cache_means_computing_again(settings, kb_copy, processor, tmp_path):
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    build_index(settings, processor=processor)
    caches = list((settings.cache_dir / "tokens").glob("*.cache"))
    assert caches
    for corrupt in (b"{not marshal", caches[0].read_bytes()[:100]):
        for cache in caches:
            cache.write_bytes(corrupt)
        again = build_index(settings, processor=processor)
        assert again.reused_tokens == 0 and not any(again.cache_hits.values())
        _same_build(again, _cold(settings, tmp_path, processor, f"cold-{len(corrupt)}"), processor)


def test_term_counts_that_do_not_fit_together_mean_tokenizing_again(settings, kb_copy, processor, tmp_path):
    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    build_index(settings, processor=processor)
    (cache,) = (settings.cache_dir / "tokens").glob("*.cache")
    written = marshal.loads(cache.read_bytes())
    broken = [{"rows": written["matrix"]["rows"][:-8]},  # two entries short of what the starts say
              {"starts": b""}, {"terms": written["matrix"]["terms"][:1] * len(written["matrix"]["terms"])},
              {"keys": None}]
    for i, change in enumerate(broken):
        cache.write_bytes(marshal.dumps({**written, "matrix": {**written["matrix"], **change}}))
        again = build_index(settings, processor=processor)
        assert again.reused_tokens == 0, change
        assert again.cache_hits["hygiene_pairs"] == 1  # the rest of the cache still counts
        _same_build(again, _cold(settings, tmp_path, processor, f"cold-{i}"), processor)


def test_term_matrix_rows_taken_from_the_last_build_equal_counting_again():
    """What a rebuild does to the last build's matrix (rows renumbered or dropped, new documents added) gives the
    counts and the BM25 scores of counting the new corpus from scratch."""
    rng = random.Random(3)
    words = [f"词{i}" for i in range(40)]

    def document() -> dict[str, int]:
        return {w: rng.randint(1, 3) for w in rng.sample(words + [f"新{i}" for i in range(5)], rng.randint(0, 6))}

    old = [document() for _ in range(30)]
    kept = rng.sample(range(30), 20)  # ten dropped, the rest shuffled
    new_count = 5
    places = rng.sample(range(len(kept) + new_count), len(kept) + new_count)
    new_rows = np.full(30, -1, dtype=np.int32)
    new_rows[kept] = places[:len(kept)]
    added = {place: document() for place in places[len(kept):]}
    corpus: list[dict[str, int]] = [{}] * (len(kept) + new_count)
    for row, place in zip(kept, places):
        corpus[place] = old[row]
    for place, counts in added.items():
        corpus[place] = counts

    matrix = (TermMatrix.from_counts(old).renumbered(new_rows, len(corpus))
              .with_documents(list(added.values()), list(added)).without_unused_terms())
    assert matrix.document_counts(range(len(corpus))) == corpus
    assert set(matrix.terms) == {t for counts in corpus for t in counts}  # no term without a document
    query = ["词1", "词2", "新3"]
    np.testing.assert_allclose(LexicalIndex().fit_matrix(matrix).scores(query)[0],
                               LexicalIndex().fit_counts(corpus).scores(query)[0], rtol=1e-6)


def test_bm25_from_term_counts_scores_as_bm25s_itself(processor):
    """The build fits BM25 from cached term counts with numpy; bm25s's own index over the same tokens is the
    reference (Lucene idf and length normalisation, an empty document included)."""
    rng = random.Random(7)
    sentences = ["月结时提示存在未过账凭证", "采购订单审批后还能修改数量吗", "供应商银行账号怎么变更", "调拨单报错 30005",
                 "成本中心停用", "MIGO 收货 101 移动类型", "应收账款对账单导出", "生产订单无法下达"]
    corpus = [[t for _ in range(rng.randint(1, 4)) for t in processor.tokenize(rng.choice(sentences))]
              for _ in range(60)] + [[]]
    ours = LexicalIndex().fit(corpus)
    reference = bm25s.BM25(method="lucene", k1=1.2, b=0.75)
    reference.index([tokens or ["\x00"] for tokens in corpus], show_progress=False)
    for sentence in sentences:
        query = list(dict.fromkeys(processor.tokenize(sentence)))
        np.testing.assert_allclose(ours.scores(query)[0], reference.get_scores(query), rtol=1e-6)


def test_lexical_stats_load_with_and_without_saved_document_frequencies(processor, tmp_path):
    corpus = [processor.tokenize(t) for t in ("采购订单审批", "凭证过账", "采购退货", "")]
    fitted = LexicalIndex().fit(corpus)
    fitted.save(tmp_path / "new")
    assert "doc_freq" not in json.loads((tmp_path / "new" / "lexical.json").read_text(encoding="utf-8"))
    loaded = LexicalIndex.load(tmp_path / "new")
    assert loaded.doc_freq == fitted.doc_freq
    assert loaded.bound(processor.tokenize("采购订单")) == fitted.bound(processor.tokenize("采购订单"))
    # Builds written before kept the frequencies in lexical.json; they load as they are.
    (tmp_path / "new" / "lexical.json").write_text(json.dumps(
        {"k1": 1.2, "b": 0.75, "n_docs": 4, "doc_freq": {"采购": 2}}), encoding="utf-8")
    assert LexicalIndex.load(tmp_path / "new").doc_freq == {"采购": 2}


def test_a_rebuild_reuses_the_module_labels_the_classifier_gave_chat_threads(settings, kb_copy, processor, tmp_path):
    """Labelling chat threads that have no module runs the classifier on each (~1 ms a thread): a rebuild asks it
    only about threads it has not labelled, until the classifier changes."""
    import copy

    from assistant.service import load_or_train_classifier, module_tagger

    settings = settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"})
    classifier = load_or_train_classifier(settings)
    first = build_index(settings, processor=processor, module_tagger=module_tagger(classifier))
    inferred = sum("module_inferred" in c.metadata for c in load_index(first.path).chunks)
    assert inferred > 0 and not first.cache_hits.get("module_tags")
    second = build_index(settings, processor=processor, module_tagger=module_tagger(classifier))
    assert second.cache_hits["module_tags"] == inferred
    assert (second.path / CHUNKS).read_bytes() == (first.path / CHUNKS).read_bytes()
    retrained = copy.copy(classifier)
    retrained.trained_at = "2026-12-07T02:00:00+00:00"  # another training: another identity
    third = build_index(settings, processor=processor, module_tagger=module_tagger(retrained))
    assert not third.cache_hits.get("module_tags")
    assert (third.path / CHUNKS).read_bytes() == (first.path / CHUNKS).read_bytes()
