import json

from eval.dataset import load_dataset
from eval.runner import run_eval


def test_run_eval_on_tiny_golden_set(tmp_path, session_settings, assistant):
    dataset = tmp_path / "golden.jsonl"
    lines = [
        {"id": "1", "question": "关账提示还有凭证没过账", "relevant": ["kb://faq/t-fin-1"], "module": "finance", "urgency": "P1"},
        {"id": "2", "question": "账号被锁了登不上", "relevant": ["kb://faq/t-sys-1"], "module": "system", "urgency": "P1"},
        {"id": "3", "question": "收货的时候质检不合格怎么办", "relevant": ["kb://sop/sop-test-receipt"], "module": "purchasing", "urgency": "P3"},
        {"id": "4", "question": "公司年会节目报名截止到哪天", "relevant": [], "module": "hr", "urgency": "P3"},
    ]
    text = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines)
    text += '\n{"id": "5", "relevant": []}\n{"id": "6", "question": "x", "relevant": ["kb://faq/missing"]}\nnot json\n'
    dataset.write_text(text, encoding="utf-8")
    report = run_eval(session_settings, dataset, assistant=assistant)
    assert report.n_questions == 4
    assert len(report.warnings) == 3
    assert any(":6:" in w and "kb://faq/missing" in w for w in report.warnings)
    assert set(report.retrieval) == {"bm25", "dense", "hybrid"}
    assert report.retrieval["hybrid"]["recall@5"] == 1.0
    assert report.abstention["abstain_recall"] == 1.0
    assert 0 <= report.classification["module_macro_f1"] <= 1
    assert report.latency["p50_ms"] > 0


def test_dataset_lines_are_numbered_in_problems(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"question": "a", "relevant": []}\n{"question": ""}\n', encoding="utf-8")
    ds = load_dataset(path)
    assert len(ds.questions) == 1
    assert ds.problems and ":2:" in ds.problems[0]
