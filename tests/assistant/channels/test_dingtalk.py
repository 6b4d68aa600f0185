"""DingTalk outgoing robot end to end: signed callback → real app → store, chat history, fake DingTalk."""

import base64
import copy
import hashlib
import hmac
import json
import time

from sqlalchemy import select

from assistant.store import reviews
from tests.assistant.channels.conftest import history, load, stored_questions

SECRET = "dingtalk-app-secret"


def _headers(timestamp_ms: int, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return {"timestamp": str(timestamp_ms), "sign": base64.b64encode(digest).decode(),
            "content-type": "application/json"}


def _message(fake, text, msg_id, sender="张敏(仓库)", webhook=None):
    data = copy.deepcopy(load("dingtalk_text.json"))
    data["text"]["content"] = text
    data["msgId"] = msg_id
    data["senderNick"] = sender
    data["createAt"] = int(time.time() * 1000)
    data["sessionWebhook"] = webhook or f"{fake.url}/robot/sendBySession?session=abc123"
    return json.dumps(data, ensure_ascii=False).encode()


def _post(client, body, headers=None):
    return client.post("/v1/channels/dingtalk", content=body,
                       headers=headers or _headers(int(time.time() * 1000)))


def test_question_is_answered_in_the_group_stored_and_kept_as_history(channel_client, channel_settings, fake):
    response = _post(channel_client, _message(fake, " 出库单保存提示库存不足但实物有货", "msg-1"))
    assert response.status_code == 200
    [question] = stored_questions(channel_client)
    assert (question.asker, question.group_name, question.module) == ("张敏(仓库)", "ERP仓库群", "inventory")
    [sent] = fake.sent("/robot/sendBySession")
    assert sent.query == {"session": "abc123"}
    markdown = sent.body["markdown"]
    assert markdown["title"] == f"ERP助手 · 问题 #{question.id}"
    assert "【待专家确认】" in markdown["text"] and "kb://faq/t-inv-1" in markdown["text"]
    assert sent.body["at"] == {"atUserIds": [], "isAtAll": False}  # P2: nobody paged
    lines = history(channel_settings, "ERP仓库群")
    assert [(m["msg_id"], m["role"], m.get("question_id")) for m in lines] == [
        ("msg-1", "asker", question.id), ("msg-1-bot", "bot", question.id)]
    assert lines[0]["text"] == "出库单保存提示库存不足但实物有货" and lines[1]["reply_to"] == "msg-1"
    assert lines[0]["group"] == "ERP仓库群" and lines[0]["ts"].endswith("+08:00")


def test_bad_missing_or_stale_signature_is_401_and_nothing_is_processed(channel_client, channel_settings, fake):
    body = _message(fake, " 出库单保存提示库存不足但实物有货", "msg-x")
    now = int(time.time() * 1000)
    cases = [
        _headers(now, secret="not-the-secret"),
        {"content-type": "application/json"},
        {"timestamp": str(now), "content-type": "application/json"},
        _headers(now - 6 * 60 * 1000),  # a replay of a 6-minute-old callback, correctly signed
    ]
    for headers in cases:
        assert _post(channel_client, body, headers).status_code == 401
    assert stored_questions(channel_client) == []
    assert history(channel_settings, "ERP仓库群") == [] and fake.calls == []


def test_p1_pages_the_expert_on_duty_and_a_failed_send_is_retried(channel_client, fake):
    fake.fail["/robot/sendBySession"] = 1
    response = _post(channel_client, _message(fake, "急！全厂出库单都保存不了，提示库存不足，车在门口等着发货", "msg-p1"))
    assert response.status_code == 200
    [question] = stored_questions(channel_client)
    assert question.urgency == "P1"
    attempts = [c for c in fake.calls if c.path == "/robot/sendBySession"]
    assert [c.status for c in attempts] == [503, 200]
    assert attempts[1].body["at"]["atUserIds"] == ["ligong01"]
    assert "@ligong01" in attempts[1].body["markdown"]["text"]


def test_expert_accepts_in_the_group_and_a_resent_callback_is_ignored(channel_client, channel_settings, fake):
    asked = _message(fake, " 出库单保存提示库存不足但实物有货", "msg-q")
    assert _post(channel_client, asked).status_code == 200
    assert _post(channel_client, asked).status_code == 200  # DingTalk resends: one question only
    [question] = stored_questions(channel_client)
    assert _post(channel_client, _message(fake, " 采纳第1条", "msg-a", sender="李工(ERP管理员)")).status_code == 200
    with channel_client.app.state.store.connect() as conn:
        [review] = conn.execute(select(reviews)).all()
    assert (review.question_id, review.decision, review.suggestion_rank, review.reviewer) == (
        question.id, "accept", 1, "李工")
    confirmation = fake.sent("/robot/sendBySession")[-1].body["markdown"]["text"]
    assert f"李工 采纳了问题 #{question.id} 的第1条草稿" in confirmation
    # The command is for the bot, not group knowledge: it is not added to the chat history.
    assert [m["msg_id"] for m in history(channel_settings, "ERP仓库群")] == ["msg-q", "msg-q-bot", "msg-a-bot"]


def test_a_session_webhook_outside_the_api_base_is_not_called(channel_client, fake):
    body = _message(fake, " 账号密码输错被锁了怎么办", "msg-w", webhook="https://attacker.example/robot/sendBySession")
    assert _post(channel_client, body).status_code == 200
    assert fake.sent("/robot/sendBySession") == []
    [signed] = fake.sent("/robot/send")  # the group robot webhook instead, signed with its 加签 secret
    assert signed.query["access_token"] == "robot-token" and {"timestamp", "sign"} <= signed.query.keys()


def _quoting(fake, text, msg_id, quoted_markdown, sender="李工(ERP管理员)"):
    """An expert's message quoting (引用) a bot answer: DingTalk sends text.isReplyMsg and text.repliedMsg with
    the quoted message's id and content (undocumented, as clients send it; the SDK keeps it in extensions)."""
    data = json.loads(_message(fake, text, msg_id, sender=sender))
    data["text"] |= {"isReplyMsg": True, "repliedMsg": {
        "msgType": "markdown", "msgId": "msgRobotAnswerUnknownToUs==", "senderId": "$:LWCP_v1:$robot",
        "createdAt": int(time.time() * 1000), "content": {"text": quoted_markdown}}}
    return json.dumps(data, ensure_ascii=False).encode()


def test_an_expert_quoting_the_older_of_two_answers_reviews_that_question(channel_client, fake):
    _post(channel_client, _message(fake, " 出库单保存提示库存不足但实物有货", "msg-old"))
    _post(channel_client, _message(fake, " 账号密码输错被锁了怎么办", "msg-new"))
    older, newer = stored_questions(channel_client)
    older_answer = fake.sent("/robot/sendBySession")[0].body["markdown"]["text"]
    assert f"问题 #{older.id}" in older_answer.split("\n", 1)[0]  # every answer names its question up front
    assert _post(channel_client, _quoting(fake, " 采纳", "msg-quote", older_answer)).status_code == 200
    with channel_client.app.state.store.connect() as conn:
        [review] = conn.execute(select(reviews)).all()
    assert (review.question_id, review.decision) == (older.id, "accept")
    assert newer.id != older.id


def test_stream_mode_frames_are_handled_through_the_sdk_client(channel_settings, assistant, fake):
    """A Stream frame as DingTalk pushes it over the websocket, routed by the SDK's own DingTalkStreamClient to
    our ChatbotHandler; the ack goes back on the (recorded) socket and the answer to the session webhook."""
    import asyncio

    import dingtalk_stream

    from assistant.channels import ChannelService
    from assistant.channels.longconn import ChannelRunner, dingtalk_stream_client
    from assistant.store import open_store

    settings = channel_settings.model_copy(update={"dingtalk_mode": "stream", "dingtalk_app_key": "dingxxxx"})
    store = open_store(settings.database_url)
    runner = ChannelRunner(ChannelService(settings), assistant=lambda: assistant, store=store)
    client = dingtalk_stream_client(settings, runner)

    class RecordedSocket:
        def __init__(self):
            self.frames = []

        async def send(self, frame):
            self.frames.append(json.loads(frame))

    client.websocket = RecordedSocket()
    data = json.loads(_message(fake, " 出库单保存提示库存不足但实物有货", "msg-stream"))
    frame = {"specVersion": "1.0", "type": "CALLBACK", "data": json.dumps(data, ensure_ascii=False),
             "headers": {"appId": "app-1", "connectionId": "conn-1", "contentType": "application/json",
                         "messageId": "frame-1", "time": str(int(time.time() * 1000)),
                         "topic": dingtalk_stream.ChatbotMessage.TOPIC}}
    asyncio.run(client.route_message(frame))
    [ack] = client.websocket.frames
    assert ack["code"] == 200 and ack["headers"]["messageId"] == "frame-1"
    [sent] = fake.sent("/robot/sendBySession")
    assert "【待专家确认】" in sent.body["markdown"]["text"]
    with store.connect() as conn:
        from sqlalchemy import select as sql_select

        from assistant.store import questions
        [question] = conn.execute(sql_select(questions)).all()
    assert question.text == "出库单保存提示库存不足但实物有货" and question.group_name == "ERP仓库群"
    # A frame whose data is not a robot message object is acknowledged as a bad request, not dropped.
    bad = {**frame, "data": "[1, 2]", "headers": {**frame["headers"], "messageId": "frame-2"}}
    asyncio.run(client.route_message(bad))
    assert [(f["code"], f["headers"]["messageId"]) for f in client.websocket.frames[1:]] == [(400, "frame-2")]
    # The HTTP callback is closed in Stream mode: a signed post is refused as not configured (HTTP 404).
    import pytest

    from assistant.channels import ChannelNotConfiguredError, RawCallback

    now = int(time.time() * 1000)
    callback = RawCallback("POST", {}, _headers(now), _message(fake, " 采纳", "msg-http"))
    with pytest.raises(ChannelNotConfiguredError, match="dingtalk_mode"):
        runner.service.adapter("dingtalk").receive(callback, now=now / 1000)
    runner.close()


def test_a_p1_asked_one_to_one_reaches_the_expert_on_duty_through_the_robot_api(channel_settings, assistant, fake):
    from fastapi.testclient import TestClient

    from assistant.app import create_app

    settings = channel_settings.model_copy(update={"dingtalk_app_key": "dingappkey"})
    data = json.loads(_message(fake, "急！全厂出库单都保存不了，提示库存不足，车在门口等着发货", "msg-dm-p1"))
    data["conversationType"] = "1"  # a one-to-one chat with the robot
    with TestClient(create_app(settings, assistant=assistant)) as client:
        assert _post(client, json.dumps(data, ensure_ascii=False).encode()).status_code == 200
        [question] = stored_questions(client)
    [answer] = fake.sent("/robot/sendBySession")
    assert answer.body["at"]["atUserIds"] == []  # an @ in a one-to-one chat would reach nobody
    [alert] = fake.sent("/v1.0/robot/oToMessages/batchSend")
    assert alert.body["userIds"] == ["ligong01"]
    assert f"P1 问题 #{question.id}" in json.loads(alert.body["msgParam"])["text"]
    assert len(fake.sent("/v1.0/oauth2/accessToken")) == 1
