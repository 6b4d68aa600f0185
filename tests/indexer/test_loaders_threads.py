import json
from datetime import datetime, timedelta, timezone

import pytest

from indexer.errors import SourceFormatError
from indexer.loaders import load_chat_jsonl, load_faq_csv, load_sources
from indexer.threads import ChatMessage, build_threads, is_holding_reply, is_noise
from tests.conftest import ROOT, TINY_KB

CST = timezone(timedelta(hours=8))


def _chat(*rows: tuple[str, str, str, str, str | None]) -> list[ChatMessage]:
    """Messages from (minute "HH:MM", sender, role, text, reply_to) rows; ids are m1, m2, …"""
    return [
        ChatMessage(f"m{i}", "g", sender, role, datetime(2024, 11, 4, *map(int, hhmm.split(":")), tzinfo=CST),
                    text, reply_to)
        for i, (hhmm, sender, role, text, reply_to) in enumerate(rows, start=1)
    ]


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


@pytest.mark.parametrize("text", ["收到", "早", "[表情]", "[图片]", "好的！", "👍", "欢迎👏", "好的 收到", "好的麻烦了"])
def test_noise_messages(text):
    assert is_noise(text)


@pytest.mark.parametrize("text", ["谢谢", "好了，谢谢李工", "明白了"])
def test_thanks_are_not_noise_they_confirm(text):
    assert not is_noise(text)


def test_holding_replies():
    assert is_holding_reply("这个我这边没复现，你电脑是win7吗？我再看看")
    assert is_holding_reply("好 我查查")
    assert not is_holding_reply("凭证日期落在已结账期间，把日期改到11月再过账。还不行的话我再看看日志，"
                                "先按这个处理，处理完在群里说一声。")


def test_a_holding_reply_does_not_resolve_and_the_real_answer_later_does():
    messages = _chat(
        ("10:00", "韩梅(客服部)", "asker", "客户端升级后一打开就报“错误码 20031 组件注册失败”", None),
        ("10:20", "陈工(IT)", "expert", "这个我这边没复现，你电脑是win7吗？我再看看", "m1"),
        ("10:22", "韩梅(客服部)", "asker", "win10的", None),
        ("10:50", "陈工(IT)", "expert", "是杀毒软件拦截了组件注册，把客户端目录加入白名单后重装即可。", None),
    )
    report = build_threads(messages[:3])
    assert not report.resolved and [m.msg_id for m in report.unresolved[0].interim] == ["m2"]
    [thread] = build_threads(messages).resolved
    assert [m.msg_id for m in thread.answers] == ["m4"] and thread.message_ids == ["m1", "m2", "m3", "m4"]


def test_the_askers_reply_to_an_answer_stays_in_the_thread():
    report = build_threads(_chat(
        ("10:11", "黄丽(应收会计)", "asker", "账龄表里有个客户显示逾期180天以上，但他上个月已经全部回款了", None),
        ("10:25", "王会计主管", "expert", "收款单没跟应收单核销，去【收款核销】手工核销一下。", "m1"),
        ("10:40", "黄丽(应收会计)", "asker", "核销了，那以后收款能自动核销吗？", "m2"),
        ("10:48", "王会计主管", "expert", "可以，在【应收管理→参数设置】勾上“收款单审核后自动核销”。", "m3"),
    ))
    [thread] = report.resolved
    assert thread.question.msg_id == "m1" and [m.msg_id for m in thread.answers] == ["m2", "m4"]
    assert "自动核销吗" in thread.to_document().title


def test_a_colleagues_me_too_joins_the_open_thread_and_a_later_update_is_kept():
    report = build_threads(_chat(
        ("08:35", "宋伟(仓库)", "asker", "急！WMS收货的入库单同步到ERP变成了两条，库存翻倍了", None),
        ("08:36", "马超(仓库)", "asker", "我这边也看到了，今早的全都重复", None),
        ("08:55", "李工(ERP管理员)", "expert", "WMS接口重试有bug，同一批入库单推了两遍。接口已暂停，重复的我批量删除。", "m1"),
        ("09:28", "李工(ERP管理员)", "expert", "已恢复：重复的17张入库单已删除，接口重新开启，可以继续收货了。", None),
    ))
    [thread] = report.resolved
    assert [m.msg_id for m in thread.follow_ups] == ["m2"]
    assert [m.msg_id for m in thread.answers] == ["m3", "m4"]
    assert not report.unresolved


def test_a_nudge_hours_later_stays_with_the_unanswered_question():
    report = build_threads(_chat(
        ("11:00", "罗斌(销售一部)", "asker", "CRM新签的客户同步到ERP一直显示“同步中”，两天了还没生成客户档案", None),
        ("15:30", "罗斌(销售一部)", "asker", "有人吗 这个很影响开票", None),
    ))
    [thread] = report.unresolved
    assert [m.msg_id for m in thread.follow_ups] == ["m2"]


def test_experts_listed_by_name_answer_in_project_jsonl(tmp_path):
    path = tmp_path / "g.jsonl"
    rows = [
        {"msg_id": "a", "group": "g", "sender": "张三(仓库)", "role": "asker", "ts": "2024-11-04T09:00:00+08:00",
         "text": "调拨单审核报错 30005", "reply_to": None},
        {"msg_id": "b", "group": "g", "sender": "老周(顾问)", "role": "asker", "ts": "2024-11-04T09:05:00+08:00",
         "text": "30005 是库位冻结，先解冻库位。手机 13812345678", "reply_to": "a"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    plain = load_chat_jsonl(path)
    assert [m.role for m in plain] == ["asker", "asker"] and not build_threads(plain).resolved
    promoted = load_chat_jsonl(path, experts=frozenset({"老周"}))
    assert promoted[1].role == "expert" and promoted[1].text.endswith("[手机号]")
    assert len(build_threads(promoted).resolved) == 1


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
    # 1.00 / 1.00 today; the rules were written while reading this history, so keep a margin.
    assert recall >= 0.95, f"resolved-thread recall {recall:.2f}"
    assert precision >= 0.95, f"resolved-thread precision {precision:.2f}"
    answers_right = sum(
        set(gold_resolved[q]["answer_msg_ids"]) <= {m.msg_id for m in t.answers}
        for q, t in found.items()
        if q in gold_resolved
    )
    assert answers_right / len(gold_resolved) >= 0.9
    # Every hand-labelled unresolved question is counted as unresolved (chit-chat questions may be too).
    gold_unresolved = {g["question_msg_id"] for g in gold if not g["resolved"]}
    assert gold_unresolved <= {t.question.msg_id for t in report.unresolved}


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
