"""ChannelService without HTTP: what a message means, and how a review finds its question."""

from datetime import datetime, timedelta, timezone

import pytest

from assistant.channels import ChannelService, ChatHistory, IncomingMessage, make_adapter
from assistant.store import get_question, open_store

CN = timezone(timedelta(hours=8))


@pytest.fixture
def service(channel_settings):
    return ChannelService(channel_settings, adapters={})


@pytest.fixture
def store(channel_settings):
    engine = open_store(channel_settings.database_url)
    yield engine
    engine.dispose()


def message(text, msg_id, *, sender="张敏", group="erp-test", mentions_bot=False, reply_to=None, minutes=0,
            platform="feishu", direct=False):
    return IncomingMessage(platform=platform, msg_id=msg_id, chat_id="oc_x", group=group, sender=sender,
                           sender_id=sender, text=text, ts=datetime(2025, 3, 3, 9, minutes, tzinfo=CN),
                           mentions_bot=mentions_bot, reply_to=reply_to, reply_context={"message_id": msg_id},
                           direct=direct)


def test_the_history_index_survives_a_restart(service, store, channel_settings, assistant):
    asked = service.handle(message("出库单保存提示库存不足但实物有货", "q1", mentions_bot=True),
                           assistant=assistant, store=store)
    assert asked.kind == "question"
    service.history.append(msg_id="bot-1", group="erp-test", sender="ERP助手", role="bot",
                           ts=datetime(2025, 3, 3, 9, 1, tzinfo=CN), text=asked.reply.markdown, reply_to="q1",
                           question_id=asked.question_id)
    restarted = ChannelService(channel_settings, adapters={})
    assert restarted.history.question_of("erp-test", "bot-1") == asked.question_id
    reviewed = restarted.handle(message("第1条就行", "e1", sender="李工(ERP管理员)", reply_to="bot-1", minutes=5),
                                assistant=assistant, store=store)
    assert reviewed.kind == "review" and reviewed.review.decision == "accept"
    assert get_question(store, tenant="default", question_id=asked.question_id).reviews[0].reviewer == "李工"
    # The asker answering the bot's message stays in the question's thread for the nightly build.
    restarted.handle(message("好了，谢谢", "q1-thanks", reply_to="bot-1", minutes=6), assistant=assistant, store=store)
    assert restarted.history.question_of("erp-test", "q1-thanks") is None
    lines = (channel_settings.channel_chat_dir / "erp-test.jsonl").read_text(encoding="utf-8").splitlines()
    assert '"reply_to": "q1"' in lines[-1] and '"msg_id": "q1-thanks"' in lines[-1]


def test_what_an_expert_says_only_counts_as_a_review_when_it_is_one(service, store, assistant):
    asked = service.handle(message("账号密码输错被锁了怎么办", "q2", mentions_bot=True), assistant=assistant, store=store)
    holding = service.handle(message("我看一下", "e2", sender="李工", minutes=1), assistant=assistant, store=store)
    assert holding.kind == "history"
    unlinked = service.handle(message("这个要找IT服务台解锁账号", "e3", sender="李工", minutes=2),
                              assistant=assistant, store=store)
    assert unlinked.kind == "history"  # free text not replying to the bot is an ordinary answer
    elsewhere = service.handle(message(f"#{asked.question_id} 采纳", "e4", sender="李工", group="other", minutes=3),
                               assistant=assistant, store=store)
    assert elsewhere.kind == "history"  # another group cannot decide this group's question
    by_asker = service.handle(message("采纳", "a5", minutes=4), assistant=assistant, store=store)
    assert by_asker.kind == "history"  # only experts review
    assert get_question(store, tenant="default", question_id=asked.question_id).status == "open"
    rank = service.handle(message(f"#{asked.question_id} 用第9条", "e6", sender="李工", minutes=5), assistant=assistant, store=store)
    assert "没有第9条草稿" in rank.reply.markdown


def test_an_empty_mention_gets_a_hint_not_a_question(service, store, assistant):
    outcome = service.handle(message("", "q3", mentions_bot=True), assistant=assistant, store=store)
    assert outcome.kind == "history" and "【问题】" in outcome.reply.markdown and outcome.question_id is None


def test_adapters_by_name(channel_settings):
    assert make_adapter("wecom", channel_settings).name == "wecom"
    with pytest.raises(ValueError, match="dingtalk, feishu, wecom"):
        make_adapter("slack", channel_settings)


def test_history_files_are_safe_names_and_lines_are_the_chat_format(tmp_path):
    from indexer.loaders import load_chat_jsonl

    history = ChatHistory(tmp_path)
    ts = datetime(2025, 3, 3, 9, 0, tzinfo=CN)
    assert history.append(msg_id="m1", group="cid+a/b==", sender="张敏", role="asker", ts=ts, text="手机 13812345678",
                          question_id=3)
    assert not history.append(msg_id="m1", group="cid+a/b==", sender="张敏", role="asker", ts=ts, text="again")
    path = history.path("cid+a/b==")
    assert path.name == "cid_a_b.jsonl"
    [loaded] = load_chat_jsonl(path)  # the project's own loader reads it, masking PII as it goes
    assert (loaded.msg_id, loaded.group, loaded.role, loaded.text) == ("m1", "cid+a/b==", "asker", "手机 [手机号]")


def test_chatter_addressed_to_the_bot_gets_one_polite_line_and_pages_nobody(service, store, assistant):
    from assistant.channels.service import OFF_TOPIC_REPLY
    from assistant.store import list_queue

    lunch = service.handle(message("@ERP助手 今天食堂中午吃什么，急！", "c1", mentions_bot=True),
                           assistant=assistant, store=store)
    assert lunch.kind == "off_topic" and lunch.result.suggestions == []
    assert lunch.reply.markdown == OFF_TOPIC_REPLY and lunch.reply.mention_user_ids == () and not lunch.reply.urgent
    stored = get_question(store, tenant="default", question_id=lunch.question_id)
    assert stored.off_topic and stored.urgency == "P3"
    assert list_queue(store, tenant="default") == []
    # The group template without the bot addressed: turned away without a word.
    notice = service.handle(message("【问题】周五下午团建报名 【期望结果】大家接龙", "c2", minutes=1),
                            assistant=assistant, store=store)
    assert notice.kind == "off_topic" and notice.reply is None


def test_a_p1_in_a_one_to_one_chat_goes_to_the_expert_where_the_platform_can_send_it(channel_settings, store,
                                                                                   assistant):
    service = ChannelService(channel_settings)
    urgent = "急！全厂出库单都保存不了，提示库存不足，车在门口等着发货"
    feishu = service.handle(message(urgent, "p1-f", mentions_bot=True, direct=True, group="ou_asker"),
                            assistant=assistant, store=store)
    assert feishu.alert is not None and feishu.alert[0] == "ou_expert_wang"
    assert f"P1 问题 #{feishu.question_id}" in feishu.alert[1].markdown and feishu.reply.mention_user_ids == ()
    # A DingTalk robot without an app key (robotCode) cannot write to one user: the answer @-mentions as before.
    ding = service.handle(message(urgent, "p1-d", mentions_bot=True, direct=True, platform="dingtalk",
                                  group="cid-single"), assistant=assistant, store=store)
    assert ding.alert is None and ding.reply.mention_user_ids == ("ligong01",)
    # In a group the @-mention does it; nobody gets a second message.
    group = service.handle(message(urgent, "p1-g", mentions_bot=True), assistant=assistant, store=store)
    assert group.alert is None and group.reply.mention_user_ids == ("ou_expert_wang",)


def test_an_expert_reviews_from_a_one_to_one_chat_only_by_naming_the_question(service, store, assistant):
    asked = service.handle(message("出库单保存提示库存不足但实物有货", "q9", mentions_bot=True),
                           assistant=assistant, store=store)
    bare = service.handle(message("采纳", "d1", sender="李工", group="李工-dm", mentions_bot=True, direct=True,
                                  minutes=1), assistant=assistant, store=store)
    assert bare.kind == "ignored" and "采纳 #7" in bare.reply.markdown  # nothing in that chat to decide: a hint
    named = service.handle(message(f"采纳 #{asked.question_id}", "d2", sender="李工", group="李工-dm",
                                   mentions_bot=True, direct=True, minutes=2), assistant=assistant, store=store)
    assert named.kind == "review" and named.review.decision == "accept"
    assert get_question(store, tenant="default", question_id=asked.question_id).status != "open"
