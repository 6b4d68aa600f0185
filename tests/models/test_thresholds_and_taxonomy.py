"""P1 threshold logic, the compiled calibrated heads, model files, and a taxonomy with an added module."""

import json

import joblib
import numpy as np
import pytest

from erp_assist.errors import ModelNotTrainedError
from indexer.text import normalize
from models.classifier import (
    P1_RECALL_TARGET,
    DEFAULT_APPROACH,
    PlattEnsemble,
    QuestionClassifier,
    SoftmaxEnsemble,
    decide_urgency,
    get_approach,
    load_labelled,
    tune_p1_threshold,
)
from models.taxonomy import load_taxonomy
from tests.conftest import ROOT
from tests.models.test_training import write_subset

TAXONOMY = ROOT / "models" / "taxonomy.yaml"
TRAIN = ROOT / "models" / "data" / "train"


@pytest.fixture(scope="module")
def classifier(trained_classifier_path):
    return QuestionClassifier.load(trained_classifier_path, load_taxonomy(TAXONOMY))


# --- P1 threshold ---------------------------------------------------------------------------------------


def test_threshold_is_the_best_precision_that_keeps_the_recall():
    p1 = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    gold = [True, True, False, True, False, True]
    # Recall >= 0.75 needs the third P1 (0.6): 3 of 4 flagged are P1. Going down to 0.4 gives 4 of 6.
    assert tune_p1_threshold(np.array(p1), np.array(gold), 0.75) == 0.6
    assert tune_p1_threshold(np.array(p1), np.array(gold), 1.0) == 0.4


def test_threshold_may_go_lower_when_that_raises_precision():
    p1 = np.array([0.9, 0.8, 0.7, 0.6])
    gold = np.array([False, True, True, True])
    # Every threshold reaches recall 1/3; precision climbs from 1/2 (0.8) to 3/4 (0.6).
    assert tune_p1_threshold(p1, gold, 0.3) == 0.6


def test_threshold_needs_p1_examples():
    with pytest.raises(ValueError, match="P1"):
        tune_p1_threshold(np.array([0.2, 0.3]), np.array([False, False]), 0.95)


def test_p1_decision_is_the_threshold_alone():
    assert decide_urgency({"P1": 0.30, "P2": 0.50, "P3": 0.20}, 0.25) == "P1"
    assert decide_urgency({"P1": 0.30, "P2": 0.50, "P3": 0.20}, 0.35) == "P2"
    # The likeliest level, but below its bar: the likelier of the others.
    assert decide_urgency({"P1": 0.50, "P2": 0.20, "P3": 0.30}, 0.60) == "P3"


def test_saved_classifier_uses_its_tuned_threshold(classifier):
    assert 0.0 < classifier.p1_threshold < 1.0
    assert classifier.p1_recall_target == P1_RECALL_TARGET >= 0.95
    questions = [i.text for i in load_labelled(TRAIN, classifier.taxonomy)[::25]]
    for result in classifier.classify_many(questions):
        p1 = result.urgency_scores["P1"]
        if abs(p1 - classifier.p1_threshold) > 1e-3:  # scores are rounded to 4 decimals
            assert (result.urgency == "P1") == (p1 >= classifier.p1_threshold)


# --- compiled heads, cues, files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("approach", "head", "compiled"),
    [
        (DEFAULT_APPROACH, "module", SoftmaxEnsemble),
        (DEFAULT_APPROACH, "urgency", SoftmaxEnsemble),
        ("char+words-svm-sigmoid", "urgency", PlattEnsemble),
    ],
)
def test_compiled_head_gives_scikit_learns_probabilities(tmp_path, approach, head, compiled):
    taxonomy = load_taxonomy(TAXONOMY)
    items = write_subset(tmp_path / "data", per_pair=6)
    model = QuestionClassifier(taxonomy, approach=approach).train(items, tune_p1=False)
    assert isinstance(getattr(model, f"{head}_model"), compiled)
    x = model.features.transform([i.text for i in items])
    labels = [i.module if head == "module" else i.urgency for i in items]
    reference = model._calibrated(get_approach(approach), labels, 0, head).fit(x, labels)
    assert np.allclose(compiled(reference).predict_proba(x), reference.predict_proba(x), atol=1e-6)


def test_platt_urgency_probabilities_are_not_saturated(tmp_path):
    """Platt scaling keeps urgency probabilities off 0 and 1, so the P1 threshold sits where questions are."""
    items = write_subset(tmp_path / "data", per_pair=10)
    classifier = QuestionClassifier(load_taxonomy(TAXONOMY), approach="char+words-svm-sigmoid").train(items)
    assert isinstance(classifier.urgency_model, PlattEnsemble)
    questions = [
        "全厂停线了，MES 报工全部失败，急！",
        "请问科目余额表怎么导出到Excel",
        "出库单打印模板想加个批次号字段",
        "就这一张采购订单审核报错，其他的都正常",
        "工资跑不出来 明天发薪",
        "客户说发票抬头错了，能重开吗",
    ]
    scores = np.array([[r.urgency_scores[u] for u in ("P1", "P2", "P3")] for r in classifier.classify_many(questions)])
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-3)
    assert not np.all((scores < 0.01) | (scores > 0.99))
    assert np.mean((scores > 0.01) & (scores < 0.99)) >= 0.25


def test_cues_are_stretches_of_the_question(classifier):
    question = "仓库发不了货，急！所有出库单都卡住了"
    cues = classifier.classify(question).cues
    assert cues and len(cues) <= 5
    repeated = classifier.classify("急急急 全部发不了货！急急急 全部发不了货！").cues
    assert repeated and len(repeated) == len(set(repeated))
    for cue in cues:
        assert len(cue) >= 2 and cue in normalize(question) and not set(cue) & set(",!，！ ")


def test_file_of_an_older_format_is_refused(tmp_path):
    taxonomy = load_taxonomy(TAXONOMY)
    old = tmp_path / "old.joblib"
    joblib.dump({"taxonomy_hash": taxonomy.hash, "vectorizer": None, "p1_threshold": 0.35}, old)
    with pytest.raises(ModelNotTrainedError, match="format 1"):
        QuestionClassifier.load(old, taxonomy)


def test_unknown_approach_lists_the_choices():
    with pytest.raises(ValueError, match="char-lr"):
        QuestionClassifier(load_taxonomy(TAXONOMY), approach="bert")


# --- a company adds a module ----------------------------------------------------------------------------

QUALITY_MODULE = """
  - id: quality
    label: 质量管理
    description: 来料检验、IQC、OQC、质检单、不合格品评审、质量追溯、检验标准
"""

QUALITY_QUESTIONS = [
    ("IQC检验单保存时报“检验标准未维护”，这批来料今天要上线", "P1"),
    ("来料检验全部卡在待检，质检单生成不了，整个仓库的收货都停了", "P1"),
    ("OQC 出货检验单审核报错，今天所有成品都出不了货，客户在等", "P1"),
    ("质量追溯报表查不出上个月的批次，客户投诉要今天回复", "P1"),
    ("不合格品评审单提交后审批人收不到，整个质量部都在等，急", "P1"),
    ("这张来料检验单的抽样数量算错了，只有这一张", "P2"),
    ("不合格品评审单填错了处理方式，已经审核了能改吗", "P2"),
    ("质检单上的检验项目少了一项，就这个物料这样", "P2"),
    ("OQC检验报告打出来缺了检验员签名", "P2"),
    ("检验标准改了版本，但新建的IQC单还是带出旧标准", "P2"),
    ("请问IQC检验标准在哪里维护", "P3"),
    ("不合格品评审的流程是怎样的，谁来判定让步接收", "P3"),
    ("质量追溯能不能从成品批次查到原材料的来料检验记录", "P3"),
    ("想加一个来料合格率的月度报表，可以吗", "P3"),
    ("OQC 和 IQC 的检验单能不能用同一个打印模板", "P3"),
]


@pytest.fixture(scope="module")
def quality_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("quality")
    taxonomy_path = tmp / "taxonomy.yaml"
    original = TAXONOMY.read_text(encoding="utf-8")
    taxonomy_path.write_text(original.replace("\nurgency:", QUALITY_MODULE.rstrip() + "\nurgency:", 1), encoding="utf-8")
    taxonomy = load_taxonomy(taxonomy_path)
    data = tmp / "data"
    write_subset(data, per_pair=10)
    lines = [json.dumps({"text": t, "module": "quality", "urgency": u}, ensure_ascii=False) for t, u in QUALITY_QUESTIONS]
    (data / "extra_quality.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return taxonomy, data, tmp


def test_added_module_is_learned_and_predicted(quality_setup):
    taxonomy, data, tmp = quality_setup
    assert "quality" in taxonomy.module_ids
    model = QuestionClassifier(taxonomy).train(load_labelled(data, taxonomy))
    model.save(tmp / "classifier.joblib")
    loaded = QuestionClassifier.load(tmp / "classifier.joblib", taxonomy)
    for question in ["来料检验单的检验标准怎么设置", "IQC质检单审核不了，报不合格品未评审"]:
        result = loaded.classify(question)
        assert result.module == "quality", (question, result.module_scores)
    assert loaded.classify("这个月工资条什么时候能发").module == "hr"
    with pytest.raises(ModelNotTrainedError, match="taxonomy"):
        QuestionClassifier.load(tmp / "classifier.joblib", load_taxonomy(TAXONOMY))


def test_module_without_labelled_questions_is_a_clear_error(quality_setup):
    taxonomy, _, _ = quality_setup
    items = load_labelled(TRAIN, load_taxonomy(TAXONOMY))
    with pytest.raises(ValueError, match="quality"):
        QuestionClassifier(taxonomy).train(items)
