import json
from datetime import timedelta

import pytest

from indexer.errors import SourceFormatError
from indexer.loaders import load_chat_jsonl, load_faq_csv, load_sources
from indexer.threads import build_threads, is_noise
from tests.conftest import ROOT, TINY_KB


def test_tiny_kb_loads_all_three_source_types():
    loaded = load_sources(TINY_KB)
    kinds = {d.source_type.value for d in loaded.documents}
    assert kinds == {"faq", "sop", "chat"}
    assert not loaded.skipped


def test_threads_from_reply_link_and_mention():
    report = build_threads(load_chat_jsonl(TINY_KB / "chats" / "test-group.jsonl"))
    resolved = {t.question.msg_id: t for t in report.resolved}
    assert set(resolved) == {"tg-2", "tg-7"}
    assert [m.msg_id for m in resolved["tg-2"].answers] == ["tg-5"]
    assert resolved["tg-2"].confirmation.msg_id == "tg-6"
    assert [m.msg_id for m in resolved["tg-7"].answers] == ["tg-9"]  # linked by @mention, not reply
    assert [t.question.msg_id for t in report.unresolved] == ["tg-10"]
    doc = resolved["tg-2"].to_document()
    assert doc.uri == "kb://chat/test-group/tg-2"
    assert "解冻库位" in doc.text and "【问题】" not in doc.title
    assert doc.metadata["message_ids"] == ["tg-2", "tg-5", "tg-6"]


@pytest.mark.parametrize("text", ["收到", "早", "[表情]", "[图片]", "好的！", "👍"])
def test_noise_messages(text):
    assert is_noise(text)


def test_question_is_not_noise():
    assert not is_noise("出库单审核不了")


def test_demo_chat_threads_match_hand_labelled_gold():
    """Thread reconstruction on the demo group history against its hand-made ground truth."""
    gold = json.loads((ROOT / "eval" / "data" / "chat_threads_gold.json").read_text(encoding="utf-8"))
    messages = []
    for path in sorted((ROOT / "data" / "demo" / "chats").glob("*.jsonl")):
        messages.extend(load_chat_jsonl(path))
    report = build_threads(messages, timedelta(hours=2))
    found = {t.question.msg_id: t for t in report.resolved}
    gold_resolved = {g["question_msg_id"]: g for g in gold if g["resolved"]}
    recall = len(set(found) & set(gold_resolved)) / len(gold_resolved)
    precision = len(set(found) & set(gold_resolved)) / len(found)
    assert recall >= 0.9, f"resolved-thread recall {recall:.2f}"
    assert precision >= 0.8, f"resolved-thread precision {precision:.2f}"
    answers_right = sum(
        set(gold_resolved[q]["answer_msg_ids"]) <= {m.msg_id for m in t.answers}
        for q, t in found.items()
        if q in gold_resolved
    )
    assert answers_right / len(gold_resolved) >= 0.8


def test_faq_with_duplicate_ids_is_rejected_with_line(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text("id,question,answer\na,问1,答1\na,问2,答2\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"faq.csv:3: duplicate FAQ id 'a'"):
        load_faq_csv(path)


def test_bad_files_are_skipped_with_reason_and_the_rest_loads(kb_copy):
    (kb_copy / "broken.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    (kb_copy / "sops" / "bad.md").write_text("---\ntitle: [unclosed\n---\n正文内容", encoding="utf-8")
    (kb_copy / "chats" / "bad.jsonl").write_text("{not json\n", encoding="utf-8")
    loaded = load_sources(kb_copy)
    reasons = {s.path.split("/")[-1]: s.reason for s in loaded.skipped}
    assert set(reasons) == {"broken.csv", "bad.md", "bad.jsonl"}
    assert "missing column" in reasons["broken.csv"]
    assert "YAML" in reasons["bad.md"]
    assert "bad.jsonl:1" in reasons["bad.jsonl"]
    assert any(d.source_id == "t-fin-1" for d in loaded.documents)
