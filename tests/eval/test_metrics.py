import math

import pytest

from eval.metrics import abstention_metrics, classification_metrics, percentiles, retrieval_metrics


def test_retrieval_metrics_on_hand_worked_case():
    runs = [
        (["a", "b", "c"], {"a"}),  # first at rank 1
        (["x", "y", "b"], {"b", "z"}),  # one of two relevant, at rank 3
        (["q"], set()),  # unanswerable: excluded
    ]
    m = retrieval_metrics(runs)
    assert m["recall@1"] == pytest.approx((1 + 0) / 2)
    assert m["recall@3"] == pytest.approx((1 + 0.5) / 2)
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3) / 2)
    ideal_two = 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx((1 + (1 / math.log2(4)) / ideal_two) / 2)


def test_classification_metrics():
    m = classification_metrics(["a", "a", "b", "b"], ["a", "b", "b", "b"], "module")
    assert m["module_accuracy"] == 0.75
    # F1(a) = 2*1*0.5/(1.5) = 2/3; F1(b) = 2*(2/3)*1/(5/3) = 0.8
    assert m["module_macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_abstention_and_percentiles():
    m = abstention_metrics([True, True, False, False], [True, False, True, False])
    assert m == {"abstain_precision": 0.5, "abstain_recall": 0.5}
    p = percentiles([1.0] * 99 + [100.0])
    assert p["p50_ms"] == 1.0 and p["p99_ms"] > 1.0
