"""Read group-chat history as exported by WeCom, Feishu and DingTalk/WeChat into ``ChatMessage`` objects.

Every reader returns messages with PII already masked (``indexer.pii``) and a role decided here:

- ``bot``: robots/apps (WeCom ``from`` starting with ``wb``, Feishu ``sender_type`` ``app``/``system``),
  system notices (sender "系统消息", "撤回了一条消息", "加入了群聊", recalls, consent records);
- ``expert``: a sender whose id, name, or name without its "(部门)" suffix is in ``experts``;
- ``asker``: everyone else.

Formats (``chats/`` in a knowledge-base directory). The file name up to its first dot names the chat group,
so links read ``kb://chat/<group>/<msg id>`` and successive exports of one group ("erp-it.2024-11.txt",
"erp-it.2024-12.txt") join into one history; a message in two overlapping exports is read once:

``*.wecom.json`` — WeCom 会话内容存档 (chat archive), messages as the Finance SDK returns them after
    decryption. A JSON array, an object with a ``chatdata``/``msg_list``/``messages`` list, or one object
    per line::

        {"msgid": "8924389745183749211_1730683152000", "action": "send", "from": "zhangmin",
         "tolist": ["ligong", "wangzhuguan"], "roomid": "wrHzF0CQAAd2d1mSbKmV1M6aZf8Q",
         "msgtime": 1730683152000, "msgtype": "text", "text": {"content": "凭证过账报错 错误码 10017"}}

    ``msgtime`` is in milliseconds. ``image``/``emotion``/``voice``/``video``/``file``/``link`` become
    "[图片]", "[表情]", "[语音]", "[视频]", "[文件] name", "[链接] title"; ``mixed`` joins its parts;
    ``revoke`` and ``agree`` are notices; ``action: switch`` records (企业切换日志) are not messages and
    are skipped. Still-encrypted ``chatdata`` (``encrypt_chat_msg``) is rejected with a hint. The archive
    only knows user ids: ``names`` maps them to display names (``@mentions`` in the text use names).

``*.feishu.json`` — Feishu/Lark ``GET /open-apis/im/v1/messages`` list responses: one response
    (``{"code": 0, "data": {"items": [...]}}``), a JSON array of pages, or a bare ``items`` list::

        {"message_id": "om_3f1c…", "msg_type": "text", "create_time": "1730683152000",
         "chat_id": "oc_5ad1…", "parent_id": "", "sender": {"id": "ou_7d8a…", "id_type": "open_id",
         "sender_type": "user"}, "body": {"content": "{\\"text\\":\\"@_user_1 先审核入库单\\"}"},
         "mentions": [{"key": "@_user_1", "id": "ou_12ab…", "name": "马超(仓库)"}]}

    ``body.content`` is a JSON string per ``msg_type`` (``text``, ``post`` rich text, ``image``,
    ``sticker``, ``file``, ``system`` …); ``@_user_N`` keys are replaced by the mentioned names; the sender's
    name comes from ``names`` or from any mention of that id in the file. ``parent_id`` (else
    ``upper_message_id``) is the reply link; ``deleted`` messages become recall notices.

``*.txt`` — a window copied from DingTalk or WeChat: a header line "姓名 日期 时间", then the content
    lines, until the next header. Dates ``2024-11-04``, ``2024/11/4``, ``2024.11.04``, ``2024年11月4日``;
    times ``9:12`` or ``09:12:30``; local time (``tz``, China Standard Time by default). UTF-8 or GB18030.
    A quoted reply in WeChat's shape (``「张敏(财务)：原文…」`` then a ``- - - -`` line) links to the
    quoted message. A message's id is its time plus a hash of sender and text (``20241104091230-3f9a2c``),
    so it stays the same when a longer window is exported again::

        张敏(财务) 2024-11-04 09:12:30
        凭证过账报错 错误码 10017
        李工(ERP管理员) 2024/11/04 9:15
        @张敏 凭证日期在已结账期间，改成11月的日期再过账
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any

from indexer.errors import SourceFormatError
from indexer.pii import mask_pii
from indexer.threads import ChatMessage

__all__ = [
    "CHINA_TZ",
    "SYSTEM_SENDERS",
    "chat_group_name",
    "chat_reader",
    "is_system_notice",
    "load_chat_text",
    "load_feishu_messages",
    "load_wecom_archive",
    "masked",
    "sender_role",
]

# China has no daylight saving time, so a fixed offset is exact and needs no tz database.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")
SYSTEM_SENDERS = frozenset({"系统消息", "系统通知", "群助手", "system"})
# Whole notices only, never questions: "新同事怎么加入群聊？" is a message, "张三 加入了群聊" is not.
_SYSTEM_TEXT = re.compile(
    r"^(?!.*[?？])(?:.{0,80}(?:撤回了一条消息|加入了群聊|退出了群聊|移出了群聊|被移出群聊|成为新群主)"
    r"|.{0,30}拍了拍.{0,40}|.{0,30}修改群名为.{0,40}|群公告已更新.*|This message was recalled\.?)$",
    re.S,
)
_SUFFIXES = {".wecom.json": "wecom", ".wecom.jsonl": "wecom", ".feishu.json": "feishu",
             ".feishu.jsonl": "feishu", ".txt": "text"}


def is_system_notice(text: str) -> bool:
    """Join/leave/recall/rename notices a chat client writes into the stream."""
    return bool(_SYSTEM_TEXT.match(text.strip()))


def _base_name(name: str) -> str:
    """"张敏(财务)" → "张敏": the department suffix people add to their group nickname."""
    return re.split(r"[(（\[【]", name, maxsplit=1)[0].strip()


def sender_role(names: Iterable[str], text: str, experts: frozenset[str], *, bot: bool = False) -> str:
    """``bot``, ``expert`` or ``asker`` for a sender known by ``names`` (id, display name…)."""
    names = [n for n in names if n]
    if bot or any(n in SYSTEM_SENDERS for n in names) or is_system_notice(text):
        return "bot"
    if any(n in experts or _base_name(n) in experts for n in names):
        return "expert"
    return "asker"


def masked(message: ChatMessage) -> ChatMessage:
    """The message with PII masked in its text and sender (user ids are often phone numbers)."""
    return replace(message, text=mask_pii(message.text), sender=mask_pii(message.sender))


def chat_group_name(path: Path) -> str:
    """Group of an export file: its name up to the first dot ("erp-it.2024-11.wecom.json" → "erp-it")."""
    return path.name.split(".", 1)[0] or path.stem


def chat_reader(path: Path) -> str | None:
    """Which export reader handles ``path``: ``wecom``, ``feishu``, ``text``, or None."""
    name = path.name
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return _SUFFIXES[suffix]
    return None


# ---------------------------------------------------------------------------------------------------------
# Shared helpers


@dataclass
class _Draft:
    """A message before quotes are linked and roles decided."""

    msg_id: str
    group: str
    sender: str
    aliases: tuple[str, ...]
    ts: datetime
    text: str
    reply_to: str | None = None
    bot: bool = False
    quote: tuple[str, str] | None = None  # (quoted sender, quoted text)


_QUOTE = re.compile(r"^「(?P<who>[^：:」\n]{1,40})[：:](?P<what>.*?)」\s*\n\s*-(?:\s*-){3,}\s*\n?", re.S)


def _split_quote(text: str) -> tuple[tuple[str, str] | None, str]:
    match = _QUOTE.match(text)
    if not match:
        return None, text
    return (match["who"].strip(), match["what"].strip()), text[match.end():].strip()


def _link_quotes(drafts: list[_Draft]) -> None:
    """A WeChat-style quote replies to the latest earlier message of the quoted sender with that text."""
    for i, draft in enumerate(drafts):
        if draft.quote is None or draft.reply_to:
            continue
        who, what = draft.quote
        snippet = re.sub(r"(\.\.\.|…)+$", "", what).strip()[:12]
        for earlier in reversed(drafts[:i]):
            names = {earlier.sender, _base_name(earlier.sender), *earlier.aliases}
            if (who in names or _base_name(who) in names) and snippet in earlier.text:
                draft.reply_to = earlier.msg_id
                break


def _finish(drafts: list[_Draft], experts: frozenset[str]) -> list[ChatMessage]:
    _link_quotes(drafts)
    messages = []
    for d in drafts:
        role = sender_role((d.sender, *d.aliases), d.text, experts, bot=d.bot)
        message = ChatMessage(d.msg_id, d.group, d.sender, role, d.ts, d.text, d.reply_to or None)
        messages.append(masked(message))
    return messages


# What a record of the wrong shape raises while it is read.
_BAD_RECORD = (KeyError, TypeError, ValueError, OverflowError, AttributeError)


def _from_millis(value: Any, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, tz)


def _read_json_records(path: Path) -> list[Any]:
    """A JSON document, or JSON Lines when the file is not one document."""
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{path}: not UTF-8 text ({exc})") from exc
    try:
        return [json.loads(raw)]
    except json.JSONDecodeError as whole_error:
        records = []
        for line_no, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if line_no == 1:
                    raise SourceFormatError(f"{path}: not JSON ({whole_error})") from exc
                raise SourceFormatError(f"{path}:{line_no}: not JSON ({exc})") from exc
        return records


def _group_of(ids: set[str], path: Path) -> Callable[[str], str]:
    """One chat per file → the file's group name; an archive mixing chats keeps each chat's own id."""
    if len(ids - {""}) <= 1:
        group = chat_group_name(path)
        return lambda _chat_id: group
    return lambda chat_id: chat_id or chat_group_name(path)


def _safe_id(raw: Any) -> str:
    # Message ids end up in kb://chat/<group>/<id> links; WeCom ids may be base64 with "/".
    return str(raw).replace("/", "%2F")


# ---------------------------------------------------------------------------------------------------------
# WeCom 会话内容存档


_WECOM_NOTICE_TYPES = {"revoke": "撤回了一条消息", "agree": "同意会话内容存档", "disagree": "不同意会话内容存档"}
_WECOM_PLACEHOLDERS = {"image": "[图片]", "emotion": "[表情]", "voice": "[语音]", "video": "[视频]",
                       "card": "[名片]", "redpacket": "[红包]", "external_redpacket": "[红包]",
                       "sphfeed": "[视频号]", "voiptext": "[通话]", "meeting_voice_call": "[通话]",
                       "voip_doc_share": "[文档共享]", "qydiskfile": "[微盘文件]"}


def _wecom_records(path: Path) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for document in _read_json_records(path):
        items = document
        if isinstance(document, dict):
            if document.get("errcode"):
                raise SourceFormatError(f"{path}: WeCom error {document.get('errcode')}: "
                                        f"{document.get('errmsg')}")
            for key in ("chatdata", "msg_list", "messages"):
                if isinstance(document.get(key), list):
                    items = document[key]
                    break
            else:
                items = [document]
        if not isinstance(items, list):
            raise SourceFormatError(f"{path}: expected WeCom archive messages (objects with msgid, msgtype)")
        for item in items:
            if not isinstance(item, dict):
                raise SourceFormatError(f"{path}: message #{len(records) + 1} is not a JSON object")
            records.append(item)
    return records


def _wecom_text(record: dict[str, Any]) -> str:
    msgtype = record.get("msgtype", "")
    body = record.get(msgtype) if isinstance(record.get(msgtype), dict) else {}
    if msgtype == "text":
        return str(body.get("content", ""))
    if msgtype in _WECOM_NOTICE_TYPES:
        return _WECOM_NOTICE_TYPES[msgtype]
    if msgtype in _WECOM_PLACEHOLDERS:
        return _WECOM_PLACEHOLDERS[msgtype]
    if msgtype == "markdown":
        return str((record.get("info") or {}).get("content", ""))
    if msgtype == "news":
        items = (record.get("info") or {}).get("item") or []
        return "\n".join(f"[图文] {i.get('title', '')}" for i in items if isinstance(i, dict)) or "[图文]"
    if msgtype == "mixed":
        parts = []
        for item in (body or {}).get("item") or []:
            content = item.get("content")
            if isinstance(content, str):
                try:
                    content = json.loads(content)
                except json.JSONDecodeError:
                    content = {"content": content}
            parts.append(_wecom_text({"msgtype": item.get("type", ""), item.get("type", ""): content or {}}))
        return " ".join(p for p in parts if p)
    titled = {"file": ("[文件]", "filename"), "link": ("[链接]", "title"), "weapp": ("[小程序]", "title"),
              "chatrecord": ("[聊天记录]", "title"), "docmsg": ("[在线文档]", "title"),
              "todo": ("[待办]", "title"), "vote": ("[投票]", "votetitle"), "calendar": ("[日程]", "title"),
              "meeting": ("[会议]", "topic"), "location": ("[位置]", "address"), "collect": ("[填表]", "room_name")}
    if msgtype in titled:
        label, key = titled[msgtype]
        return f"{label} {body.get(key, '')}".strip()
    return "[其他消息]"


def load_wecom_archive(path: Path, *, experts: frozenset[str] = frozenset(),
                       names: Mapping[str, str] | None = None, tz: tzinfo = CHINA_TZ) -> list[ChatMessage]:
    """Messages of a decrypted WeCom 会话内容存档 export (see the module docstring)."""
    names = names or {}
    records = [r for r in _wecom_records(path) if r.get("action") != "switch"]
    group_of = _group_of({str(r.get("roomid") or "") for r in records}, path)
    drafts = []
    for n, record in enumerate(records, start=1):
        if "encrypt_chat_msg" in record and "msgtype" not in record:
            raise SourceFormatError(f"{path}: message #{n} is still encrypted; decrypt chatdata with the "
                                    "WeCom Finance SDK (DecryptData) before indexing")
        try:
            sender_id = str(record["from"])
            msgtype = str(record["msgtype"])
            quote, text = _split_quote(_wecom_text(record))
            bot = (record.get("action") == "recall" or msgtype in _WECOM_NOTICE_TYPES
                   or sender_id.startswith("wb"))  # robots' external ids start with "wb"
            drafts.append(_Draft(_safe_id(record["msgid"]), group_of(str(record.get("roomid") or "")),
                                 names.get(sender_id, sender_id), (sender_id,),
                                 _from_millis(record["msgtime"], tz), text, bot=bot, quote=quote))
        except _BAD_RECORD as exc:
            raise SourceFormatError(f"{path}: message #{n} is not a WeCom archive message with msgid, from, "
                                    f"msgtime (ms) and msgtype ({type(exc).__name__}: {exc})") from exc
    return _finish(drafts, experts)


# ---------------------------------------------------------------------------------------------------------
# Feishu im/v1/messages


_FEISHU_PLACEHOLDERS = {"image": "[图片]", "sticker": "[表情]", "audio": "[语音]", "media": "[视频]",
                        "share_chat": "[群名片]", "share_user": "[个人名片]", "merge_forward": "[合并转发]",
                        "hongbao": "[红包]", "location": "[位置]", "video_chat": "[视频会议]",
                        "calendar": "[日程]", "share_calendar_event": "[日程]", "todo": "[任务]", "vote": "[投票]"}


def _feishu_items(document: Any, path: Path) -> list[dict[str, Any]]:
    if isinstance(document, list):
        return [item for page in document for item in _feishu_items(page, path)]
    if not isinstance(document, dict):
        raise SourceFormatError(f"{path}: expected Feishu message-list responses or message objects")
    if document.get("code"):
        raise SourceFormatError(f"{path}: Feishu error {document['code']}: {document.get('msg')}")
    if "message_id" in document:
        return [document]
    data = document.get("data", document)
    items = data.get("items") if isinstance(data, dict) else None
    if items is None:
        raise SourceFormatError(f"{path}: no data.items list; expected an im/v1/messages list response")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SourceFormatError(f"{path}: data.items must be a list of message objects")
    return items


def _feishu_post_text(content: dict[str, Any], mention_names: Mapping[str, str]) -> str:
    # The list API returns post content without the locale level; sent/event payloads wrap it in "zh_cn".
    if "content" not in content:
        content = next((v for v in content.values() if isinstance(v, dict) and "content" in v), {})
    lines = [str(content.get("title") or "")] if content.get("title") else []
    for paragraph in content.get("content") or []:
        parts = []
        for node in paragraph if isinstance(paragraph, list) else []:
            tag = node.get("tag")
            if tag in ("text", "a", "md", "code_block"):
                parts.append(str(node.get("text", "")))
            elif tag == "at":
                key = str(node.get("user_id", ""))
                parts.append("@" + (node.get("user_name") or mention_names.get(key) or key))
            elif tag == "img":
                parts.append("[图片]")
            elif tag == "media":
                parts.append("[视频]")
            elif tag == "emotion":
                parts.append("[表情]")
        lines.append("".join(parts))
    return "\n".join(line for line in lines if line)


def _feishu_system_text(content: dict[str, Any]) -> str:
    template = str(content.get("template", ""))
    for key, value in content.items():
        if key != "template":
            shown = "、".join(map(str, value)) if isinstance(value, list) else str(value)
            template = template.replace("{" + key + "}", shown)
    return template or "系统消息"


def _feishu_text(item: dict[str, Any], mention_names: Mapping[str, str]) -> str:
    msg_type = str(item.get("msg_type", ""))
    raw = (item.get("body") or {}).get("content", "")
    try:
        content = json.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
    except json.JSONDecodeError:
        content = {"text": raw}
    if not isinstance(content, dict):
        content = {"text": str(content)}
    if msg_type == "text":
        text = str(content.get("text", ""))
        for key in sorted(mention_names, key=len, reverse=True):  # @_user_10 before @_user_1
            text = text.replace(key, "@" + mention_names[key])
        return text.replace("@_all", "@所有人")
    if msg_type == "post":
        return _feishu_post_text(content, mention_names)
    if msg_type == "system":
        return _feishu_system_text(content)
    if msg_type == "file":
        return f"[文件] {content.get('file_name', '')}".strip()
    if msg_type == "interactive":
        title = content.get("title") or ((content.get("header") or {}).get("title") or {}).get("content", "")
        return f"[卡片] {title}".strip()
    return _FEISHU_PLACEHOLDERS.get(msg_type, "[其他消息]")


def load_feishu_messages(path: Path, *, experts: frozenset[str] = frozenset(),
                         names: Mapping[str, str] | None = None, tz: tzinfo = CHINA_TZ) -> list[ChatMessage]:
    """Messages of saved Feishu ``im/v1/messages`` list responses (see the module docstring)."""
    items = [i for document in _read_json_records(path) for i in _feishu_items(document, path)]
    directory: dict[str, str] = {}
    for item in items:  # every mention tells us one id → name
        mentions = item.get("mentions")
        for mention in mentions if isinstance(mentions, list) else []:
            mention_id = mention.get("id") if isinstance(mention, dict) else None
            mention_id = mention_id.get("open_id") if isinstance(mention_id, dict) else mention_id
            if mention_id and mention.get("name"):
                directory.setdefault(str(mention_id), str(mention["name"]))
    directory.update(names or {})
    group_of = _group_of({str(i.get("chat_id") or "") for i in items}, path)
    drafts = []
    for n, item in enumerate(items, start=1):
        try:
            sender = item.get("sender") or {}
            sender_id = str(sender.get("id") or "")
            mentions = item.get("mentions") or []
            mention_names = {str(m["key"]): str(m.get("name")) for m in mentions if m.get("key")}
            deleted = bool(item.get("deleted"))
            quote, text = _split_quote("撤回了一条消息" if deleted else _feishu_text(item, mention_names))
            bot = deleted or sender.get("sender_type") in ("app", "system") \
                or item.get("msg_type") == "system"
            reply_to = item.get("parent_id") or item.get("upper_message_id") or None
            drafts.append(_Draft(_safe_id(item["message_id"]), group_of(str(item.get("chat_id") or "")),
                                 directory.get(sender_id, sender_id) or "系统消息", (sender_id,),
                                 _from_millis(item["create_time"], tz), text,
                                 reply_to=_safe_id(reply_to) if reply_to else None, bot=bot, quote=quote))
        except _BAD_RECORD as exc:
            raise SourceFormatError(f"{path}: message #{n} is not a Feishu message with message_id, "
                                    f"create_time (ms) and body ({type(exc).__name__}: {exc})") from exc
    return _finish(drafts, experts)


# ---------------------------------------------------------------------------------------------------------
# "姓名 日期 时间" text copied from a DingTalk / WeChat window


_HEADER = re.compile(
    r"^(?P<name>[^\s：:，,。；;！!？?][^：:，,。；;！!？?]{0,39}?)\s+"
    r"(?P<y>\d{4})(?:[-/.](?P<m>\d{1,2})[-/.](?P<d>\d{1,2})|年(?P<m2>\d{1,2})月(?P<d2>\d{1,2})日)"
    r"\s*(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?\s*$"
)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Windows tools save Chinese text as GBK/GB18030
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceFormatError(f"{path}: neither UTF-8 nor GB18030 text")


def load_chat_text(path: Path, *, experts: frozenset[str] = frozenset(),
                   tz: tzinfo = CHINA_TZ) -> list[ChatMessage]:
    """Messages of a "姓名 日期 时间" + content text export (see the module docstring)."""
    group = chat_group_name(path)
    drafts: list[_Draft] = []
    body: list[str] = []

    def close() -> None:
        if drafts:
            quote, text = _split_quote("\n".join(body).strip())
            drafts[-1].text, drafts[-1].quote = text, quote

    for line_no, line in enumerate(_read_text(path).splitlines(), start=1):
        header = _HEADER.match(line.strip())
        if header is None:
            body.append(line)
            continue
        close()
        body = []
        try:
            month, day = int(header["m"] or header["m2"]), int(header["d"] or header["d2"])
            ts = datetime(int(header["y"]), month, day, int(header["H"]), int(header["M"]),
                          int(header["S"] or 0), tzinfo=tz)
        except ValueError as exc:
            raise SourceFormatError(f"{path}:{line_no}: bad date or time in {line.strip()!r} ({exc})") \
                from exc
        drafts.append(_Draft("", group, header["name"].strip(), (), ts, ""))
    close()
    for draft in drafts:
        digest = hashlib.sha256(f"{draft.sender}\x1f{draft.text}".encode()).hexdigest()[:6]
        draft.msg_id = f"{draft.ts:%Y%m%d%H%M%S}-{digest}"
    if not drafts:
        raise SourceFormatError(f"{path}: no '姓名 2024-11-04 09:12:30' header lines; not a chat text export")
    return _finish(drafts, experts)
