"""Learned abstention at build time: trained on the validation set and reviews, compared with the bar by
cross-validation, kept beside the build, used by the service; the bar when there is too little to learn."""

import json

import numpy as np
import pytest

from eval.tuning import (
    MIN_LEARNED_PER_SIDE,
    AbstentionSample,
    choose_abstention,
    compare_abstention,
    fusion_tuner,
    review_samples,
)
from indexer.build import build_index
from models.abstention import ABSTENTION_FILE, AbstentionModel, AbstentionSignals

# Tiny-KB questions (tests/data/kb): paraphrases of its FAQ entries, and questions it has nothing on.
ANSWERABLE = [
    ("关账提示还有凭证没过账", "t-fin-1"), ("月结的时候说有凭证没过账", "t-fin-1"), ("过账了的凭证想冲销怎么弄", "t-fin-2"),
    ("凭证过账错了能冲销吗", "t-fin-2"), ("采购订单审完了还能改数量吗", "t-pur-1"), ("审批过的采购订单数量要改小", "t-pur-1"),
    ("供应商换了银行账号怎么改", "t-pur-2"), ("出库的时候说库存不够", "t-inv-1"), ("出库单保存说库存不足可是有货", "t-inv-1"),
    ("盘点盘亏了怎么处理", "t-inv-2"), ("MRP跑完没有计划订单", "t-prd-1"), ("完工入库数量录错了", "t-prd-2"),
    ("客户信用额度超了订单审不了", "t-sal-1"), ("发货单的打印模板想改一下", "t-sal-2"), ("工资条怎么批量发", "t-hr-1"),
    ("账号被锁了登不上", "t-sys-1"),
]
UNANSWERABLE = [
    "公司年会节目报名截止到哪天", "食堂明天中午有什么菜", "停车场月卡怎么续费", "下周团建去哪里", "新员工的工牌在哪里领",
    "打印机没纸了找谁", "办公室wifi密码多少", "国庆放几天假", "会议室怎么预订", "快递寄到公司放在哪里", "体检报告什么时候出来",
    "空调太冷了能调高一点吗", "周五下午茶吃什么", "班车几点发车", "电脑要重装系统找谁", "雨伞可以借一把吗",
]


def _validation(tmp_path, answerable, unanswerable):
    path = tmp_path / "validation.jsonl"
    rows = [{"question": q, "relevant": [f"kb://faq/{f}"]} for q, f in answerable]
    rows += [{"question": q, "relevant": []} for q in unanswerable]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    return path


def _toy_signals(n: int, *, separated_by: str, seed: int = 0):
    """n answerable then n unanswerable questions whose best score overlaps heavily, and whose unseen share
    either separates them (``unseen``) or is noise (``best``: then the best score alone separates them)."""
    rng = np.random.default_rng(seed)
    y = [False] * n + [True] * n
    signals = []
    for unanswerable in y:
        if separated_by == "unseen":
            best = rng.uniform(0.1, 0.4)
            unseen = rng.uniform(0.5, 0.9) if unanswerable else rng.uniform(0.0, 0.4)
        else:
            best = rng.uniform(0.0, 0.2) if unanswerable else rng.uniform(0.3, 0.6)
            unseen = rng.uniform(0, 1)
        signals.append(AbstentionSignals(best=best, margin=0.1, coverage=0.5, unseen=unseen))
    return [AbstentionSample(f"q{i}", u) for i, u in enumerate(y)], signals


def test_the_learned_model_is_chosen_only_when_cross_validation_shows_it_abstains_better():
    samples, signals = _toy_signals(30, separated_by="unseen")
    result = choose_abstention(samples, signals, 0.95)
    block, model = result["abstention"], AbstentionModel.from_dict(result["files"][ABSTENTION_FILE])
    cv = block["cv"]
    assert block["chosen"] == "learned" and block["file"] == ABSTENTION_FILE
    assert cv["learned"]["abstain_recall"] > cv["bar"]["abstain_recall"] + 0.3 and cv["learned"]["auc"] > 0.95
    assert block["trained_on"] == {"validation": {"answerable": 30, "unanswerable": 30}}
    assert model.features == ("best", "margin", "coverage", "unseen")
    assert model.threshold == block["threshold"]
    assert model.validation["cv"] == cv and "→ learned" in block["reason"]
    # The best score alone separates these: the model has nothing to add, the bar stays.
    samples, signals = _toy_signals(30, separated_by="best")
    assert choose_abstention(samples, signals, 0.95)["abstention"]["chosen"] == "bar"


def test_cross_validation_chooses_every_threshold_on_training_folds():
    """A bar fitted on all the data would answer exactly 95 %; held-out folds answer about that, not exactly,
    and both methods are judged on the same folds."""
    samples, signals = _toy_signals(40, separated_by="unseen", seed=3)
    x = np.array([s.vector(["best", "unseen"]) for s in signals])
    y = np.array([s.unanswerable for s in samples])
    cv = compare_abstention(x, y, np.array(["validation"] * len(y)), ["best", "unseen"], 0.95, repeats=2)
    assert set(cv) == {"bar", "learned"}
    for method in cv.values():
        assert set(method) == {"auc", "abstain_precision", "abstain_recall", "abstain_recall_sd", "answered"}
        assert 0.85 <= method["answered"] <= 1.0


def test_too_few_unanswerable_questions_leave_the_bar_in_charge():
    samples, signals = _toy_signals(MIN_LEARNED_PER_SIDE, separated_by="unseen")
    samples, signals = samples[:-1], signals[:-1]  # one unanswerable question short
    block = choose_abstention(samples, signals, 0.95)
    assert "files" not in block and block["abstention"]["chosen"] == "bar"
    assert f"needs {MIN_LEARNED_PER_SIDE}" in block["abstention"]["reason"]


def test_reviews_become_samples():
    class Outcome:
        def __init__(self, question, accepted_rank, rejected):
            self.question, self.accepted_rank, self.rejected = question, accepted_rank, rejected

    samples = review_samples([Outcome("a", 1, False), Outcome("b", 3, False), Outcome("c", None, True),
                              Outcome("d", None, False)])  # d was edited: says neither
    assert samples == [AbstentionSample("a", False, "review"), AbstentionSample("b", False, "review"),
                       AbstentionSample("c", True, "review")]


def test_a_build_keeps_its_learned_model_beside_it_and_the_service_uses_it(settings, embedder, processor,
                                                                           tmp_path):
    from assistant.service import Assistant, load_or_train_classifier
    from indexer.index import load_index, verify_build_files

    settings = settings.model_copy(update={
        "validation_set": _validation(tmp_path, ANSWERABLE, UNANSWERABLE), "abstain_threshold": None,
        "abstain_model": "learned"})
    classifier = load_or_train_classifier(settings)
    report = build_index(settings, embedder=embedder, processor=processor,
                         fusion_tuner=fusion_tuner(settings, processor, embedder, classifier=classifier))
    block = report.manifest["fusion"]["abstention"]
    assert block["file"] == ABSTENTION_FILE and block["chosen"] in {"bar", "learned"}
    assert block["trained_on"] == {"validation": {"answerable": 16, "unanswerable": 16}}
    assert set(block["cv"]) == {"bar", "learned"} and block["features"] == [
        "best", "margin", "coverage", "unseen", "module_agreement", "module_vote"]
    # Beside the build, sealed with it: a changed model is refused like any other changed build file.
    path = report.path / ABSTENTION_FILE
    model = AbstentionModel.load(path)
    assert ABSTENTION_FILE in report.manifest["build_files"]
    verify_build_files(report.path, load_index(report.path).manifest)
    assert model.validation["cv"] == block["cv"] and model.threshold == block["threshold"]

    learned = Assistant(settings, processor=processor, embedder=embedder, classifier=classifier).load()
    for question in ("食堂明天中午有什么菜", "关账提示还有凭证没过账"):
        ranking = learned.rank(question)
        assert ranking.abstain_probability == pytest.approx(model.probability(ranking.signals))
        assert model.abstains(ranking.signals) == ranking.abstains
    assert learned.rank("食堂明天中午有什么菜").abstains
    answered = learned.suggest("关账提示还有凭证没过账")
    assert not answered.abstained and answered.suggestions[0].source.id == "t-fin-1"

    def served(**update):
        return Assistant(settings.model_copy(update=update), processor=processor, embedder=embedder,
                         classifier=classifier).load().rank("食堂明天中午有什么菜")

    bar = served(abstain_model="bar")
    assert bar.abstain_probability is None and bar.abstains == (bar.best < bar.abstain_threshold)
    # auto follows the build's cross-validated choice, and a bar in the settings overrides it.
    assert (served(abstain_model="auto").abstain_probability is not None) == (block["chosen"] == "learned")
    assert served(abstain_model="auto", abstain_threshold=0.2).abstain_probability is None


def test_with_too_few_unanswerable_questions_the_build_keeps_the_bar(settings, embedder, processor, tmp_path):
    from assistant.service import Assistant

    settings = settings.model_copy(update={
        "validation_set": _validation(tmp_path, ANSWERABLE, UNANSWERABLE[:6]), "abstain_threshold": None,
        "abstain_model": "learned"})
    report = build_index(settings, embedder=embedder, processor=processor,
                         fusion_tuner=fusion_tuner(settings, processor, embedder))
    fusion = report.manifest["fusion"]
    assert "abstain_threshold" in fusion  # 6 are enough for the bar
    assert fusion["abstention"]["chosen"] == "bar" and "file" not in fusion["abstention"]
    assert "needs 15 answerable and 15 unanswerable" in fusion["abstention"]["reason"]
    assert not (report.path / ABSTENTION_FILE).exists()
    ranking = Assistant(settings, processor=processor, embedder=embedder).load().rank("食堂明天中午有什么菜")
    assert ranking.abstain_probability is None and ranking.abstain_threshold == fusion["abstain_threshold"]


def test_review_outcomes_become_training_data_at_the_next_rebuild(settings, embedder, processor, tmp_path):
    from assistant.rebuild import rebuild_knowledge_base
    from assistant.service import load_or_train_classifier
    from assistant.store import open_store, record_question, record_review, reopen_question, review_outcomes
    from assistant.tenants import SharedModels
    from erp_assist.domain import (
        Classification,
        Decision,
        SourceLink,
        SourceType,
        Suggestion,
        SuggestResult,
        Urgency,
    )

    store = open_store(settings.database_url)

    def ask(text: str, faq: str | None) -> int:
        drafts = [Suggestion(1, 0.5, "草稿", SourceLink(SourceType.FAQ, faq, faq, "", f"kb://faq/{faq}"), "草稿")
                  ] if faq else []
        result = SuggestResult(text, Classification("finance", Urgency.P2, 0.9, 0.8), drafts,
                               abstained=not faq, build_id="seed")
        return record_question(store, tenant="default", result=result)

    for text, faq in ANSWERABLE:
        record_review(store, tenant="default", question_id=ask(text, faq), decision=Decision.ACCEPT,
                      reviewer="李工", suggestion_rank=1)
    for text in UNANSWERABLE:
        record_review(store, tenant="default", question_id=ask(text, "t-sys-1"), decision=Decision.REJECT,
                      reviewer="李工", note="知识库里没有")
    edited = ask("报销单怎么填", None)
    record_review(store, tenant="default", question_id=edited, decision=Decision.EDIT, reviewer="李工",
                  edited_answer="在费用报销里新建报销单。")
    reopened = ask("发票丢了怎么办", "t-fin-1")
    record_review(store, tenant="default", question_id=reopened, decision=Decision.REJECT, reviewer="李工")
    reopen_question(store, tenant="default", question_id=reopened, reviewer="王工")
    ask("还没有人审的问题", "t-fin-1")

    outcomes = review_outcomes(store, tenant="default")
    assert len(outcomes) == 33  # 16 accepted, 16 rejected, 1 edited; the reopened and the open one wait
    assert {(o.accepted_rank, o.rejected) for o in outcomes} == {(1, False), (None, True), (None, False)}
    assert review_outcomes(store, tenant="other") == []

    # No validation set: the reviews alone train the model.
    models = SharedModels(processor, embedder, load_or_train_classifier(settings))
    report = rebuild_knowledge_base(settings, models=models, store=store)
    block = report.manifest["fusion"]["abstention"]
    assert block["trained_on"] == {"review": {"answerable": 16, "unanswerable": 16}}
    assert (report.path / ABSTENTION_FILE).is_file()
    assert "no validation set" in report.manifest["fusion"]["reason"]
    # Beside a validation set, each source is counted (and answered) on its own.
    validation = _validation(tmp_path, ANSWERABLE[:6], UNANSWERABLE[:6])
    settings = settings.model_copy(update={"validation_set": validation})
    block = rebuild_knowledge_base(settings, models=models, store=store).manifest["fusion"]["abstention"]
    assert block["trained_on"] == {"review": {"answerable": 16, "unanswerable": 16},
                                   "validation": {"answerable": 6, "unanswerable": 6}}
