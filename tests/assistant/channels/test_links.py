"""Links people can click (issue #16, point 9): a source link in a chat reply opens that one source of that one
tenant without an API key, until it expires; anything else about the link is a 403 page.

The reply comes from the real app over HTTP (a signed Feishu event → the fake Feishu records the card), and the
link is opened on the same server with no key, no cookie and no session.
"""

import base64
import logging
import os
import re
import stat
import time

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from assistant.app import create_app
from assistant.channels import ChannelService
from assistant.channels.messages import render_answer
from assistant.links import MAC_BYTES, MAX_TOKEN_CHARS, LinkRefusedError, SourceLinkSigner, link_signer, stored_secret
from tests.assistant.channels.test_feishu import _event, _signed
from tests.live_server import serve_in_thread

PUBLIC = "https://erp-assist.example.com"
LINK = re.compile(re.escape(PUBLIC) + r"(/s/[A-Za-z0-9_-]+)")
NOT_CLICKABLE = "links in chat will not be clickable"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _reply_links(fake, msg_id: str) -> list[str]:
    for _ in range(100):  # the reply is sent in a background task after the callback's 200
        sent = fake.sent(f"/open-apis/im/v1/messages/{msg_id}/reply")
        if sent:
            card = sent[0].body["content"]
            return LINK.findall(card)
        time.sleep(0.05)
    raise AssertionError("the bot never replied")


@pytest.fixture
def linked_settings(channel_settings):
    return channel_settings.model_copy(update={"channel_public_url": PUBLIC})


@pytest.fixture
def served(linked_settings, assistant):
    with serve_in_thread(create_app(linked_settings, assistant=assistant)) as base:
        yield base


def _ask(base: str, text: str, msg_id: str) -> None:
    body, headers = _signed(_event(text, msg_id))
    assert httpx.post(f"{base}/v1/channels/feishu", content=body, headers=headers).status_code == 200


def test_a_link_in_a_chat_reply_opens_its_source_without_a_key(served, fake, assistant):
    _ask(served, "出库单保存提示库存不足但实物有货", "om_link1")
    paths = _reply_links(fake, "om_link1")
    assert paths, "the reply has no signed source link"
    top = assistant.suggest("出库单保存提示库存不足但实物有货").suggestions[0].source
    with httpx.Client(base_url=served) as browser:  # a group member's browser: no key, no cookie
        page = browser.get(paths[0])
        assert page.status_code == 200, page.text
        assert top.uri in page.text and top.title in page.text
        assert "set-cookie" not in page.headers
        assert "/ui/queue" not in page.text and "退出" not in page.text  # no menu: nothing else is reachable
        assert browser.get("/ui/queue", follow_redirects=False).headers["location"] == "/ui/login"
        assert browser.get("/ui/sources", params={"uri": top.uri}, follow_redirects=False).status_code == 303


def test_tampered_expired_other_tenant_or_other_source_links_are_403(served, fake, linked_settings):
    _ask(served, "出库单保存提示库存不足但实物有货", "om_link2")
    path = _reply_links(fake, "om_link2")[0]
    token = path.removeprefix("/s/")
    data = _unb64(token)
    payload, mac = data[:-MAC_BYTES], data[-MAC_BYTES:]
    tenant, _, uri = payload[4:].partition(b"\0")
    assert tenant == b"" and uri.startswith(b"faq/")  # the default tenant; kb://faq/…
    other_tenant = payload[:4] + b"acme\0" + uri
    other_source = payload[:4] + b"\0" + "sop/月末结账".encode()
    later = (int.from_bytes(payload[:4], "big") + 86400 * 365).to_bytes(4, "big") + payload[4:]
    flipped = bytearray(data)
    flipped[-1] ^= 1
    signer = link_signer(linked_settings)
    uri = b"kb://" + uri
    expired = signer.token(tenant="default", uri=uri.decode(), now=time.time() - 31 * 86400)
    elsewhere = SourceLinkSigner(b"another-installations-key", ttl_seconds=3600)
    foreign = elsewhere.token(tenant="default", uri=uri.decode())
    cases = {"tampered mac": _b64(bytes(flipped)), "other tenant": _b64(other_tenant + mac),
             "other source": _b64(other_source + mac), "longer life": _b64(later + mac),
             "signed elsewhere": foreign, "truncated": token[:-4], "not base64": token[:10] + "!*" + token[12:],
             "expired": expired, "oversized": "A" * (MAX_TOKEN_CHARS + 1)}
    with httpx.Client(base_url=served) as browser:
        assert browser.get(path).status_code == 200
        for case, bad in cases.items():
            page = browser.get(f"/s/{bad}")
            assert page.status_code == 403, case
            expected = "链接已过期" if case == "expired" else "链接无效"
            assert expected in page.text and 'id="refused"' in page.text, case
            assert uri.decode() not in page.text, case


def test_a_valid_link_of_another_tenant_never_shows_this_tenants_source(served, linked_settings):
    """A correctly signed link names its tenant: it opens that tenant's knowledge base or nothing."""
    signer = link_signer(linked_settings)
    with httpx.Client(base_url=served) as browser:
        page = browser.get("/s/" + signer.token(tenant="acme", uri="kb://faq/t-inv-1"))
        assert page.status_code == 503 and "t-inv-1" not in page.text
        gone = browser.get("/s/" + signer.token(tenant="default", uri="kb://faq/no-such-entry"))
        assert gone.status_code == 404 and "来源不存在" in gone.text


def test_without_a_public_url_links_stay_kb_text_and_start_up_warns_once(channel_settings, assistant, caplog):
    assert ChannelService(channel_settings).source_link_for() is None
    result = assistant.suggest("出库单保存提示库存不足但实物有货")
    _, markdown = render_answer(result, question_id=3, module_label="库存", drafts=1, bot_name="ERP助手",
                                public_url=None, mention=None)
    assert "`kb://" in markdown and "/s/" not in markdown
    with caplog.at_level(logging.WARNING):
        with TestClient(create_app(channel_settings, assistant=assistant)):
            pass
    warnings = [r.getMessage() for r in caplog.records if NOT_CLICKABLE in r.getMessage()]
    assert len(warnings) == 1 and "ERP_ASSIST_CHANNEL_PUBLIC_URL" in warnings[0]
    assert "dingtalk, feishu, wecom" in warnings[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        with TestClient(create_app(channel_settings.model_copy(update={"channel_public_url": PUBLIC}),
                                   assistant=assistant)):
            pass
        unconfigured = channel_settings.model_copy(update={
            "dingtalk_app_secret": None, "feishu_verification_token": None, "wecom_token": None,
            "wecom_robot_token": None})
        with TestClient(create_app(unconfigured, assistant=assistant)):
            pass
    assert not [r for r in caplog.records if NOT_CLICKABLE in r.getMessage()]


def test_the_generated_key_is_private_stable_and_yields_to_the_setting(tmp_path, channel_settings):
    path = tmp_path / "var" / "link-secret"
    first = stored_secret(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and len(first) >= 32
    assert stored_secret(path) == first  # the same key after a restart: links already sent keep working
    assert not [p for p in path.parent.iterdir() if p != path]  # no temporary file left behind
    settings = channel_settings.model_copy(update={"link_secret_path": path})
    token = link_signer(settings).token(tenant="default", uri="kb://faq/t-inv-1")
    assert link_signer(settings).verify(token).uri == "kb://faq/t-inv-1"
    configured = settings.model_copy(update={"link_secret": SecretStr("一个足够长的共享密钥-shared-by-all-workers")})
    with pytest.raises(LinkRefusedError):
        link_signer(configured).verify(token)  # ERP_ASSIST_LINK_SECRET, when set, is the key
    path.write_text("short\n")
    with pytest.raises(ValueError, match="ERP_ASSIST_LINK_SECRET"):
        stored_secret(path)


def test_links_are_short_enough_for_chat():
    signer = SourceLinkSigner(b"k" * 32, ttl_seconds=30 * 86400)
    uri = "kb://sop/月末结账操作规范#第三步：核对存货与总账差异"
    link = signer.url(PUBLIC, tenant="default", uri=uri)
    assert signer.verify(link.rsplit("/", 1)[1]).uri == uri
    assert len(link) < len(f"{PUBLIC}/ui/sources?uri=") + len(uri.encode()) * 3  # shorter than percent-encoding
    assert signer.verify(signer.token(tenant="acme", uri=uri)).tenant == "acme"
    with pytest.raises(ValueError, match="kb://"):
        signer.token(tenant="default", uri="https://docs.example/sop")
