import json

from eval.tuning import choose_dense_weight
from indexer.build import build_index


def _golden(tmp_path, rows):
    path = tmp_path / "validation.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def test_build_records_dense_weight_chosen_on_validation_set(settings, embedder, processor, tmp_path):
    from eval.tuning import fusion_tuner

    validation = _golden(tmp_path, [
        {"question": "关账提示还有凭证没过账", "relevant": ["kb://faq/t-fin-1"]},
        {"question": "账号被锁了登不上", "relevant": ["kb://faq/t-sys-1"]},
        {"question": "盘点盘亏了怎么处理", "relevant": ["kb://faq/t-inv-2"]},
    ])
    settings = settings.model_copy(update={"validation_set": validation})
    report = build_index(settings, embedder=embedder, processor=processor,
                         fusion_tuner=fusion_tuner(settings, processor, embedder))
    fusion = report.manifest["fusion"]
    assert set(fusion["mrr@10_by_weight"]) >= {"0", "0.1", "0.5"}
    assert fusion["dense_weight"] in {float(w) for w in fusion["mrr@10_by_weight"]}
    assert fusion["reason"]
    # Lexical retrieval already answers these perfectly, so dense cannot earn a weight.
    assert fusion["mrr@10_by_weight"]["0"] == 1.0 and fusion["dense_weight"] == 0.0


def test_dense_earns_a_weight_when_it_finds_what_bm25_cannot(settings, embedder, processor, tmp_path):
    """MiniLM reads English: an English paraphrase with no shared word is found only by the dense side."""
    from erp_assist.domain import Document, SourceType
    from eval.systems import in_memory_index
    from indexer.chunking import chunk_documents
    from indexer.loaders import load_sources
    from tests.conftest import TINY_KB

    documents = load_sources(TINY_KB).documents + [
        Document(SourceType.FAQ, "en-1", "How can I change my login password?", "Open Profile, then Security, then Change."),
    ]
    index = in_memory_index(chunk_documents(documents), embedder, processor, settings)
    validation = _golden(tmp_path, [
        {"question": "steps for modifying the sign-in passphrase", "relevant": ["kb://faq/en-1"]},
        {"question": "关账提示还有凭证没过账", "relevant": ["kb://faq/t-fin-1"]},
    ])
    fusion = choose_dense_weight(index, processor, embedder, settings, validation)
    by_weight = fusion["mrr@10_by_weight"]
    assert by_weight["0"] == 0.5  # BM25 answers the Chinese question only
    assert fusion["dense_weight"] > 0
    assert by_weight[f"{fusion['dense_weight']:g}"] > by_weight["0"]
