"""``load_sources`` over a knowledge base holding every supported format (tests/data/sources/kb)."""

import json
import shutil
from collections import Counter

import pytest

from indexer.loaders import FaqColumns, load_sources
from tests.conftest import DATA

SOURCES = DATA / "sources"
EXPERTS = frozenset({"李工", "王会计主管"})
NAMES = {"zhangmin": "张敏(财务)", "ligong": "李工(ERP管理员)", "liuyang": "刘洋(出纳)", "wangzhuguan": "王会计主管"}


@pytest.fixture
def sources_copy(tmp_path):
    target = tmp_path / "kb"
    shutil.copytree(SOURCES / "kb", target)
    return target


def test_every_format_is_picked_up():
    loaded = load_sources(SOURCES / "kb", experts=EXPERTS, sender_names=NAMES)
    assert not loaded.skipped
    assert sorted(p.name for p in loaded.files) == [
        "erp-dingtalk.txt", "erp-finance.wecom.json", "erp-warehouse.feishu.json", "faq.jsonl", "faq.xlsx",
        "sop-fin-expense-payment.txt", "sop-inv-sales-outbound.docx"]
    assert Counter(d.source_type.value for d in loaded.documents) == {"faq": 4, "sop": 2, "chat": 5}
    chats = {d.source_id for d in loaded.documents if d.source_type.value == "chat"}
    assert {c.split("/")[0] for c in chats} == {"erp-dingtalk", "erp-finance", "erp-warehouse"}
    assert len(loaded.threads.unresolved) == 2  # the bank-statement question and the overtime question
    wecom = next(d for d in loaded.documents if d.source_id.startswith("erp-finance/"))
    assert wecom.metadata["asker"] == "张敏(财务)" and wecom.metadata["experts"] == ["李工(ERP管理员)"]


def test_experts_decide_which_export_threads_are_answers():
    """Exports carry no roles: without the expert list only threads the asker confirmed resolve."""
    without = load_sources(SOURCES / "kb", sender_names=NAMES)
    chats = [d for d in without.documents if d.source_type.value == "chat"]
    assert len(chats) < 5


def test_faq_column_mapping_applies_to_every_faq_file(tmp_path):
    (tmp_path / "faq.csv").write_bytes((SOURCES / "faq_zh_columns.csv").read_bytes())
    columns = FaqColumns(id="编号", question="问题", answer="答案", module="模块", tags="标签",
                         updated_at="更新日期", alternates="相似问法")
    loaded = load_sources(tmp_path, faq_columns=columns)
    assert [d.source_id for d in loaded.documents] == ["pur-301", "pur-302"]


def test_each_broken_file_is_skipped_with_its_path_and_reason(sources_copy):
    (sources_copy / "broken.xlsx").write_text("not a workbook", encoding="utf-8")
    (sources_copy / "dupes.jsonl").write_text(
        '{"id": "x", "question": "问", "answer": "答"}\n{"id": "x", "question": "问2", "answer": "答2"}\n',
        encoding="utf-8")
    (sources_copy / "sops" / "broken.docx").write_bytes(b"PK\x03\x04 truncated")
    (sources_copy / "sops" / "empty.txt").write_text("\n\n", encoding="utf-8")
    (sources_copy / "chats" / "raw.wecom.json").write_text(
        '{"errcode": 0, "chatdata": [{"seq": 1, "msgid": "a", "encrypt_chat_msg": "x"}]}', encoding="utf-8")
    (sources_copy / "chats" / "expired.feishu.json").write_text('{"code": 99991663, "msg": "token expired"}',
                                                                encoding="utf-8")
    (sources_copy / "chats" / "notes.txt").write_text("会议纪要：下周切换新版本\n", encoding="utf-8")
    (sources_copy / "chats" / "README.md").write_text("# 导出说明\n", encoding="utf-8")  # not a chat file
    loaded = load_sources(sources_copy, experts=EXPERTS, sender_names=NAMES)
    reasons = {s.path.split("/")[-1]: s.reason for s in loaded.skipped}
    assert set(reasons) == {"broken.xlsx", "dupes.jsonl", "broken.docx", "empty.txt", "raw.wecom.json",
                            "expired.feishu.json", "notes.txt"}
    assert all(str(sources_copy) in s.path and s.path in s.reason for s in loaded.skipped)
    assert "not a readable XLSX workbook" in reasons["broken.xlsx"]
    assert "dupes.jsonl:2: duplicate FAQ id 'x'" in reasons["dupes.jsonl"]
    assert "DOCX" in reasons["broken.docx"] and "no text" in reasons["empty.txt"]
    assert "still encrypted" in reasons["raw.wecom.json"]
    assert "99991663" in reasons["expired.feishu.json"]
    assert "header lines" in reasons["notes.txt"]
    assert Counter(d.source_type.value for d in loaded.documents) == {"faq": 4, "sop": 2, "chat": 5}


def test_overlapping_exports_of_one_group_are_read_once(sources_copy):
    chats = sources_copy / "chats"
    shutil.copy(chats / "erp-dingtalk.txt", chats / "erp-dingtalk.2024-11-05.txt")
    records = json.loads((chats / "erp-finance.wecom.json").read_text(encoding="utf-8"))
    (chats / "erp-finance.week2.wecom.json").write_text(json.dumps(records[3:], ensure_ascii=False),
                                                          encoding="utf-8")
    once = load_sources(SOURCES / "kb", experts=EXPERTS, sender_names=NAMES)
    twice = load_sources(sources_copy, experts=EXPERTS, sender_names=NAMES)
    assert twice.threads.messages == once.threads.messages
    assert sorted(d.source_id for d in twice.documents) == sorted(d.source_id for d in once.documents)
