"""What the bot reads in an expert's message, and the answer it writes."""

import pytest

from assistant.channels.base import OutgoingReply
from assistant.channels.messages import (
    Command,
    is_question,
    parse_command,
    quoted_question_id,
    render_answer,
    split_quote,
    split_reply,
)


@pytest.mark.parametrize(("text", "expected"), [
    ("采纳", Command("accept", rank=1)),
    ("采纳第2条", Command("accept", rank=2)),
    ("用第2条", Command("accept", rank=2)),
    ("@ERP助手 选第三条。", Command("accept", rank=3)),
    ("#12 采纳", Command("accept", rank=1, question_id=12)),
    ("驳回", Command("reject")),
    ("都不对！", Command("reject")),
    ("更正：先审核入库单，再保存出库单。", Command("edit", answer="先审核入库单，再保存出库单。")),
    ("第2条改为：在【总账】里批量过账", Command("edit", rank=2, answer="在【总账】里批量过账")),
    ("不对，应该先反审核再改数量", Command("edit", answer="应该先反审核再改数量", explicit=False)),
    ("先在库位管理里解冻库位，再审核调拨单", Command("edit", answer="先在库位管理里解冻库位，再审核调拨单", explicit=False)),
    ("应该是哪个菜单里设置？", None),
    ("好的", None),
    ("我看一下", None),
    ("收到 👍", None),
])
def test_parse_command(text, expected):
    assert parse_command(text) == expected


def test_a_text_quote_of_the_bot_is_split_off_before_parsing():
    text = "「ERP助手：以下是知识库中的参考草稿」\n- - - - - - - - -\n用第1条"
    assert split_quote(text) == (("ERP助手", "以下是知识库中的参考草稿"), "用第1条")
    assert parse_command(text) == Command("accept", rank=1)


def test_questions_are_mentions_or_the_group_template():
    assert is_question("随便问问", mentions_bot=True)
    assert is_question("【问题】凭证过账报错 【截图】[图片]【期望结果】能正常过账", mentions_bot=False)
    assert not is_question("【问题】我这边也是", mentions_bot=False)
    assert not is_question("大家早上好", mentions_bot=False)


def test_answer_marks_every_draft_and_links_its_source(assistant):
    result = assistant.suggest("出库单保存提示库存不足但实物有货")
    title, markdown = render_answer(result, question_id=7, module_label="库存", drafts=1, bot_name="ERP助手",
                                    public_url="https://erp-assist.example", mention=None)
    assert title == "ERP助手 · 问题 #7"
    assert markdown.count("【待专家确认】") == 1
    assert "https://erp-assist.example/ui/sources?uri=kb%3A%2F%2Ffaq%2Ft-inv-1" in markdown
    assert "#7" in markdown and "库存" in markdown
    _, plain = render_answer(result, question_id=7, module_label="库存", drafts=3, bot_name="ERP助手",
                             public_url=None, mention=None)
    assert "`kb://faq/t-inv-1`" in plain and plain.count("【待专家确认】") == len(result.suggestions[:3])


def test_only_web_addresses_become_links_in_chat():
    from assistant.channels.messages import source_link

    public = "https://erp-assist.example"
    assert source_link("kb://sop/a#b", "https://docs.example/sop/a", public) == "https://docs.example/sop/a"
    for script in ("javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "JaVaScRiPt:alert(1)"):
        assert source_link("kb://sop/a#b", script, public) == f"{public}/ui/sources?uri=kb%3A%2F%2Fsop%2Fa%23b"
        assert source_link("kb://sop/a#b", script, None) is None


def test_a_reply_is_split_between_paragraphs_and_every_part_names_the_question():
    body = "**问题 #7** · 库存 · P1\n🚨 <@LiGong>\n\n**1.** " + "先核对批次。" * 30 + "\n来源：SOP\n\n**2.** 再审核入库单。"
    reply = OutgoingReply("ERP助手 · 问题 #7", body, ("LiGong",), urgent=True)
    fits = lambda r: len(r.markdown.encode()) <= 300  # noqa: E731
    parts = split_reply(reply, fits)
    assert len(parts) >= 3 and all(fits(p) for p in parts)
    assert parts[0].mention_user_ids == ("LiGong",) and all(p.mention_user_ids == () for p in parts[1:])
    assert all(p.markdown.startswith("**问题 #7**") for p in parts)
    assert parts[1].title == "ERP助手 · 问题 #7（续1）" and parts[1].markdown.split("\n")[0].endswith("（续1）")
    text = "".join(p.markdown.split("\n", 1)[1] if i else p.markdown for i, p in enumerate(parts))
    assert text.replace("\n", "") == body.replace("\n", "")  # nothing lost, nothing added but the heads
    assert split_reply(reply, lambda r: True) == [reply]


def test_a_quoted_answer_names_its_question():
    assert quoted_question_id("**问题 #12** · 库存 · P2\n以下是知识库中的参考草稿") == 12
    assert quoted_question_id("ERP助手 · 问题 #3") == 3
    assert quoted_question_id("第#3条") is None and quoted_question_id(None) is None


def test_a_link_maker_gives_sources_without_a_web_url_their_link():
    from assistant.channels.messages import source_link

    signed = lambda uri: f"https://erp-assist.example/s/{len(uri)}"  # noqa: E731 - stands in for the signer
    public = "https://erp-assist.example"
    assert source_link("kb://faq/t-inv-1", None, public, signed) == f"{public}/s/16"
    assert source_link("kb://sop/a", "https://docs.example/sop/a", None, signed) == "https://docs.example/sop/a"
