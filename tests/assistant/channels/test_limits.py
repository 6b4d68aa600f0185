"""Every reply fits the platform it goes to, and a send that fails for good is reported, not only logged.

The fake platform refuses what the real one refuses: WeCom markdown over 2,048 bytes (app) / 4,096 (robot)
with errcode 45002, DingTalk bodies over 20,000 bytes, Feishu card bodies over 30 KB.
"""

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from assistant.channels import ChannelService, IncomingMessage, make_adapter
from assistant.channels.messages import compose_answer, render_answer
from assistant.store import open_store
from tests.assistant.channels.conftest import WECOM_ROBOT

CN = timezone(timedelta(hours=8))
LONG = {"channel_reply_drafts": 10, "channel_reply_draft_chars": 5000,
        "channel_public_url": "https://erp-assist.example.internal/知识库/审核"}


@pytest.fixture
def store(channel_settings):
    engine = open_store(channel_settings.database_url)
    yield engine
    engine.dispose()


def incoming(platform, fake, text, msg_id, **context):
    contexts = {
        "wecom": {"webhook_url": f"{fake.url}/cgi-bin/webhook/send?key={WECOM_ROBOT[2]}", "chat_id": "wrkSFfCg"},
        "wecom_app": {"user_id": "ZhangMin"},
        "dingtalk": {"session_webhook": f"{fake.url}/robot/sendBySession?session=s1", "expires_ms": ""},
        "feishu": {"message_id": msg_id},
    }
    return IncomingMessage(platform=platform.removesuffix("_app"), msg_id=msg_id, chat_id="chat-1", group="erp-test",
                           sender="张敏", sender_id="ZhangMin", text=text, ts=datetime.now(CN), mentions_bot=True,
                           reply_context=context or contexts[platform], direct=platform == "wecom_app")


def long_answer(service, message, *, assistant, store):
    """The service's outcome for ``message``, answered from SOP sections twenty times as long as the test
    corpus's (real knowledge bases have them), composed as the service composes every answer."""
    outcome = service.handle(message, assistant=assistant, store=store)
    result = outcome.result
    result = replace(result, suggestions=[replace(s, draft=(s.draft + "；") * 20) for s in result.suggestions])
    adapter = service.adapter(message.platform)
    replies = compose_answer(result, question_id=outcome.question_id, module_label="库存",
                             drafts=service.settings.channel_reply_drafts, bot_name="ERP助手",
                             public_url=service.settings.channel_public_url, mention=None,
                             draft_chars=service.settings.channel_reply_draft_chars, fits=adapter.fits,
                             link_for=service.source_link_for())
    return replace(outcome, result=result, reply=replies[0], more=tuple(replies[1:]))


def _long_answer_texts(fake, platform):
    if platform.startswith("wecom"):
        path = "/cgi-bin/webhook/send" if platform == "wecom" else "/cgi-bin/message/send"
        return [c.body["markdown"]["content"] for c in fake.calls if c.path == path]
    if platform == "dingtalk":
        return [c.body["markdown"]["text"] for c in fake.calls if c.path == "/robot/sendBySession"]
    return [json.loads(c.body["content"])["elements"][0]["text"]["content"]
            for c in fake.calls if c.path.startswith("/open-apis/im/v1/messages")]


@pytest.mark.parametrize("platform", ["wecom", "wecom_app", "dingtalk", "feishu"])
def test_a_long_answer_is_cut_to_the_platform_limit_and_every_part_arrives(platform, channel_settings, assistant,
                                                                          store, fake):
    limits = {"wecom": 2048, "dingtalk": 900, "feishu": 1000}  # DingTalk and Feishu lowered to force splits
    settings = channel_settings.model_copy(update=LONG | {"channel_reply_max_bytes": limits})
    service = ChannelService(settings)
    adapter = service.adapter(platform.removesuffix("_app"))
    outcome = long_answer(service, incoming(platform, fake, "出库单保存提示库存不足但实物有货", "q-long"),
                          assistant=assistant, store=store)
    assert len(outcome.result.suggestions) >= 2
    delivery = service.deliver(outcome)
    assert delivery.failed == () and len(delivery.sent) == len(outcome.replies) >= 1
    assert all(c.status == 200 for c in fake.calls)
    texts = _long_answer_texts(fake, platform)
    assert len(texts) == len(outcome.replies)
    if platform in ("dingtalk", "feishu"):
        assert len(outcome.replies) >= 2
    for reply in outcome.replies:
        assert adapter.size(reply) <= limits[adapter.name]
        assert f"问题 #{outcome.question_id}" in reply.markdown.split("\n", 1)[0]  # each part names its question
    # Nothing of the drafts is lost by splitting; only excerpts are shortened, never below the floor.
    joined = "\n".join(texts)
    for suggestion in outcome.result.suggestions:
        assert suggestion.source.uri in joined or suggestion.source.title[:20] in joined


def test_wecom_markdown_over_2048_bytes_is_never_sent(channel_settings, assistant, store, fake):
    settings = channel_settings.model_copy(update=LONG)
    service = ChannelService(settings)
    outcome = long_answer(service, incoming("wecom_app", fake, "出库单保存提示库存不足但实物有货", "q-2048"),
                          assistant=assistant, store=store)
    _, full = render_answer(outcome.result, question_id=outcome.question_id, module_label="库存", drafts=10,
                            bot_name="ERP助手", public_url=settings.channel_public_url, mention=None, draft_chars=5000)
    assert len(full.encode()) > 2048  # the answer at full length is longer than one WeCom message
    assert service.deliver(outcome).failed == ()  # WeCom answers errcode 45002 to anything longer
    sent = [c for c in fake.calls if c.path == "/cgi-bin/message/send"]
    assert len(sent) == len(outcome.replies) >= 1
    assert all(len(c.body["markdown"]["content"].encode()) <= 2048 for c in sent)


def test_a_send_that_fails_for_good_is_reported_in_the_chat(channel_settings, assistant, store, fake, caplog):
    service = ChannelService(channel_settings)
    outcome = service.handle(incoming("dingtalk", fake, "出库单保存提示库存不足但实物有货", "q-fail"),
                             assistant=assistant, store=store)
    fake.fail["/robot/sendBySession"] = channel_settings.channel_send_attempts  # every retry of the answer fails
    delivery = service.deliver(outcome)
    assert len(delivery.failed) == 1 and "503" in delivery.failed[0] and delivery.reported
    attempts = [c for c in fake.calls if c.path == "/robot/sendBySession"]
    assert [c.status for c in attempts] == [503] * channel_settings.channel_send_attempts + [200]
    notice = attempts[-1].body["markdown"]["text"]
    assert f"问题 #{outcome.question_id} 的回复未能完整发出" in notice
    assert any("could not deliver" in r.message for r in caplog.records)
    # The failed answer is not in the chat history as if the group had seen it.
    assert not service.history.seen("erp-test", "q-fail-bot")


def test_every_golden_answer_fits_every_platform(channel_settings, assistant):
    """The golden questions, answered with a public URL set (signed links carry the uri, Chinese headings
    included): every message of every answer fits WeCom, DingTalk and Feishu."""
    settings = channel_settings.model_copy(update={"channel_public_url": "https://erp-assist.example.internal"})
    link_for = ChannelService(settings).source_link_for()
    adapters = [make_adapter(name, settings) for name in ("wecom", "dingtalk", "feishu")]
    longest = dict.fromkeys((a.name for a in adapters), 0)
    golden = [json.loads(line) for line in open("eval/data/golden.jsonl", encoding="utf-8")]
    for n, case in enumerate(golden):
        result = assistant.suggest(case["question"])
        for adapter in adapters:
            replies = compose_answer(result, question_id=n + 1, module_label="模块", drafts=3, bot_name="ERP助手",
                                     public_url=settings.channel_public_url, mention=adapter.mention("LiGong"),
                                     fits=adapter.fits, link_for=link_for)
            assert all(adapter.fits(r) for r in replies)
            assert "/s/" in replies[0].markdown or "`kb://" not in replies[0].markdown  # links are the signed ones
            longest[adapter.name] = max(longest[adapter.name], *(adapter.size(r) for r in replies))
    assert longest["wecom"] <= 2048 and longest["dingtalk"] <= 20000 and longest["feishu"] <= 30000
