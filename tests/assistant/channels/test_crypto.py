"""The platforms' signature and encryption schemes against their own documented samples."""

import base64
import hashlib
import hmac

import xml.etree.ElementTree as ET

import pytest
from wechatpy.enterprise.crypto import PrpCrypto, WeChatCrypto

from assistant.channels.crypto import (
    WeComCrypto,
    check_fresh,
    dingtalk_sign,
    feishu_decrypt,
    feishu_encrypt,
    feishu_signature,
)
from assistant.channels.errors import PayloadError, SignatureError
from tests.assistant.channels.conftest import load


def test_wecom_documented_url_verification_and_message_vectors():
    sample = load("wecom_official.json")
    crypto = WeComCrypto(sample["token"], sample["encoding_aes_key"], sample["corp_id"])
    for case, field in ((sample["verify_url"], "echostr"), (sample["message"], "encrypt")):
        assert crypto.signature(case["timestamp"], case["nonce"], case[field]) == case["msg_signature"]
        crypto.verify(case["msg_signature"], case["timestamp"], case["nonce"], case[field])
        assert crypto.decrypt(case[field]) == case["plaintext"]


def test_wecom_rejects_tampering_and_another_corp():
    sample = load("wecom_official.json")
    case = sample["message"]
    crypto = WeComCrypto(sample["token"], sample["encoding_aes_key"], sample["corp_id"])
    with pytest.raises(SignatureError):
        crypto.verify(case["msg_signature"], case["timestamp"], "1", case["encrypt"])
    with pytest.raises(SignatureError):
        crypto.verify(None, case["timestamp"], case["nonce"], case["encrypt"])
    with pytest.raises(SignatureError):  # the right key, but the message names another receive id
        WeComCrypto(sample["token"], sample["encoding_aes_key"], "ww-other-corp").decrypt(case["encrypt"])
    with pytest.raises((PayloadError, SignatureError)):  # a tampered body never decrypts to a message
        crypto.decrypt("AAAA" + case["encrypt"][4:])
    with pytest.raises(ValueError, match="43"):
        WeComCrypto("t", "short", "c")


def test_wecom_round_trip_uses_32_byte_blocks_and_the_documented_layout():
    sample = load("wecom_official.json")
    crypto = WeComCrypto(sample["token"], sample["encoding_aes_key"], sample["corp_id"])
    encrypted = crypto.encrypt("<xml>你好</xml>")
    raw = base64.b64decode(encrypted)
    # random(16) + len(4) + 15 bytes + corp id (18) = 53 → padded to 64, a multiple of 32 (not of 16 only)
    assert len(raw) == 64
    assert crypto.decrypt(encrypted) == "<xml>你好</xml>"


def test_wecom_group_robot_messages_carry_an_empty_receive_id():
    sample = load("wecom_official.json")
    robot = WeComCrypto(sample["token"], sample["encoding_aes_key"], "")
    # What WeCom sends a robot: wechatpy's crypto with receive id "" (群机器人回调: receiveid 传空字符串).
    encrypted = WeChatCrypto(sample["token"], sample["encoding_aes_key"], "")._encrypt_message(
        "<xml><MsgId>1</MsgId></xml>", "n", "1409659813", PrpCrypto)
    inner = ET.fromstring(encrypted).findtext("Encrypt")
    assert robot.decrypt(inner) == "<xml><MsgId>1</MsgId></xml>"
    with pytest.raises(SignatureError):  # the app's crypto refuses the robot's message, and the other way round
        WeComCrypto(sample["token"], sample["encoding_aes_key"], sample["corp_id"]).decrypt(inner)
    with pytest.raises(SignatureError):
        robot.decrypt(sample["message"]["encrypt"])


def test_feishu_documented_decrypt_vector():
    sample = load("feishu_official.json")
    assert feishu_decrypt(sample["encrypt_key"], sample["encrypt"]) == sample["plaintext"]
    with pytest.raises(SignatureError):
        feishu_decrypt("another key", sample["encrypt"])
    assert feishu_decrypt("k", feishu_encrypt("k", '{"a": "飞书"}')) == '{"a": "飞书"}'


def test_feishu_signature_is_plain_sha256_of_timestamp_nonce_key_body():
    body = b'{"encrypt":"abc"}'
    expected = hashlib.sha256(b"1700000000" + b"nonce-1" + b"test key" + body).hexdigest()
    assert feishu_signature("1700000000", "nonce-1", "test key", body) == expected


def test_dingtalk_sign_is_base64_hmac_sha256_of_timestamp_newline_secret():
    secret, timestamp = "this is secret", "1613630252678"
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    assert dingtalk_sign(secret, timestamp) == base64.b64encode(digest).decode()


def test_timestamps_older_or_newer_than_the_skew_are_replays():
    check_fresh("1000", now=1200, max_skew=300)
    check_fresh("1000000", now=1200, max_skew=300, millis=True)
    for stamp, millis in (("600", False), ("1600", False), ("600000", True), ("", False), ("abc", False)):
        with pytest.raises(SignatureError):
            check_fresh(stamp, now=1200, max_skew=300, millis=millis)


def test_feishu_decryption_agrees_with_lark_oapi():
    """Our Feishu AES (kept: importing lark-oapi costs seconds per worker) against the SDK's own cipher."""
    from lark_oapi.core.utils.decryptor import AESCipher

    sample = load("feishu_official.json")
    assert AESCipher(sample["encrypt_key"]).decrypt_str(sample["encrypt"]) == feishu_decrypt(
        sample["encrypt_key"], sample["encrypt"])
    sealed = feishu_encrypt("test key", '{"schema": "2.0", "飞书": true}')
    assert AESCipher("test key").decrypt_str(sealed) == '{"schema": "2.0", "飞书": true}'
