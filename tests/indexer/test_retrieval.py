"""The same retrieval behaviour through every search backend (FAISS + bm25s, Milvus Lite)."""

from indexer.retrieval import FusionConfig, Retriever


def _retriever(search_index, processor, embedder):
    return Retriever(search_index, processor, embedder)


def test_paraphrase_finds_the_right_faq(search_index, processor, embedder):
    retriever = _retriever(search_index, processor, embedder)
    hits = retriever.hybrid("月底结账的时候系统说还有凭正没过帐，咋整", 5, FusionConfig())
    assert hits[0].chunk.uri == "kb://faq/t-fin-1"
    assert 0 < hits[0].score <= 1


def test_exact_code_finds_the_chat_thread(search_index, processor, embedder):
    retriever = _retriever(search_index, processor, embedder)
    hits = retriever.lexical("30005", 3)
    assert hits[0].chunk.uri == "kb://chat/test-group/tg-2"


def test_dense_search_returns_cosines(search_index, processor, embedder):
    retriever = _retriever(search_index, processor, embedder)
    hits = retriever.dense("account locked after wrong password 登录 锁定", 3)
    assert len(hits) == 3
    assert all(-1.0 <= h.score <= 1.0 for h in hits)
    assert hits[0].score >= hits[-1].score


def test_rrf_and_weighted_fusion_both_rank_the_answer_first(search_index, processor, embedder):
    retriever = _retriever(search_index, processor, embedder)
    question = "客户额度不够 销售单审不过去"
    for config in (FusionConfig(method="rrf", dense_weight=0.3), FusionConfig(method="weighted", dense_weight=0.3)):
        hits = retriever.hybrid(question, 5, config)
        assert hits[0].chunk.uri == "kb://faq/t-sal-1", config


def test_off_topic_question_scores_low(search_index, processor, embedder):
    retriever = _retriever(search_index, processor, embedder)
    hits = retriever.hybrid("公司年会节目报名截止到哪天", 5, FusionConfig())
    assert not hits or hits[0].score < 0.2
