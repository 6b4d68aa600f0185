import json
from datetime import datetime, timedelta, timezone

import pytest

from indexer.chat_exports import (
    chat_group_name,
    load_chat_text,
    load_feishu_messages,
    load_wecom_archive,
    sender_role,
)
from indexer.errors import SourceFormatError
from indexer.loaders import load_chat
from indexer.threads import build_threads
from tests.conftest import DATA

CHATS = DATA / "sources" / "kb" / "chats"
WECOM = CHATS / "erp-finance.wecom.json"
FEISHU = CHATS / "erp-warehouse.feishu.json"
TEXT = CHATS / "erp-dingtalk.txt"
WECOM_NAMES = {"zhangmin": "张敏(财务)", "ligong": "李工(ERP管理员)", "liuyang": "刘洋(出纳)", "wangzhuguan": "王会计主管"}
CST = timezone(timedelta(hours=8))


# --- WeCom 会话内容存档 ---------------------------------------------------------------------------------

def test_wecom_archive_messages():
    messages = load_wecom_archive(WECOM, experts=frozenset({"ligong"}), names=WECOM_NAMES)
    assert len(messages) == 10  # the "switch" record is not a message
    assert {m.group for m in messages} == {"erp-finance"}
    first = messages[0]
    assert first.msg_id == "10958372619482331001_1730683150"
    assert first.sender == "张敏(财务)" and first.role == "asker"
    assert first.ts == datetime(2024, 11, 4, 9, 19, 10, tzinfo=CST)
    assert first.text.endswith("着急的话打我手机 [手机号]")
    by_text = {m.text: m for m in messages}
    assert by_text["[表情]"].role == "asker"
    assert "就是这个报错 [图片]" in by_text  # a "mixed" message: its text and image parts
    assert by_text["撤回了一条消息"].role == "bot"  # action "recall"
    robot = next(m for m in messages if m.sender.startswith("wb"))
    assert robot.role == "bot"
    assert {m.sender for m in messages if m.role == "expert"} == {"李工(ERP管理员)"}


def test_wecom_threads_resolve_by_mention_and_keep_holding_replies_open():
    report = build_threads(load_wecom_archive(WECOM, experts=frozenset({"李工"}), names=WECOM_NAMES))
    [resolved] = report.resolved
    assert resolved.question.sender == "张敏(财务)"
    assert [m.text[:5] for m in resolved.answers] == ["@张敏 1"]
    assert resolved.confirmation.text == "好了，谢谢李工"
    [unresolved] = report.unresolved  # "我再看看" is not an answer
    assert unresolved.question.text.startswith("银行回单导入")
    assert [m.text for m in unresolved.follow_ups] == ["就是这个报错 [图片]"]
    assert unresolved.interim[0].text.endswith("我再看看")


def test_wecom_without_a_name_map_uses_user_ids(tmp_path):
    messages = load_wecom_archive(WECOM, experts=frozenset({"ligong"}))
    assert messages[0].sender == "zhangmin"
    assert any(m.role == "expert" for m in messages)


def test_wecom_json_lines_and_several_rooms(tmp_path):
    records = json.loads(WECOM.read_text(encoding="utf-8"))
    records[-1]["roomid"] = "wrOtherRoom"
    path = tmp_path / "archive.wecom.json"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records), encoding="utf-8")
    groups = {m.group for m in load_wecom_archive(path)}
    assert groups == {"wrOgQhDgAAcwMTB7YmDkbeBsgT_KAAAA", "wrOtherRoom"}  # several chats keep their own ids


def test_wecom_encrypted_or_malformed_archives_are_rejected(tmp_path):
    path = tmp_path / "raw.wecom.json"
    path.write_text(json.dumps({"errcode": 0, "errmsg": "ok", "chatdata": [
        {"seq": 196, "msgid": "CAQQ2fbb4QUY0On2rYSAgAMgip", "publickey_ver": 3,
         "encrypt_random_key": "ftJ+uz3n/z1DsxlkwxNgE+mL38H42/KCvN8T60gbbtPD+Rta1hKTuQPzUzO6Hzne97Mg",
         "encrypt_chat_msg": "898WSfGMnIeytTsea7Rc0WsOocs0bIAerF6de0v2cFwqo9uOxrW9wYe5rCjCHHH5bDrNvLxBE"}]}),
        encoding="utf-8")
    with pytest.raises(SourceFormatError, match="still encrypted; decrypt"):
        load_wecom_archive(path)
    path.write_text('[{"msgid": "1", "action": "send", "msgtype": "text", "text": {"content": "hi"}}]',
                    encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"raw.wecom.json: message #1 is not a WeCom archive message"):
        load_wecom_archive(path)


# --- Feishu im/v1/messages -----------------------------------------------------------------------------

def test_feishu_message_list():
    messages = load_feishu_messages(FEISHU, experts=frozenset({"ou_84aad35d084aa403a838cf73ee18467c"}))
    assert len(messages) == 9
    by_id = {m.msg_id: m for m in messages}
    question = by_id["om_dc13264520392913993dd051dba21dcf"]
    assert question.sender == "马超(仓库)"  # the name comes from a mention elsewhere in the file
    assert question.text.endswith("@李工(ERP管理员) 帮忙看下")  # "@_user_1" resolved
    assert question.ts == datetime(2024, 11, 4, 14, 15, tzinfo=CST)
    answer = by_id["om_0b9e5c2d1a3f4e6d7c8b9a0f1e2d3c4b"]
    assert answer.role == "expert" and answer.reply_to == question.msg_id
    post = by_id["om_2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"]
    assert post.text == "盘点单审核后差异没有生成盘盈盘亏单，@李工(ERP管理员) 这个在哪里设置？\n[图片]"
    roles = {m.msg_id: m.role for m in messages}
    assert roles["om_5ce6d572455d361153b7cb51da133945"] == "bot"  # system: "… invited … to this chat."
    assert roles["om_3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b"] == "bot"  # an app's card
    assert by_id["om_5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d"].role == "bot"  # deleted = recalled
    assert by_id["om_7a3f0b3a1e2c4d5e6f708192a3b4c5d6"].text == "[表情]"


def test_feishu_threads_by_reply_and_by_mention():
    report = build_threads(load_feishu_messages(FEISHU, experts=frozenset({"李工"})))
    threads = {t.question.msg_id: t for t in report.resolved}
    assert set(threads) == {"om_dc13264520392913993dd051dba21dcf", "om_2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"}
    by_reply = threads["om_dc13264520392913993dd051dba21dcf"]
    assert by_reply.confirmation.msg_id == "om_1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
    by_mention = threads["om_2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a"]
    assert [m.msg_id for m in by_mention.answers] == ["om_4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c"]
    document = by_mention.to_document()
    assert document.text.startswith("在【库存管理→参数设置】")  # "@宋伟(仓库)" is not part of the answer
    assert not report.unresolved


def test_feishu_pages_and_api_errors(tmp_path):
    page = json.loads(FEISHU.read_text(encoding="utf-8"))
    path = tmp_path / "erp-warehouse.feishu.json"
    empty_page = {"code": 0, "data": {"items": [], "has_more": False}}
    path.write_text(json.dumps([page, empty_page]), encoding="utf-8")
    assert len(load_feishu_messages(path)) == 9
    path.write_text(json.dumps({"code": 99991663, "msg": "Invalid access token for authorization."}),
                    encoding="utf-8")
    with pytest.raises(SourceFormatError, match="Feishu error 99991663: Invalid access token"):
        load_feishu_messages(path)


# --- "姓名 时间" text export -------------------------------------------------------------------------------

def test_text_export_headers_date_variants_and_system_notices():
    messages = load_chat_text(TEXT, experts=frozenset({"李工", "王会计主管"}))
    assert [m.sender for m in messages] == ["张敏(财务)", "系统消息", "李工(ERP管理员)", "张敏(财务)", "刘洋(出纳)",
                                            "王会计主管", "刘洋(出纳)", "何芳(薪酬专员)"]
    times = [m.ts.strftime("%d %H:%M:%S") for m in messages[2:5]]
    assert times == ["05 09:20:00", "05 09:31:00", "05 10:05:00"]  # "2024/11/05 9:20", "2024年11月5日 10:05"
    assert all(m.ts.utcoffset() == timedelta(hours=8) for m in messages)
    assert [m.role for m in messages[:3]] == ["asker", "bot", "expert"]
    assert messages[0].text == "月结的时候提示“存在未过账凭证”，但凭证查询里看都过账了，怎么回事？\n[图片]"
    assert messages[2].text.endswith("暂存凭证。\n过账后就能结账。")  # multi-line content
    assert messages[4].text == "报销打款到卡号 [银行卡号] 被退回了，系统里怎么重新付款？"
    assert messages[0].msg_id.startswith("20241105091230-") and len({m.msg_id for m in messages}) == 8


def test_text_export_quote_links_the_reply():
    messages = load_chat_text(TEXT, experts=frozenset({"李工", "王会计主管"}))
    confirmation = messages[3]
    assert confirmation.text == "好了，找到了，谢谢！"  # the quoted original is not repeated
    assert confirmation.reply_to == messages[2].msg_id
    report = build_threads(messages)
    assert [(t.question.sender, [a.sender for a in t.answers]) for t in report.resolved] == [
        ("张敏(财务)", ["李工(ERP管理员)"]), ("刘洋(出纳)", ["王会计主管"])]
    assert report.resolved[0].confirmation is confirmation
    assert [t.question.sender for t in report.unresolved] == ["何芳(薪酬专员)"]


def test_text_export_ids_survive_a_longer_export(tmp_path):
    longer = tmp_path / "erp-dingtalk.2024-11.txt"
    longer.write_text("钱七(采购) 2024-11-05 08:00\n早\n\n" + TEXT.read_text(encoding="utf-8"), encoding="utf-8")
    assert {m.msg_id for m in load_chat_text(TEXT)} < {m.msg_id for m in load_chat_text(longer)}
    assert chat_group_name(longer) == "erp-dingtalk"


def test_text_export_errors(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("这只是一段备注，没有聊天记录。\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="no '姓名 2024-11-04 09:12:30' header lines"):
        load_chat_text(path)
    path.write_text("张敏(财务) 2024-13-04 09:12\n内容\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"notes.txt:1: bad date or time"):
        load_chat_text(path)


def test_gb18030_text_export(tmp_path):
    path = tmp_path / "erp-hr.txt"
    path.write_bytes("何芳(薪酬专员) 2024.11.12 14:10\n考勤汇总里加班工时是0怎么办\n".encode("gb18030"))
    [message] = load_chat_text(path)
    assert message.text == "考勤汇总里加班工时是0怎么办" and message.group == "erp-hr"


# --- shared --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("names", "text", "role"),
    [
        (["李工(ERP管理员)"], "改一下凭证日期", "expert"),  # listed as "李工"
        (["ligong", "李工(ERP管理员)"], "改一下凭证日期", "expert"),
        (["张三(仓库)"], "张三 撤回了一条消息", "bot"),
        (["系统消息"], "群公告已更新：月底前审核完单据", "bot"),
        (["张三(仓库)"], "调拨单审核报错", "asker"),
        (["张三(仓库)"], "新同事怎么加入群聊？", "asker"),  # about a notice, not a notice
    ],
)
def test_sender_roles(names, text, role):
    assert sender_role(names, text, frozenset({"李工"})) == role


def test_load_chat_picks_the_reader_by_file_name(tmp_path):
    assert len(load_chat(TEXT)) == 8 and len(load_chat(FEISHU)) == 9
    path = tmp_path / "export.html"
    path.write_text("<html></html>", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="not a chat file"):
        load_chat(path)
