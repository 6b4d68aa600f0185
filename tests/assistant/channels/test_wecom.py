"""WeCom end to end, in both modes on one callback URL: the group robot (群机器人: @-mentions in ordinary groups,
answered through the callback's WebhookUrl) and the self-built app (one-to-one chats, message/send).

Callbacks are encrypted and signed by wechatpy's WeCom crypto, as WeCom does: the app's with the corp id as
receive id, the robot's with an empty one.
"""

import re
import time
import xml.etree.ElementTree as ET

from sqlalchemy import select
from wechatpy.enterprise.crypto import WeChatCrypto

from assistant.store import reviews
from tests.assistant.channels.conftest import WECOM_ROBOT, history, load, stored_questions

SAMPLE = load("wecom_official.json")
APP = WeChatCrypto(SAMPLE["token"], SAMPLE["encoding_aes_key"], SAMPLE["corp_id"])
ROBOT = WeChatCrypto(WECOM_ROBOT[0], WECOM_ROBOT[1], "")  # group robots: an empty receive id
GROUP = "wrkSFfCgAALFgnrSsWU38puiv4yvExuw"
URGENT = "急！全厂出库单都保存不了，提示库存不足，车在门口等着发货"


def _sealed(crypto, plain, timestamp=None, nonce="1372623149"):
    """(query, Encrypt) as WeCom sends them: wechatpy encrypts and signs."""
    timestamp = str(timestamp or int(time.time()))
    sealed = ET.fromstring(crypto.encrypt_message(plain, nonce, timestamp))
    encrypted = sealed.findtext("Encrypt")
    return {"msg_signature": sealed.findtext("MsgSignature"), "timestamp": timestamp, "nonce": nonce}, encrypted


def robot_message(fake, content, msg_id, user="ZhangMin", name="张敏(仓库)", chat_type="group", chat=GROUP):
    xml = load("wecom_robot_text.xml").strip()
    xml = xml.replace("http://in.qyapi.weixin.qq.com/cgi-bin/webhook/send?key=WEBHOOK",
                      f"{fake.url}/cgi-bin/webhook/send?key={WECOM_ROBOT[2]}")
    xml = xml.replace("@ERP助手 出库单保存提示库存不足但实物有货", content).replace("CIGABBCOgP3qBRiR4vm7goCAAyAY", msg_id)
    xml = xml.replace("<UserId><![CDATA[ZhangMin]]>", f"<UserId><![CDATA[{user}]]>").replace("张敏(仓库)", name)
    return xml.replace("<ChatType>group</ChatType>", f"<ChatType>{chat_type}</ChatType>").replace(GROUP, chat)


def app_message(content, msg_id, user="ZhangMin"):
    xml = load("wecom_app_text.xml").strip().replace("账号密码输错被锁了怎么办", content)
    xml = xml.replace("4561255354251345929", msg_id).replace("<CreateTime>1409659813", f"<CreateTime>{int(time.time())}")
    return xml.replace("<FromUserName><![CDATA[ZhangMin]]>", f"<FromUserName><![CDATA[{user}]]>")


def post_robot(client, inner_xml, **kwargs):
    query, encrypted = _sealed(ROBOT, inner_xml, **kwargs)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    return client.post("/v1/channels/wecom", params=query, content=body.encode(), headers={"content-type": "text/xml"})


def post_app(client, inner_xml, **kwargs):
    query, encrypted = _sealed(APP, inner_xml, **kwargs)
    body = (f"<xml><ToUserName><![CDATA[{SAMPLE['corp_id']}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypted}]]></Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>")
    return client.post("/v1/channels/wecom", params=query, content=body.encode(), headers={"content-type": "text/xml"})


def test_url_verification_of_the_app_and_of_the_group_robot(channel_client):
    for crypto in (APP, ROBOT):
        query, echostr = _sealed(crypto, "1616140317555161061")
        response = channel_client.get("/v1/channels/wecom", params=query | {"echostr": echostr})
        assert response.status_code == 200 and response.text == "1616140317555161061"
        bad = query | {"echostr": echostr, "msg_signature": "0" * 40}
        assert channel_client.get("/v1/channels/wecom", params=bad).status_code == 401
    # The documented sample itself is correctly signed — but from 2014: a replay.
    v = SAMPLE["verify_url"]
    replay = {k: v[k] for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    assert channel_client.get("/v1/channels/wecom", params=replay).status_code == 401


def test_group_robot_question_is_answered_through_its_webhook_after_a_retry(channel_client, channel_settings, fake):
    fake.fail["/cgi-bin/webhook/send"] = 1
    response = post_robot(channel_client, robot_message(fake, "@ERP助手 出库单保存提示库存不足但实物有货", "m-1"))
    assert response.status_code == 200 and response.text == ""  # no passive reply: the answer goes via the webhook
    [question] = stored_questions(channel_client)
    assert (question.asker, question.group_name, question.text) == ("张敏(仓库)", GROUP, "出库单保存提示库存不足但实物有货")
    attempts = [c for c in fake.calls if c.path == "/cgi-bin/webhook/send"]
    assert [c.status for c in attempts] == [503, 200]
    body = attempts[1].body
    assert attempts[1].query == {"key": WECOM_ROBOT[2]}
    assert (body["chatid"], body["msgtype"]) == (GROUP, "markdown")
    assert "【待专家确认】" in body["markdown"]["content"] and f"问题 #{question.id}" in body["markdown"]["content"]
    assert fake.sent("/cgi-bin/gettoken") == []  # the robot needs no app token
    assert [m["role"] for m in history(channel_settings, GROUP)] == ["asker", "bot"]


def test_expert_rejects_in_the_group_by_question_number_and_a_second_decision_is_refused(channel_client, fake):
    post_robot(channel_client, robot_message(fake, "@ERP助手 出库单保存提示库存不足但实物有货", "m-2"))
    [question] = stored_questions(channel_client)
    post_robot(channel_client, robot_message(fake, f"@ERP助手 #{question.id} 驳回", "m-3", user="LiGong", name="李工"))
    post_robot(channel_client, robot_message(fake, f"@ERP助手 #{question.id} 采纳", "m-4", user="LiGong", name="李工"))
    with channel_client.app.state.store.connect() as conn:
        [review] = conn.execute(select(reviews)).all()
    assert (review.decision, review.reviewer, review.suggestion_rank) == ("reject", "李工", None)
    notes = [c.body["markdown"]["content"] for c in fake.sent("/cgi-bin/webhook/send")][1:]
    assert f"驳回了问题 #{question.id}" in notes[0]
    assert f"问题 #{question.id} 已处理（rejected）" in notes[1]


def test_app_direct_message_is_answered_with_message_send(channel_client, fake):
    assert post_app(channel_client, app_message("账号密码输错被锁了怎么办", "5")).status_code == 200
    [sent] = fake.sent("/cgi-bin/message/send")
    assert (sent.body["touser"], sent.body["agentid"], sent.body["msgtype"]) == ("ZhangMin", 1000002, "markdown")
    [question] = stored_questions(channel_client)
    assert question.group_name == "ZhangMin" and f"问题 #{question.id}" in sent.body["markdown"]["content"]


def test_an_expert_decides_a_group_question_from_a_direct_message(channel_client, channel_settings, fake):
    post_robot(channel_client, robot_message(fake, "@ERP助手 出库单保存提示库存不足但实物有货", "m-6"))
    [question] = stored_questions(channel_client)
    correction = "先用【即时库存查询】核对批次，再审核入库单后保存出库单。"
    assert post_app(channel_client, app_message(f"#{question.id} 更正：{correction}", "7", user="LiGong")).status_code == 200
    assert len(stored_questions(channel_client)) == 1  # not a new question by the expert
    with channel_client.app.state.store.connect() as conn:
        [review] = conn.execute(select(reviews)).all()
    assert (review.question_id, review.decision, review.edited_answer) == (question.id, "edit", correction)
    [confirmation] = fake.sent("/cgi-bin/message/send")
    assert confirmation.body["touser"] == "LiGong" and f"更正了问题 #{question.id}" in confirmation.body["markdown"]["content"]
    # The correction joins the question's thread in its group, for the nightly build.
    lines = history(channel_settings, GROUP)
    assert (lines[-1]["role"], lines[-1]["text"], lines[-1]["reply_to"]) == ("expert", correction, "m-6")


def test_a_p1_asked_in_a_direct_message_reaches_the_expert_on_duty(channel_client, fake):
    assert post_app(channel_client, app_message(URGENT, "8")).status_code == 200
    [question] = stored_questions(channel_client)
    assert question.urgency == "P1"
    sent = {c.body["touser"]: c.body["markdown"]["content"] for c in fake.sent("/cgi-bin/message/send")}
    assert set(sent) == {"ZhangMin", "LiGong"}  # the asker's answer and the expert's own alert
    assert "<@LiGong>" not in sent["ZhangMin"] and "已通知值班专家" in sent["ZhangMin"]
    assert f"P1 问题 #{question.id}" in sent["LiGong"] and "ZhangMin" in sent["LiGong"]


def test_an_alert_that_cannot_be_delivered_is_reported_to_the_asker(channel_settings, assistant, fake):
    from fastapi.testclient import TestClient

    from assistant.app import create_app

    settings = channel_settings.model_copy(update={"channel_expert_on_duty": {"wecom": "Departed"}})
    with TestClient(create_app(settings, assistant=assistant)) as client:
        assert post_app(client, app_message(URGENT, "12")).status_code == 200
        [question] = stored_questions(client)
    sent = [(c.body["touser"], c.body["markdown"]["content"]) for c in fake.calls if c.path == "/cgi-bin/message/send"]
    assert [to for to, _ in sent] == ["ZhangMin", "Departed", "ZhangMin"]
    assert f"未能通知值班专家，问题 #{question.id}" in sent[-1][1]


def test_a_robot_message_in_a_one_to_one_chat_pages_the_expert_through_the_app(channel_client, fake):
    single = robot_message(fake, URGENT, "m-9", chat_type="single", chat="wokSFfCgAAvBKmWMiwoJDzAJOVhg4Bbg")
    assert post_robot(channel_client, single).status_code == 200
    [alert] = fake.sent("/cgi-bin/message/send")
    assert alert.body["touser"] == "LiGong" and "P1 问题" in alert.body["markdown"]["content"]


def test_a_webhook_url_outside_wecom_is_never_called(channel_client, fake):
    inner = robot_message(fake, "@ERP助手 出库单保存提示库存不足但实物有货", "m-10")
    inner = re.sub(r"<WebhookUrl><!\[CDATA\[[^\]]*\]\]>", "<WebhookUrl><![CDATA[https://attacker.example/hook?key=x]]>",
                   inner)
    assert post_robot(channel_client, inner).status_code == 200
    assert len(stored_questions(channel_client)) == 1 and fake.calls == []


def test_forged_or_stale_posts_are_401(channel_client, fake):
    inner = robot_message(fake, "@ERP助手 出库单保存提示库存不足但实物有货", "m-11")
    assert post_robot(channel_client, inner, timestamp=int(time.time()) - 600).status_code == 401
    query, encrypted = _sealed(ROBOT, inner)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    assert channel_client.post("/v1/channels/wecom", params=query | {"nonce": "tampered"}, content=body).status_code == 401
    assert channel_client.post("/v1/channels/wecom", content=body).status_code == 401
    # Signed with the robot's token but encrypted for the app's receive id: not the robot's message.
    query, encrypted = _sealed(WeChatCrypto(WECOM_ROBOT[0], WECOM_ROBOT[1], SAMPLE["corp_id"]), inner)
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    assert channel_client.post("/v1/channels/wecom", params=query, content=body).status_code == 401
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
    assert response.status_code == 404 and "wecom_robot_token" in response.json()["detail"]


def test_a_robot_sharing_the_apps_token_is_told_apart_by_its_key(channel_settings, assistant, fake):
    from fastapi.testclient import TestClient

    from assistant.app import create_app

    settings = channel_settings.model_copy(update={"wecom_robot_token": SAMPLE["token"]})
    robot = WeChatCrypto(SAMPLE["token"], WECOM_ROBOT[1], "")
    query, encrypted = _sealed(robot, robot_message(fake, "@ERP助手 出库单保存提示库存不足但实物有货", "m-13"))
    with TestClient(create_app(settings, assistant=assistant)) as client:
        response = client.post("/v1/channels/wecom", params=query,
                               content=f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode())
        assert response.status_code == 200
        assert len(stored_questions(client)) == 1
    assert len(fake.sent("/cgi-bin/webhook/send")) == 1
