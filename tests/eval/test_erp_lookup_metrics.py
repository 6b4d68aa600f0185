"""eval.erp_lookup.score_lookups on a hand-worked toy case."""

from eval.erp_lookup import LookupCase, LookupResult, load_cases, score_lookups
from tests.conftest import ROOT


def test_scores_on_a_hand_worked_case():
    cases = [LookupCase("1", "A-1002 还有多少", True, "stock", "A-1002", "found", ("37",)),
             LookupCase("2", "PO-1 到哪了", True, "document", "PO-1", "found", ("待审批",)),
             LookupCase("3", "X-1 有货吗", True, "stock", "X-1", "not_found"),
             LookupCase("4", "怎么审批", False), LookupCase("5", "如何盘点", False)]
    results = [LookupResult("stock", "found", "主仓 可用 37 个", 10.0),
               LookupResult("document", "found", "已确认", 20.0),  # fired, but the fact is wrong
               LookupResult(None, None, None, None),  # missed
               LookupResult("stock", "not_found", "…", 30.0),  # a how-to that fired
               LookupResult(None, None, None, None)]
    scores = score_lookups(cases, results)
    # fired 3, of which 2 wanted; 3 wanted, 2 fired
    assert scores["intent_precision"] == 2 / 3 and scores["intent_recall"] == 2 / 3
    assert scores["answer_correct"] == 1 / 3 and scores["how_to_triggered"] == 1
    assert scores["latency_p50_ms"] == 20.0 and scores["primary_metric"] == "answer_correct"


def test_the_question_set_is_large_enough():
    cases = load_cases(ROOT / "eval" / "data" / "erp_lookup.jsonl")
    assert sum(c.lookup for c in cases) >= 60 and sum(not c.lookup for c in cases) >= 60
    assert all(c.kind and c.outcome for c in cases if c.lookup)
    assert len({c.id for c in cases}) == len(cases)
