"""The retrieval guarantee on every eval dataset (golden on the demo KB; AFQMC and Odoo when ../shared is there):
the default hybrid is never more than 0.01 MRR@10 below the best single retriever, and beats LangChain's
EnsembleRetriever (BM25Retriever + FAISS, same embedder, default weights) on recall@5 and MRR@10."""

import pytest

from tests.conftest import ROOT, SHARED_DATA, make_settings

SINGLE = ("bm25", "bm25-words", "bm25-chars", "dense")


@pytest.fixture(scope="module")
def report(tmp_path_factory, trained_classifier_path, embedder, processor):
    from assistant.service import Assistant
    from eval.runner import run_eval
    from indexer.build import build_index

    settings = make_settings(tmp_path_factory.mktemp("demo"), data_dir=ROOT / "data" / "demo",
                             classifier_path=trained_classifier_path, shared_data_dir=SHARED_DATA)
    build_index(settings, embedder=embedder)
    assistant = Assistant(settings).load()
    return run_eval(settings, include_public=True, public_limit=400, assistant=assistant)


@pytest.mark.parametrize("dataset", ["golden", "afqmc", "odoo"])
def test_hybrid_is_never_worse_than_the_best_single_retriever_and_beats_langchain(report, dataset):
    if dataset not in report.datasets:
        pytest.skip(f"{dataset}: {SHARED_DATA} is absent (public data ships with the dev workspace)")
    systems = report.datasets[dataset].systems
    best_single = max(systems[name]["mrr@10"] for name in SINGLE)
    hybrid, peer = systems["hybrid"], systems["langchain-ensemble"]
    assert hybrid["mrr@10"] >= best_single - 0.01, systems
    assert hybrid["recall@5"] > peer["recall@5"], systems
    assert hybrid["mrr@10"] > peer["mrr@10"], systems


def test_golden_set_quality_floor(report):
    """Not a target, a tripwire: the demo golden set must stay well answered."""
    golden = report.datasets["golden"]
    assert golden.systems["hybrid"]["recall@5"] >= 0.9
    assert golden.classification["p1_recall"] >= 0.9
