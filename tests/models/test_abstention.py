"""The learned abstention model on hand-worked toy cases: signals, fitting, thresholds, save/load."""

import math

import numpy as np
import pytest

from erp_assist.domain import Chunk, Hit, SourceType
from models.abstention import (
    AbstentionModel,
    AbstentionSignals,
    SignalExtractor,
    choose_probability_threshold,
    compute_signals,
    fit_abstention,
    out_of_fold_probabilities,
)


def _chunk(source_id: str, module: str | None, anchor: str = "") -> Chunk:
    return Chunk(f"id-{source_id}{anchor}", SourceType.FAQ, source_id, source_id, "", anchor=anchor,
                 module=module)


IDF = {"凭证": 3.0, "过账": 2.0, "月结": 1.0}  # "年会" is unseen: it weighs like the rarest known token
TOKENS = {"id-a": {"凭证", "过账"}, "id-a#2": {"凭证"}, "id-b": {"月结"}, "id-c": {"过账"}}


def _signals(hits, module_scores=None, tokens=("凭证", "过账", "月结", "年会", "凭证"), dense=False):
    return compute_signals(list(tokens), hits, idf=lambda t: IDF.get(t, 3.0), known=IDF.__contains__,
                           chunk_tokens=lambda c: TOKENS[c.id], module_scores=module_scores, dense=dense)


def test_signals_of_a_toy_ranking_worked_by_hand():
    hits = [Hit(_chunk("a", "finance"), 0.6, dense=0.3), Hit(_chunk("a", "finance", "#2"), 0.5),
            Hit(_chunk("b", "inventory"), 0.2), Hit(_chunk("c", None), 0.1)]
    s = _signals(hits, {"finance": 0.7, "inventory": 0.3})
    # Distinct tokens 凭证 3 + 过账 2 + 月结 1 + 年会 3 (unseen) = 9; the top hit holds 凭证 and 过账.
    assert s.best == 0.6
    assert s.margin == pytest.approx(0.4)  # the second hit is the same FAQ: the margin is to source b
    assert s.coverage == pytest.approx(5 / 9)
    assert s.unseen == pytest.approx(3 / 9)
    assert s.module_agreement == 0.7  # the classifier's probability of the top hit's module
    # Hits with a module vote by score: finance 0.6 + 0.5 of 1.3.
    assert s.module_vote == pytest.approx(1.1 / 1.3)
    assert s.dense is None
    assert _signals(hits, dense=True).dense == 0.3


def test_signals_without_hits_tokens_or_classifier():
    empty = _signals([], {"finance": 1.0})
    assert (empty.best, empty.margin, empty.coverage) == (0, 0, 0)
    assert (empty.module_agreement, empty.module_vote) == (0, 0)
    nothing = _signals([Hit(_chunk("b", "inventory"), 0.3)], tokens=())
    assert (nothing.coverage, nothing.unseen, nothing.margin) == (0.0, 1.0, 0.3)
    assert nothing.module_agreement is None and nothing.module_vote is None
    with pytest.raises(ValueError, match="module_vote"):
        nothing.vector(["best", "module_vote"])
    assert nothing.vector(["best", "unseen"]) == [0.3, 1.0]


def test_extractor_tokenizes_each_chunk_once():
    calls = []

    class Stats:
        def __init__(self):
            self.doc_freq = {"凭证": 2}

        @staticmethod
        def idf(token):
            return 1.0

    def chunk_tokens(chunk):
        calls.append(chunk.id)
        return ["凭证"]

    extractor = SignalExtractor(Stats(), lambda q: list(q), chunk_tokens)
    hits = [Hit(_chunk("a", None), 0.5)]
    first = extractor("凭证", hits)
    second = extractor("凭证", hits)
    assert first == second and calls == ["id-a"]
    # 凭 and 证 as tokens here: neither is in the corpus, neither is in the top hit.
    assert first.unseen == 1.0 and first.coverage == 0.0


def test_threshold_is_the_lowest_that_still_answers_enough():
    answerable = [0.1, 0.2, 0.3, 0.4, 0.5]
    unanswerable = [0.35, 0.6, 0.9]
    # Answer all five: the bar sits above 0.5, midway to the next probability (0.6).
    assert choose_probability_threshold([answerable], 1.0, unanswerable) == pytest.approx(0.55)
    # Four of five: above 0.4, midway to 0.5.
    assert choose_probability_threshold([answerable], 0.8, unanswerable) == pytest.approx(0.45)
    # Each group must be answered that often: a second group of easy questions does not lower the bar.
    easy = [0.01] * 20
    assert choose_probability_threshold([answerable, easy], 0.8, unanswerable) == pytest.approx(0.45)
    assert choose_probability_threshold([answerable + easy], 0.8, unanswerable) < 0.3  # pooled, it would
    # Nothing qualifies below the highest probability: nothing abstains.
    assert choose_probability_threshold([[0.7]], 1.0) > 0.7
    with pytest.raises(ValueError):
        choose_probability_threshold([[]], 0.9)
    with pytest.raises(ValueError):
        choose_probability_threshold([answerable], 0.0)


def _toy():
    rng = np.random.default_rng(0)
    answerable = np.column_stack([rng.uniform(0.3, 0.8, 40), rng.uniform(0.0, 0.3, 40)])
    unanswerable = np.column_stack([rng.uniform(0.0, 0.35, 40), rng.uniform(0.2, 0.7, 40)])
    return np.vstack([answerable, unanswerable]), np.array([0] * 40 + [1] * 40)


def test_fitted_model_separates_toy_questions_and_is_a_plain_logistic_regression():
    x, y = _toy()
    model = fit_abstention(x, y, ["best", "unseen"])
    p = model.probabilities(x)
    assert ((p >= 0.5) == y.astype(bool)).mean() > 0.9
    assert model.coef[0] < 0 < model.coef[1]  # a high best score answers, a lot unseen abstains
    z = (x[0] - np.array(model.mean)) / np.array(model.scale)
    assert p[0] == pytest.approx(1 / (1 + math.exp(-(z @ np.array(model.coef) + model.intercept))))
    signals = AbstentionSignals(best=float(x[0, 0]), margin=0.0, coverage=0.0, unseen=float(x[0, 1]))
    assert model.probability(signals) == pytest.approx(p[0])
    assert model.abstains(signals) == (p[0] >= model.threshold)


def test_out_of_fold_probabilities_come_from_models_that_did_not_see_the_row():
    x, y = _toy()
    oof = out_of_fold_probabilities(x, y, ["best", "unseen"])
    assert oof.shape == (80,) and ((oof >= 0.5) == y.astype(bool)).mean() > 0.85
    # A mislabelled copy of an answerable point keeps its fold mates' verdict: nothing fitted it.
    x2, y2 = np.vstack([x, [[0.75, 0.05]]]), np.append(y, 1)
    assert out_of_fold_probabilities(x2, y2, ["best", "unseen"])[-1] < 0.2
    with pytest.raises(ValueError, match="each kind"):
        out_of_fold_probabilities(x[:41], y[:41], ["best", "unseen"])
    with pytest.raises(ValueError, match="one kind"):
        fit_abstention(x[:40], y[:40], ["best", "unseen"])


def test_a_constant_signal_gets_no_weight_instead_of_dividing_by_zero():
    x, y = _toy()
    x = np.column_stack([x, np.full(len(x), 0.5)])
    model = fit_abstention(x, y, ["best", "unseen", "dense"])
    assert model.scale[2] == 1.0 and abs(model.coef[2]) < 1e-9


def test_save_and_load_round_trip(tmp_path):
    x, y = _toy()
    model = fit_abstention(x, y, ["best", "unseen"])
    from dataclasses import replace

    model = replace(model, threshold=0.42, validation={"cv": {"learned": {"auc": 0.9}}})
    model.save(tmp_path / "abstention.json")
    again = AbstentionModel.load(tmp_path / "abstention.json")
    assert again == model
    assert np.allclose(again.probabilities(x), model.probabilities(x))


def test_a_malformed_model_is_refused_with_the_fix():
    good = AbstentionModel(("best",), (0.2,), (0.1,), (-1.0,), 0.0, 0.5).to_dict()
    with pytest.raises(ValueError, match="rebuild"):
        AbstentionModel.from_dict({**good, "format_version": 99})
    with pytest.raises(ValueError, match="1 features but 2 means"):
        AbstentionModel.from_dict({**good, "mean": [0.1, 0.2]})
    with pytest.raises(ValueError, match="non-finite"):
        AbstentionModel.from_dict({**good, "intercept": float("nan")})
    with pytest.raises(ValueError, match="missing"):
        AbstentionModel.from_dict({k: v for k, v in good.items() if k != "coef"})
