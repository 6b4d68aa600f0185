"""What the bot reads in a group message and what it writes back, independent of the platform.

A message is a question when it @-mentions the bot or follows the group's template
"【问题】…【期望结果】…". An expert's message can be a review of a bot suggestion:

==========================================  =====================================================
expert writes                               recorded as
==========================================  =====================================================
采纳 · 确认 · 同意 · 正确 (· 第2条)           accept, rank 1 (or the rank named)
用第2条 · 第2条 · 选第三条                      accept, rank 2 / 3
驳回 · 不采纳 · 都不对                         reject
更正：<answer> · 第2条改为：<answer>           edit with the corrected answer (rank 1 / the rank named)
不对，<answer> (replying to the bot)          edit
other text replying to / quoting the bot      edit with that text
==========================================  =====================================================

"#12" anywhere names the question explicitly; otherwise the reply/quote decides, and a bare command
applies to the group's latest open question the bot answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import quote

from assistant.channels.base import OutgoingReply
from assistant.schemas import web_url
from erp_assist.domain import SuggestResult
from indexer.threads import is_holding_reply, is_noise

__all__ = [
    "Command",
    "compose_answer",
    "is_question",
    "parse_command",
    "quoted_question_id",
    "render_answer",
    "source_link",
    "split_quote",
    "split_reply",
]

QUESTION_TEMPLATE = re.compile(r"【\s*问题\s*】.+?【\s*期望结果\s*】", re.DOTALL)
_NUM = r"([0-9]{1,2}|[一二两三四五六七八九十])"
_CN_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_QUESTION_ID = re.compile(r"#\s?(\d{1,9})")
_MENTION = re.compile(r"@[^\s@，,:：]{1,20}|<at[^>]*>.*?</at>|<@[^>]+>")
_ACCEPT = re.compile(rf"^(?:采纳|确认|同意|正确|没问题)(?:第?\s*{_NUM}\s*条)?(?:吧|了|即可)?$")
_USE_RANK = re.compile(rf"^(?:采纳|用|选|就用)?\s*第\s*{_NUM}\s*条(?:草稿|答案)?(?:吧|即可|就行|可以|正确|没问题)?$")
_REJECT = re.compile(r"^(?:驳回|不采纳|都不对|都不行|答案不对|不对|错误|不正确)$")
_EDIT_PREFIX = re.compile(
    r"^(?:(?:更正|纠正|修正|正确答案)\s*[：:，,]|(?:正确答案|应该是|应为|改为|改成)\s*[：:])\s*(?P<answer>.+)$", re.DOTALL)
_EDIT_RANK = re.compile(rf"^第\s*{_NUM}\s*条\s*(?:改为|改成|应为|应该是|更正为)\s*[：:，,]?\s*(?P<answer>.+)$", re.DOTALL)
_EDIT_NOT = re.compile(r"^(?:不对|不是|错了)\s*[，,。！!；;\s]\s*(?P<answer>.+)$", re.DOTALL)
# WeChat/WeCom-style text quote: 「张三：原文」 then a line of dashes.
_QUOTE = re.compile(r"^「(?P<who>[^：:」\n]{1,40})[：:](?P<what>.*?)」\s*\n\s*-(?:\s*-){3,}\s*\n?", re.DOTALL)
_MIN_EDIT_CHARS = 6
_PUNCT = " \t\r\n。.!！~～，,;；、"
_DRAFT_CHARS = 160
# How every bot answer names its question ("问题 #12"): in the title and the first line, so that a quote of the
# answer (DingTalk sends the quoted text, not an id we know) still says which question it was.
_ANSWER_REF = re.compile(r"问题\s*#\s?(\d{1,9})")


def is_question(text: str, mentions_bot: bool) -> bool:
    return mentions_bot or bool(QUESTION_TEMPLATE.search(text))


def split_quote(text: str) -> tuple[tuple[str, str] | None, str]:
    """(quoted sender, quoted text) of a text quote and the rest of the message."""
    match = _QUOTE.match(text.strip())
    if not match:
        return None, text
    return (match["who"].strip(), match["what"].strip()), text.strip()[match.end():].strip()


@dataclass(frozen=True)
class Command:
    decision: Literal["accept", "edit", "reject"]
    rank: int | None = None
    answer: str | None = None
    question_id: int | None = None
    # Said in so many words ("采纳", "更正：…"): may apply to the latest open question without a reply link.
    explicit: bool = True


def _rank(value: str | None) -> int | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else _CN_DIGITS[value]


def parse_command(text: str) -> Command | None:
    """The review an expert's message expresses, or None when it is not one."""
    _, body = split_quote(text)
    found = _QUESTION_ID.search(body)
    question_id = int(found.group(1)) if found else None
    body = _QUESTION_ID.sub(" ", _MENTION.sub(" ", body))
    body = re.sub(r"[ \t\u2005]+", " ", body).strip()
    compact = re.sub(r"\s+", "", body).strip(_PUNCT)
    if not compact:
        return None
    if match := _ACCEPT.match(compact) or _USE_RANK.match(compact):
        return Command("accept", rank=_rank(match.group(1)) or 1, question_id=question_id)
    if _REJECT.match(compact):
        return Command("reject", question_id=question_id)
    if match := _EDIT_RANK.match(body):
        return Command("edit", rank=_rank(match.group(1)), answer=match["answer"].strip(), question_id=question_id)
    if match := _EDIT_PREFIX.match(body):
        return Command("edit", answer=match["answer"].strip(), question_id=question_id)
    if compact.endswith(("?", "？")):
        return None  # a question, not a correction
    if match := _EDIT_NOT.match(body):
        return Command("edit", answer=match["answer"].strip(), question_id=question_id, explicit=False)
    if len(compact) >= _MIN_EDIT_CHARS and not (is_holding_reply(body) or is_noise(body)):
        return Command("edit", answer=body, question_id=question_id, explicit=False)
    return None


def source_link(uri: str, url: str | None, public_url: str | None,
                link_for: Callable[[str], str] | None = None) -> str | None:
    """A clickable address for a source: its own web url, else ``link_for(uri)`` (a signed link that opens
    without a key, assistant/links.py), else this service's source page (for logged-in users), else none."""
    if web_url(url):
        return url
    if link_for is not None:
        return link_for(uri)
    if public_url:
        return f"{public_url.rstrip('/')}/ui/sources?uri={quote(uri, safe='')}"
    return None


def _short(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[:limit] + "…"


def quoted_question_id(quoted: str | None) -> int | None:
    """The question a quoted bot answer was about ("问题 #12" in its text), or None."""
    found = _ANSWER_REF.search(quoted or "")
    return int(found.group(1)) if found else None


def render_answer(result: SuggestResult, *, question_id: int, module_label: str, drafts: int,
                  bot_name: str, public_url: str | None, mention: str | None,
                  draft_chars: int = _DRAFT_CHARS, link_for: Callable[[str], str] | None = None) -> tuple[str, str]:
    """(title, Markdown) of the bot's answer: the top drafts, each marked 待专家确认, with its source."""
    c = result.classification
    urgent = c.urgency.value == "P1"
    title = f"{bot_name} · 问题 #{question_id}"
    lines = [f"**问题 #{question_id}** · {module_label} · {c.urgency.value}"]
    if urgent:
        lines.append(f"🚨 P1 紧急问题，已通知值班专家 {mention}" if mention else "🚨 P1 紧急问题，请值班专家尽快处理")
    if result.abstained or not result.suggestions:
        lines.append("知识库中没有足够可靠的答案，已转给专家处理。")
    else:
        lines.append("以下是知识库中的参考草稿，均**待专家确认**：")
        for s in result.suggestions[:drafts]:
            link = source_link(s.source.uri, s.source.url, public_url, link_for)
            name = _short(s.source.title or s.source.uri, 40)
            where = f"[{name}]({link})" if link else f"{name}（`{s.source.uri}`）"
            lines.append(f"\n**{s.rank}. 【待专家确认】** {_short(s.draft, draft_chars)}\n来源：{where}")
        lines.append(f"\n专家可回复「采纳」「用第2条」，或回复本消息给出更正后的答案（可写 #{question_id} 指明问题）。")
    return title, "\n".join(lines)


def compose_answer(result: SuggestResult, *, question_id: int, module_label: str, drafts: int, bot_name: str,
                   public_url: str | None, mention: str | None, urgent_mentions: tuple[str, ...] = (),
                   draft_chars: int = _DRAFT_CHARS, min_draft_chars: int = 40,
                   fits: Callable[[OutgoingReply], bool] = lambda _: True,
                   link_for: Callable[[str], str] | None = None) -> list[OutgoingReply]:
    """The bot's answer to a question as the messages one platform takes: the full answer when it ``fits``,
    else the same with shorter draft excerpts (halved down to ``min_draft_chars``), else split into several
    messages (``split_reply``). Every message names the question ("问题 #N"). ``link_for`` makes the link of a
    source without a web url (the channel service's signed links)."""
    urgent = result.classification.urgency.value == "P1"
    chars = draft_chars
    while True:
        title, markdown = render_answer(result, question_id=question_id, module_label=module_label, drafts=drafts,
                                        bot_name=bot_name, public_url=public_url, mention=mention,
                                        draft_chars=chars, link_for=link_for)
        reply = OutgoingReply(title, markdown, urgent_mentions, urgent=urgent)
        if fits(reply) or chars <= min_draft_chars:
            break
        chars = max(min_draft_chars, chars // 2)
    return split_reply(reply, fits)


def _cut_utf8(text: str, fits: Callable[[str], bool]) -> tuple[str, str]:
    """The longest prefix of ``text`` that ``fits`` (at least one character), and the rest."""
    low, high = 1, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if fits(text[:middle]):
            low = middle
        else:
            high = middle - 1
    return text[:low], text[low:]


def split_reply(reply: OutgoingReply, fits: Callable[[OutgoingReply], bool]) -> list[OutgoingReply]:
    """``reply`` as one or more messages that each ``fit``: split between paragraphs, then lines, cutting a
    line only when one alone is too long. Later parts repeat the first line (which names the question) marked
    （续）; only the first part @-mentions anyone."""
    if fits(reply):
        return [reply]
    head = reply.markdown.split("\n", 1)[0]
    pieces: list[str] = []
    for block in reply.markdown.split("\n\n"):
        pieces.extend(line for line in block.split("\n"))
        pieces.append("")  # the paragraph break
    pieces.pop()
    parts: list[OutgoingReply] = []
    current: list[str] = []

    def part(lines: list[str], n: int | None = None) -> OutgoingReply:
        n = len(parts) if n is None else n
        if n == 0:
            return replace(reply, markdown="\n".join(lines).strip("\n"))
        return replace(reply, title=f"{reply.title}（续{n}）", mention_user_ids=(),
                       markdown=f"{head}（续{n}）\n" + "\n".join(lines).strip("\n"))

    def has_text(lines: list[str]) -> bool:
        return any(x.strip() for x in lines)

    queue = list(pieces)
    while queue:
        line = queue.pop(0)
        if fits(part(current + [line])):
            current.append(line)
            continue
        if has_text(current) and (fits(part([line], len(parts) + 1)) or not fits(part(current + [line[:1]]))):
            parts.append(part(current))  # the line starts the next message
            current = []
            queue.insert(0, line)
            continue
        # One line too long for any message: fill this one with as much of it as fits.
        kept, rest = _cut_utf8(line, lambda text: fits(part(current + [text])))
        parts.append(part(current + [kept]))
        current = []
        if rest:
            queue.insert(0, rest)
    if has_text(current):
        parts.append(part(current))
    return parts
