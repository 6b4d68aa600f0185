"""WeCom callbacks end to end: URL verification, encrypted group messages, replies through the fake API."""

import hashlib
import time

from sqlalchemy import select

from assistant.channels.crypto import WeComCrypto
from assistant.store import reviews
from tests.assistant.channels.conftest import history, load, stored_questions

SAMPLE = load("wecom_official.json")
CRYPTO = WeComCrypto(SAMPLE["token"], SAMPLE["encoding_aes_key"], SAMPLE["corp_id"])
GROUP = "wrkSFfCgAAxxxxxx"


def _query(encrypted, timestamp=None, nonce="1372623149"):
    timestamp = str(timestamp or int(time.time()))
    signature = hashlib.sha1("".join(sorted([SAMPLE["token"], timestamp, nonce, encrypted])).encode()).hexdigest()
    return {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}


def _message(content, msg_id, user="ZhangMin", name="张敏(仓库)", chat=True):
    xml = load("wecom_group_text.xml").strip()
    xml = xml.replace("@ERP助手 出库单保存提示库存不足但实物有货", content).replace("7413285630124829187", msg_id)
    xml = xml.replace("ZhangMin", user).replace("张敏(仓库)", name)
    xml = xml.replace("<CreateTime>1409659813", f"<CreateTime>{int(time.time())}")
    if not chat:
        xml = xml.replace(f"<ChatId><![CDATA[{GROUP}]]></ChatId>", "")
    return xml


def _post(client, inner_xml, **query_kwargs):
    encrypted = CRYPTO.encrypt(inner_xml)
    body = (f"<xml><ToUserName><![CDATA[{SAMPLE['corp_id']}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>")
    return client.post("/v1/channels/wecom", params=_query(encrypted, **query_kwargs), content=body.encode(),
                       headers={"content-type": "text/xml"})


def test_url_verification_answers_the_decrypted_echostr(channel_client):
    echostr = CRYPTO.encrypt("1616140317555161061")
    response = channel_client.get("/v1/channels/wecom", params=_query(echostr) | {"echostr": echostr})
    assert response.status_code == 200 and response.text == "1616140317555161061"
    bad = _query(echostr) | {"echostr": echostr, "msg_signature": "0" * 40}
    assert channel_client.get("/v1/channels/wecom", params=bad).status_code == 401
    # The documented sample itself is correctly signed — but from 2014: a replay.
    v = SAMPLE["verify_url"]
    replay = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    assert channel_client.get("/v1/channels/wecom", params=replay).status_code == 401


def test_group_question_is_answered_with_appchat_send_after_a_retry(channel_client, channel_settings, fake):
    fake.fail["/cgi-bin/appchat/send"] = 1
    response = _post(channel_client, _message("@ERP助手 出库单保存提示库存不足但实物有货", "m-1"))
    assert response.status_code == 200 and response.text == "success"
    [question] = stored_questions(channel_client)
    assert (question.asker, question.group_name, question.text) == ("张敏(仓库)", GROUP, "出库单保存提示库存不足但实物有货")
    [token] = fake.sent("/cgi-bin/gettoken")
    assert token.method == "GET" and token.query == {"corpid": SAMPLE["corp_id"], "corpsecret": "wecom-corp-secret"}
    attempts = [c for c in fake.calls if c.path == "/cgi-bin/appchat/send"]
    assert [c.status for c in attempts] == [503, 200]
    body = attempts[1].body
    assert (body["chatid"], body["msgtype"], body["safe"]) == (GROUP, "markdown", 0)
    assert "【待专家确认】" in body["markdown"]["content"] and f"问题 #{question.id}" in body["markdown"]["content"]
    assert [m["role"] for m in history(channel_settings, GROUP)] == ["asker", "bot"]


def test_expert_rejects_by_question_number_and_a_second_decision_is_refused(channel_client, fake):
    _post(channel_client, _message("@ERP助手 出库单保存提示库存不足但实物有货", "m-2"))
    [question] = stored_questions(channel_client)
    _post(channel_client, _message(f"#{question.id} 驳回", "m-3", user="LiGong", name="李工"))
    _post(channel_client, _message(f"#{question.id} 采纳", "m-4", user="LiGong", name="李工"))
    with channel_client.app.state.store.connect() as conn:
        [review] = conn.execute(select(reviews)).all()
    assert (review.decision, review.reviewer, review.suggestion_rank) == ("reject", "李工", None)
    notes = [c.body["markdown"]["content"] for c in fake.sent("/cgi-bin/appchat/send")][1:]
    assert f"驳回了问题 #{question.id}" in notes[0]
    assert f"问题 #{question.id} 已处理（rejected）" in notes[1]


def test_direct_message_is_answered_with_message_send(channel_client, fake):
    assert _post(channel_client, _message("账号密码输错被锁了怎么办", "m-5", chat=False)).status_code == 200
    [sent] = fake.sent("/cgi-bin/message/send")
    assert (sent.body["touser"], sent.body["agentid"], sent.body["msgtype"]) == ("ZhangMin", 1000002, "markdown")


def test_forged_or_stale_posts_are_401(channel_client, fake):
    inner = _message("@ERP助手 出库单保存提示库存不足但实物有货", "m-6")
    assert _post(channel_client, inner, timestamp=int(time.time()) - 600).status_code == 401
    encrypted = CRYPTO.encrypt(inner)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    forged = _query(encrypted) | {"nonce": "tampered"}
    assert channel_client.post("/v1/channels/wecom", params=forged, content=body).status_code == 401
    assert channel_client.post("/v1/channels/wecom", content=body).status_code == 401
    assert stored_questions(channel_client) == [] and fake.calls == []


def test_an_unconfigured_platform_is_404(session_settings, assistant, tmp_path):
    from fastapi.testclient import TestClient

    from assistant.app import create_app
    from assistant.routes import channels

    settings = session_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'x.db'}"})
    app = create_app(settings, assistant=assistant)
    app.include_router(channels.router)
    with TestClient(app) as client:
        response = client.post("/v1/channels/wecom", content=b"<xml/>")
    assert response.status_code == 404 and "wecom_token" in response.json()["detail"]
