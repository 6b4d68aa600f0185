"""Feishu event subscription end to end: encrypted, signed events → real app → store, fake Feishu."""

import copy
import hashlib
import json
import time

from sqlalchemy import select

from assistant.channels.crypto import feishu_encrypt
from assistant.store import reviews
from tests.assistant.channels.conftest import history, load, stored_questions

KEY = "test key"
TOKEN = "rvaYgkND1GOiu5MM0E1rncYC6PLtF7JV"


def _event(text, msg_id, sender="ou_84aad35d084aa403a838cf73ee18467", parent_id="", mention_bot=True):
    event = copy.deepcopy(load("feishu_im_message_v2.json"))
    message = event["event"]["message"]
    message["content"] = json.dumps({"text": ("@_user_1 " if mention_bot else "") + text}, ensure_ascii=False)
    message["message_id"] = msg_id
    message["parent_id"] = parent_id
    message["create_time"] = str(int(time.time() * 1000))
    event["header"]["event_id"] = f"ev-{msg_id}"
    event["event"]["sender"]["sender_id"]["open_id"] = sender
    if not mention_bot:
        message["mentions"] = []
    return event


def _signed(plain: dict, *, timestamp=None, key=KEY, sign=True):
    body = json.dumps({"encrypt": feishu_encrypt(key, json.dumps(plain, ensure_ascii=False))}).encode()
    headers = {"content-type": "application/json"}
    if sign:
        timestamp = str(timestamp or int(time.time()))
        headers |= {"x-lark-request-timestamp": timestamp, "x-lark-request-nonce": "n-42",
                    "x-lark-signature": hashlib.sha256((timestamp + "n-42" + key).encode() + body).hexdigest()}
    return body, headers


def _post(client, plain, **kwargs):
    body, headers = _signed(plain, **kwargs)
    return client.post("/v1/channels/feishu", content=body, headers=headers)


def test_url_verification_echoes_the_challenge_only_for_our_token(channel_client):
    handshake = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    response = _post(channel_client, handshake, sign=False)
    assert response.status_code == 200 and response.json() == {"challenge": "ajls384kdjx98XX"}
    assert _post(channel_client, handshake | {"token": "someone-else"}, sign=False).status_code == 401


def test_question_gets_a_card_reply_and_an_expert_correction_becomes_an_edit(channel_client, channel_settings, fake):
    assert _post(channel_client, _event("出库单保存提示库存不足但实物有货", "om_q1")).status_code == 200
    [question] = stored_questions(channel_client)
    assert (question.asker, question.group_name) == ("张敏(仓库)", "erp-warehouse")
    assert len(fake.sent("/open-apis/auth/v3/tenant_access_token/internal")) == 1
    [reply] = fake.sent("/open-apis/im/v1/messages/om_q1/reply")
    assert reply.headers["authorization"] == "Bearer t-fake-tenant-token"
    card = json.loads(reply.body["content"])
    assert card["header"]["template"] == "blue" and card["header"]["title"]["content"].endswith(f"#{question.id}")
    assert "【待专家确认】" in card["elements"][0]["text"]["content"]

    # The expert answers by replying to the bot's card (Feishu gives its message id as parent_id).
    correction = "先用【即时库存查询】核对批次，再审核入库单后保存出库单。"
    event = _event(correction, "om_e1", sender="ou_expert_wang", parent_id="om_bot_1", mention_bot=False)
    assert _post(channel_client, event).status_code == 200
    with channel_client.app.state.store.connect() as conn:
        [review] = conn.execute(select(reviews)).all()
    assert (review.decision, review.suggestion_rank, review.edited_answer, review.reviewer) == (
        "edit", 1, correction, "王主管")
    lines = history(channel_settings, "erp-warehouse")
    assert [(m["msg_id"], m["role"], m["reply_to"]) for m in lines] == [
        ("om_q1", "asker", None), ("om_bot_1", "bot", "om_q1"), ("om_e1", "expert", "om_q1"),
        ("om_bot_2", "bot", "om_e1")]
    assert len(fake.sent("/open-apis/auth/v3/tenant_access_token/internal")) == 1  # the token is reused


def test_p1_card_is_red_and_mentions_the_expert_on_duty(channel_client, fake):
    _post(channel_client, _event("急！全厂出库单都保存不了，提示库存不足，车在门口等着发货", "om_p1"))
    card = json.loads(fake.sent("/open-apis/im/v1/messages/om_p1/reply")[0].body["content"])
    assert card["header"]["template"] == "red"
    assert "<at id=ou_expert_wang></at>" in card["elements"][0]["text"]["content"]


def test_unsigned_forged_or_stale_events_are_401_and_change_nothing(channel_client, channel_settings, fake):
    event = _event("出库单保存提示库存不足但实物有货", "om_bad")
    body, headers = _signed(event)
    forged = dict(headers, **{"x-lark-signature": "0" * 64})
    assert channel_client.post("/v1/channels/feishu", content=body, headers=forged).status_code == 401
    assert _post(channel_client, event, sign=False).status_code == 401
    assert _post(channel_client, event, timestamp=int(time.time()) - 301).status_code == 401
    assert _post(channel_client, event, key="another key").status_code == 401
    wrong_token = copy.deepcopy(event)
    wrong_token["header"]["token"] = "not-ours"
    assert _post(channel_client, wrong_token).status_code == 401
    assert channel_client.post("/v1/channels/feishu", content=b"[]", headers=headers).status_code == 401
    assert stored_questions(channel_client) == [] and fake.calls == []
    assert history(channel_settings, "erp-warehouse") == []


def test_plain_chatter_is_only_history(channel_client, channel_settings, fake):
    event = _event("今天下午三点仓库盘点，大家注意", "om_c1", mention_bot=False)
    assert _post(channel_client, event).status_code == 200
    assert stored_questions(channel_client) == [] and fake.calls == []
    [line] = history(channel_settings, "erp-warehouse")
    assert (line["sender"], line["role"], line["text"]) == ("张敏(仓库)", "asker", "今天下午三点仓库盘点，大家注意")


def test_rich_text_posts_and_v1_events_are_read_too(channel_client, fake):
    post = _event("", "om_post")
    post["event"]["message"]["message_type"] = "post"
    post["event"]["message"]["content"] = json.dumps({"zh_cn": {"title": "", "content": [[
        {"tag": "at", "user_id": "@_user_1", "user_name": "ERP助手"},
        {"tag": "text", "text": "出库单保存提示库存不足但实物有货"}]]}}, ensure_ascii=False)
    assert _post(channel_client, post).status_code == 200
    v1 = {"uuid": "u-1", "token": TOKEN, "ts": str(time.time()), "type": "event_callback",
          "event": {"type": "message", "msg_type": "text", "open_chat_id": "oc_v1", "open_id": "ou_v1",
                    "open_message_id": "om_v1", "is_mention": True, "chat_type": "group",
                    "text": "<at open_id=\"ou_bot\">@ERP助手</at> 账号密码输错被锁了怎么办",
                    "text_without_at_bot": "账号密码输错被锁了怎么办"}}
    assert _post(channel_client, v1).status_code == 200
    assert [(q.text, q.group_name) for q in stored_questions(channel_client)] == [
        ("出库单保存提示库存不足但实物有货", "erp-warehouse"), ("账号密码输错被锁了怎么办", "oc_v1")]
    assert len(fake.sent("/open-apis/im/v1/messages/om_v1/reply")) == 1
    assert _post(channel_client, v1 | {"token": "not-ours", "uuid": "u-2"}).status_code == 401


def test_long_connection_events_arrive_through_lark_oapi_ws_client(channel_settings, assistant, fake):
    """feishu_mode=websocket: lark-oapi's ws.Client asks the (fake) open platform for a websocket address,
    connects to a local websocket server, which pushes an im.message.receive_v1 event as Feishu does (a
    protobuf Frame); the SDK hands it to our handler, acknowledges it on the socket, and the answer goes out
    through the reply API."""
    import asyncio
    import threading

    from lark_oapi.ws.pb.pbbp2_pb2 import Frame
    from websockets.asyncio.server import serve

    from assistant.channels import ChannelService
    from assistant.channels.longconn import ChannelRunner, feishu_ws_client
    from assistant.store import open_store

    event = _event("出库单保存提示库存不足但实物有货", "om_ws1")
    event["header"]["token"] = ""  # the long connection sends no verification token
    acked = threading.Event()
    answers: list[Frame] = []

    async def push(websocket):
        frame = Frame(SeqID=1, LogID=1, service=1, method=1, payload=json.dumps(event, ensure_ascii=False).encode())
        for key, value in (("type", "event"), ("message_id", "ev-om_ws1"), ("trace_id", "t-1"), ("sum", "1"),
                           ("seq", "0")):
            header = frame.headers.add()
            header.key, header.value = key, value
        await websocket.send(frame.SerializeToString())
        while True:  # the SDK may send a control frame (ping) before its acknowledgement (a data frame)
            answer = Frame()
            answer.ParseFromString(await websocket.recv())
            if answer.method == 1:
                break
        answers.append(answer)
        acked.set()
        await websocket.wait_closed()

    ready = threading.Event()
    server_loop = asyncio.new_event_loop()

    async def run_server():
        async with serve(push, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            fake.ws_url = f"ws://127.0.0.1:{port}/ws?device_id=dev-1&service_id=1"
            ready.set()
            await asyncio.Future()

    threading.Thread(target=server_loop.run_until_complete, args=(run_server(),), daemon=True).start()
    assert ready.wait(10)

    settings = channel_settings.model_copy(update={"feishu_mode": "websocket", "feishu_verification_token": None})
    store = open_store(settings.database_url)
    runner = ChannelRunner(ChannelService(settings), assistant=lambda: assistant, store=store)
    client = feishu_ws_client(settings, runner, auto_reconnect=False)
    threading.Thread(target=client.start, daemon=True).start()
    assert acked.wait(30), "the SDK never acknowledged the event"
    runner.wait()
    [answer] = answers
    assert json.loads(answer.payload)["code"] == 200  # the SDK's ack: handled
    [endpoint] = fake.sent("/callback/ws/endpoint")
    assert endpoint.body == {"AppID": "cli_test_app", "AppSecret": "feishu-app-secret"}
    [reply] = fake.sent("/open-apis/im/v1/messages/om_ws1/reply")
    assert "【待专家确认】" in json.loads(reply.body["content"])["elements"][0]["text"]["content"]
    with store.connect() as conn:
        from assistant.store import questions

        [question] = conn.execute(select(questions)).all()
    assert (question.text, question.group_name) == ("出库单保存提示库存不足但实物有货", "erp-warehouse")
    runner.close()
