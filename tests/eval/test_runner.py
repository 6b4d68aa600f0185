import json

import pytest
from typer.testing import CliRunner

from eval.dataset import load_dataset, load_second_annotator, second_annotator_path
from eval.gate import regressions
from eval.report import write_reports
from eval.runner import run_eval


@pytest.fixture(scope="module")
def tiny_golden(tmp_path_factory):
    path = tmp_path_factory.mktemp("golden") / "golden.jsonl"
    lines = [
        {"id": "1", "question": "关账提示还有凭证没过账", "relevant": ["kb://faq/t-fin-1"], "module": "finance", "urgency": "P1"},
        {"id": "2", "question": "账号被锁了登不上", "relevant": ["kb://faq/t-sys-1"], "module": "system", "urgency": "P1"},
        {"id": "3", "question": "收货的时候质检不合格怎么办", "relevant": ["kb://sop/sop-test-receipt"], "module": "purchasing", "urgency": "P3"},
        {"id": "4", "question": "公司年会节目报名截止到哪天", "relevant": [], "module": "hr", "urgency": "P3"},
    ]
    text = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines)
    text += '\n{"id": "5", "relevant": []}\n{"id": "6", "question": "x", "relevant": ["kb://faq/missing"]}\nnot json\n'
    path.write_text(text, encoding="utf-8")
    # A second annotator who disagrees on one urgency (question 2) and labelled no modules.
    second = [{"id": "1", "urgency": "P1"}, {"id": "2", "urgency": "P2"}, {"id": "3", "urgency": "P3"},
              {"id": "4", "urgency": "P3"}]
    second_annotator_path(path).write_text("\n".join(json.dumps(x) for x in second) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def report(tiny_golden, session_settings, assistant):
    return run_eval(session_settings, tiny_golden, include_public=False, assistant=assistant)


def test_report_has_every_system_side_by_side(report):
    result = report.datasets["golden"]
    assert result.n_questions == 4
    assert set(result.systems) == {"bm25", "bm25-words", "bm25-chars", "dense", "langchain-ensemble", "hybrid"}
    assert result.systems["hybrid"]["recall@5"] == 1.0
    assert result.abstention["abstain_recall"] == 1.0
    assert 0 <= result.classification["module_macro_f1"] <= 1
    assert result.confusion["module"]["labels"]
    assert result.latency["p50_ms"] > 0


def test_second_annotator_agreement_is_reported_per_labelled_head(report):
    classification = report.datasets["golden"].classification
    # gold P1 P1 P3 P3 vs theirs P1 P2 P3 P3, over the gold classes: F1(P1) = 2/3, F1(P3) = 1
    assert classification["urgency_macro_f1_annotator2_vs_gold"] == pytest.approx((2 / 3 + 1) / 2)
    assert 0 <= classification["urgency_macro_f1_vs_annotator2"] <= 1
    assert "module_macro_f1_annotator2_vs_gold" not in classification


def test_second_annotator_file_is_optional_and_checked(tmp_path):
    dataset = tmp_path / "set.jsonl"
    assert second_annotator_path(dataset).name == "set.annotator2.jsonl"
    assert load_second_annotator(dataset) == {}
    second_annotator_path(dataset).write_text('{"id": "a", "urgency": "P2"}\n{"urgency": "P1"}\n',
                                              encoding="utf-8")
    with pytest.raises(ValueError, match="set.annotator2.jsonl:2"):
        load_second_annotator(dataset)


def test_bad_lines_are_reported_with_line_numbers(report):
    skipped = report.datasets["golden"].skipped
    assert len(skipped) == 3
    assert any(":6:" in w and "kb://faq/missing" in w for w in skipped)
    assert any(":7:" in w for w in skipped)


def test_json_and_self_contained_html(report, tmp_path):
    json_path, html_path = write_reports(report.to_dict(), tmp_path)
    data = json.loads(json_path.read_text(encoding="utf-8"))
    assert data["build_id"] == report.build_id and data["datasets"]["golden"]["sha256"]
    html = html_path.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") >= 3  # recall curves, per-module bars, confusion matrices
    assert "langchain-ensemble" in html
    assert "<script src" not in html and "<link" not in html  # nothing fetched from elsewhere


def test_gate_passes_on_equal_and_fails_on_drop(report):
    data = report.to_dict()
    assert regressions(data, data, 0.02) == []
    worse = json.loads(json.dumps(data))
    worse["datasets"]["golden"]["systems"]["hybrid"]["mrr@10"] -= 0.05
    failures = regressions(worse, data, 0.02)
    assert len(failures) == 1 and "mrr@10" in failures[0]
    other = json.loads(json.dumps(data))
    other["datasets"]["golden"]["sha256"] = "different"
    assert regressions(worse, other, 0.02) == []  # a different dataset is not compared


def test_cli_eval_gate_exit_codes(tiny_golden, settings, embedder, processor, tmp_path):
    from erp_assist.cli import app
    from indexer.build import build_index

    build_index(settings, embedder=embedder, processor=processor)
    env = {
        "ERP_ASSIST_DATA_DIR": str(settings.data_dir),
        "ERP_ASSIST_INDEX_DIR": str(settings.index_dir),
        "ERP_ASSIST_CLASSIFIER_PATH": str(settings.classifier_path),
        "ERP_ASSIST_CACHE_DIR": str(tmp_path / "cache"),
    }
    runner = CliRunner()
    out = tmp_path / "first"
    first = runner.invoke(app, ["eval", "--dataset", str(tiny_golden), "--no-public", "--out", str(out)], env=env)
    assert first.exit_code == 0, first.output
    assert "langchain-ensemble" in first.output
    baseline = json.loads((out / "report.json").read_text(encoding="utf-8"))
    passed = runner.invoke(app, ["eval", "--dataset", str(tiny_golden), "--no-public", "--out", str(tmp_path / "2"),
                                 "--baseline", str(out / "report.json")], env=env)
    assert passed.exit_code == 0, passed.output
    assert "no regression" in passed.output
    baseline["datasets"]["golden"]["systems"]["hybrid"]["recall@5"] += 0.5
    inflated = tmp_path / "inflated.json"
    inflated.write_text(json.dumps(baseline), encoding="utf-8")
    failed = runner.invoke(app, ["eval", "--dataset", str(tiny_golden), "--no-public", "--out", str(tmp_path / "3"),
                                 "--baseline", str(inflated)], env=env)
    assert failed.exit_code == 3
    assert "regression" in failed.output

    # A set with no module/urgency labels still gets its abstention and latency table.
    untagged = tmp_path / "untagged.jsonl"
    untagged.write_text("\n".join(json.dumps({k: v for k, v in json.loads(line).items() if k not in ("module", "urgency")},
                                              ensure_ascii=False)
                                   for line in tiny_golden.read_text(encoding="utf-8").splitlines()[:4]) + "\n",
                        encoding="utf-8")
    plain = runner.invoke(app, ["eval", "--dataset", str(untagged), "--no-public", "--out", str(tmp_path / "4")], env=env)
    assert plain.exit_code == 0, plain.output
    assert "abstain_recall" in plain.output and "module_macro_f1" not in plain.output

    # Every question answerable: the share given no drafts, not an abstention precision/recall of 0.
    answerable = tmp_path / "answerable.jsonl"
    answerable.write_text("\n".join(tiny_golden.read_text(encoding="utf-8").splitlines()[:3]) + "\n", encoding="utf-8")
    costs = runner.invoke(app, ["eval", "--dataset", str(answerable), "--no-public", "--out", str(tmp_path / "5")],
                          env=env)
    assert costs.exit_code == 0, costs.output
    assert "abstention_rate" in costs.output and "abstain_precision" not in costs.output
    saved = json.loads((tmp_path / "5" / "report.json").read_text(encoding="utf-8"))
    assert saved["datasets"]["answerable"]["abstention"]["abstention_rate"] == 0.0


def test_dataset_lines_are_numbered_in_problems(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "a", "relevant": []}\n{"question": ""}\n', encoding="utf-8")
    ds = load_dataset(path)
    assert len(ds.questions) == 1
    assert ds.problems and ":2:" in ds.problems[0]
