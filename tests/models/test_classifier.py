import json

import pytest

from erp_assist.errors import InvalidQuestionError, ModelNotTrainedError
from models.classifier import QuestionClassifier, validate_question
from models.taxonomy import load_taxonomy
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def classifier(trained_classifier_path):
    taxonomy = load_taxonomy(ROOT / "models" / "taxonomy.yaml")
    return QuestionClassifier.load(trained_classifier_path, taxonomy)


@pytest.mark.parametrize(
    ("question", "module"),
    [
        ("月底结账的时候凭证过不了账", "finance"),
        ("供应商报价单在哪里录入", "purchasing"),
        ("盘点完了盘亏的单子怎么处理", "inventory"),
        ("BOM 改了以后工单领料还是旧的", "production"),
        ("销售订单客户信用额度超了审核不了", "sales"),
        ("这个月工资条什么时候能发", "hr"),
        ("商机阶段怎么改成赢单", "crm"),
        ("密码输错好几次账号被锁了", "system"),
    ],
)
def test_modules_of_clear_questions(classifier, question, module):
    assert classifier.classify(question).module == module


def test_outage_is_p1_and_howto_is_p3_with_cues(classifier):
    outage = classifier.classify("全厂停线了，MES 报工全部失败，急！")
    assert outage.urgency == "P1"
    assert outage.cues
    assert classifier.classify("请问科目余额表怎么导出到Excel").urgency == "P3"


def test_confidences_are_probabilities(classifier):
    result = classifier.classify("出库单打印模板想加个批次号字段")
    assert abs(sum(result.module_scores.values()) - 1) < 1e-6 or all(0 <= v <= 1 for v in result.module_scores.values())
    assert 0 <= result.module_confidence <= 1


def test_model_for_another_taxonomy_refuses_to_load(trained_classifier_path, tmp_path):
    changed = tmp_path / "taxonomy.yaml"
    text = (ROOT / "models" / "taxonomy.yaml").read_text(encoding="utf-8")
    # A company relabels a module (a comment or the concepts block would not change what the model predicts).
    changed.write_text(text.replace("label: 财务\n", "label: 财务会计\n", 1), encoding="utf-8")
    with pytest.raises(ModelNotTrainedError, match="taxonomy"):
        QuestionClassifier.load(trained_classifier_path, load_taxonomy(changed))


@pytest.mark.parametrize("bad", ["", "   \n", "😂😂😂", "？？！！", "问" * 4001])
def test_invalid_questions_are_clear_errors(bad):
    with pytest.raises(InvalidQuestionError):
        validate_question(bad, 4000)


def test_training_and_golden_questions_share_no_text():
    from indexer.text import normalize

    train = {
        normalize(json.loads(line)["text"])
        for path in (ROOT / "models" / "data" / "train").glob("*.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    golden_path = ROOT / "eval" / "data" / "golden.jsonl"
    golden = {normalize(json.loads(line)["question"]) for line in golden_path.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert len(train) >= 600 and len(golden) >= 200
    assert not train & golden
