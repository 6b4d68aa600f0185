import json

import pytest

from eval.tuning import choose_abstain_threshold, choose_dense_weight
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


def test_abstain_threshold_is_the_highest_that_still_answers_enough():
    answerable = [0.30, 0.25, 0.22, 0.18, 0.15]
    unanswerable = [0.05, 0.08, 0.10, 0.16, 0.12]
    everything = choose_abstain_threshold(answerable, unanswerable, 1.0)
    # Every answerable one answered: the bar sits between 0.12 and 0.15, abstaining on 4 of 5
    # unanswerable ones.
    assert everything["abstain_threshold"] == pytest.approx(0.135)
    assert everything["abstain_answered"] == 1.0 and everything["abstain_recall"] == pytest.approx(0.8)
    assert "5 answerable" in everything["abstain_reason"]
    # Giving up one answerable question in five buys the last unanswerable one (0.16 < bar ≤ 0.18).
    four_fifths = choose_abstain_threshold(answerable, unanswerable, 0.8)
    assert four_fifths["abstain_threshold"] == pytest.approx(0.17)  # midway between 0.16 and 0.18
    assert four_fifths["abstain_answered"] == pytest.approx(0.8) and four_fifths["abstain_recall"] == 1.0
    assert choose_abstain_threshold(answerable, unanswerable[:4], 0.95) == {}  # too few to choose on


def test_without_a_choice_the_fallback_bar_holds():
    from erp_assist.settings import Settings
    from indexer.retrieval import FALLBACK_ABSTAIN_THRESHOLD, FusionConfig

    assert FusionConfig.from_settings(Settings(), {}).abstain_threshold == FALLBACK_ABSTAIN_THRESHOLD
    assert FusionConfig.from_settings(Settings(), {"fusion": {"abstain_threshold": 0.3}}
                                      ).abstain_threshold == 0.3
    assert FusionConfig.from_settings(Settings(abstain_threshold=0.05), {"fusion": {"abstain_threshold": 0.3}}
                                      ).abstain_threshold == 0.05


def test_a_build_chooses_its_abstention_bar_and_the_service_holds_questions_to_it(settings, embedder,
                                                                                  processor,
                                                                                  tmp_path):
    from assistant.service import Assistant
    from eval.tuning import fusion_tuner
    from indexer.retrieval import FALLBACK_ABSTAIN_THRESHOLD

    answerable = [("关账提示还有凭证没过账", "t-fin-1"), ("账号被锁了登不上", "t-sys-1"),
                  ("盘点盘亏了怎么处理", "t-inv-2"),
                  ("出库的时候说库存不够", "t-inv-1"), ("关账前凭证要全部过账吗", "t-fin-1")]
    unanswerable = ["公司年会节目报名截止到哪天", "食堂明天中午有什么菜", "停车场月卡怎么续费",
                    "下周团建去哪里",
                    "新员工的工牌在哪里领"]
    validation = _golden(tmp_path, [{"question": q, "relevant": [f"kb://faq/{f}"]} for q, f in answerable]
                         + [{"question": q, "relevant": []} for q in unanswerable])
    # The gate off: these unanswerable questions are chatter, and this test is about the abstention bar.
    settings = settings.model_copy(update={"validation_set": validation, "abstain_threshold": None,
                                           "abstain_min_answered": 1.0, "off_topic_gate": False})
    report = build_index(settings, embedder=embedder, processor=processor,
                         fusion_tuner=fusion_tuner(settings, processor, embedder))
    fusion = report.manifest["fusion"]
    bar = fusion["abstain_threshold"]
    assert 0 < bar < 1 and fusion["abstain_answered"] >= 0.95 and fusion["abstain_reason"]
    assistant = Assistant(settings).load()
    assert assistant.rank("食堂明天中午有什么菜").abstain_threshold == bar != FALLBACK_ABSTAIN_THRESHOLD
    assert assistant.suggest("食堂明天中午有什么菜").abstained == (
        assistant.rank("食堂明天中午有什么菜").best < bar)
    ranking = assistant.rank("关账提示还有凭证没过账")
    assert ranking.best >= bar and not assistant.suggest("关账提示还有凭证没过账").abstained
    # A bar in the settings wins over the build's choice.
    fixed = Assistant(settings.model_copy(update={"abstain_threshold": 0.99})).load()
    assert fixed.suggest("关账提示还有凭证没过账").abstained
