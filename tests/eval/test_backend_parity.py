"""Backend parity on the golden set: the served ranking (Assistant.rank) over the demo knowledge base gives the
same recall@5 and MRR@10 (±0.01) whether the index lives in FAISS + bm25s files or in Milvus Lite."""

import pytest

from tests.conftest import ROOT, make_settings


def _served_metrics(settings, embedder):
    from assistant.service import Assistant
    from eval.dataset import load_dataset
    from eval.metrics import retrieval_metrics
    from eval.runner import DEFAULT_DATASET
    from eval.systems import ranked_sources
    from indexer.build import build_index

    build_index(settings, embedder=embedder)
    assistant = Assistant(settings).load()
    questions = [q for q in load_dataset(DEFAULT_DATASET).questions if q.answerable]
    runs = [(ranked_sources(assistant.rank(q.question).hits), set(q.relevant)) for q in questions]
    return retrieval_metrics(runs), assistant.index.manifest["vector_store"]["kind"]


@pytest.mark.parametrize("k", ["recall@5", "mrr@10"])
def test_faiss_and_milvus_rank_the_golden_set_alike(k, parity):
    (faiss, faiss_kind), (milvus, milvus_kind) = parity
    assert (faiss_kind, milvus_kind) == ("faiss", "milvus")
    assert faiss[k] >= 0.85, faiss
    assert abs(faiss[k] - milvus[k]) <= 0.01, (faiss, milvus)


@pytest.fixture(scope="module")
def parity(tmp_path_factory, trained_classifier_path, embedder):
    tmp = tmp_path_factory.mktemp("parity")
    common = {"data_dir": ROOT / "data" / "demo", "classifier_path": trained_classifier_path}
    faiss = make_settings(tmp / "faiss", **common)
    milvus = make_settings(tmp / "milvus", **common, vector_store="milvus", milvus_uri=str(tmp / "milvus.db"))
    return _served_metrics(faiss, embedder), _served_metrics(milvus, embedder)
