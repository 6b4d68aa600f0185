"""``ChannelService``: what the bot does with a verified group message, the same on every platform.

A question (an @-mention of the bot or the 【问题】…【期望结果】 template) is answered with
``Assistant.suggest`` and stored with ``record_question``; an expert's "采纳" / "用第2条" / correction linked
to a bot answer is stored with ``record_review``; every message except commands to the bot is appended to
the group's chat history for the next nightly build.

All of it belongs to one tenant, ``settings.channel_tenant`` (the default tenant unless configured): its
knowledge base answers, its review queue holds the questions, its ``chats/`` directory keeps the history.
"""

from __future__ import annotations

import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Engine

from assistant.channels.base import ChannelAdapter, IncomingMessage, OutgoingReply
from assistant.channels.dingtalk import DingTalkAdapter
from assistant.channels.errors import ChannelError, ChannelNotConfiguredError
from assistant.channels.feishu import FeishuAdapter
from assistant.channels.history import ChatHistory
from assistant.channels.http import ChannelHttp
from assistant.channels.messages import (
    Command,
    compose_answer,
    is_question,
    parse_command,
    quoted_question_id,
    split_quote,
    split_reply,
)
from assistant.channels.wecom import WeComAdapter
from assistant.links import SourceLinkSigner, link_signer
from assistant.service import Assistant
from assistant.store import (
    ConflictError,
    NotFoundError,
    StoredReview,
    get_question,
    record_question,
    record_review,
)
from erp_assist.domain import Decision, SuggestResult
from erp_assist.errors import InvalidQuestionError
from erp_assist.settings import Settings
from indexer.chat_exports import sender_role
from models.taxonomy import Taxonomy, load_taxonomy

__all__ = ["ADAPTERS", "ChannelService", "Delivery", "Outcome", "make_adapter"]

log = logging.getLogger(__name__)

ADAPTERS: dict[str, type[ChannelAdapter]] = {
    DingTalkAdapter.name: DingTalkAdapter,
    FeishuAdapter.name: FeishuAdapter,
    WeComAdapter.name: WeComAdapter,
}
_SETTINGS_OF = {"dingtalk": "dingtalk_app_secret", "feishu": "feishu_verification_token",
                "wecom": "wecom_token, wecom_encoding_aes_key and wecom_corp_id (app) or "
                "wecom_robot_token and wecom_robot_encoding_aes_key (group robot)"}
_RECENT = 10_000  # message ids remembered against platform retries
_LATEST_CANDIDATES = 5


def make_adapter(name: str, settings: Settings, http: ChannelHttp | None = None) -> ChannelAdapter:
    """The adapter for platform ``name``."""
    if name not in ADAPTERS:
        raise ValueError(f"unknown chat platform {name!r}; choose one of {', '.join(sorted(ADAPTERS))}")
    return ADAPTERS[name](settings, http)


def _base_name(name: str) -> str:
    """"李工(ERP管理员)" → "李工": reviews are credited to the name experts are listed by."""
    return re.split(r"[(（\[【]", name, maxsplit=1)[0].strip() or name


@dataclass(frozen=True)
class Outcome:
    """What handling one message did, and the reply to send (if any)."""

    kind: Literal["question", "off_topic", "review", "history", "duplicate", "ignored"]
    message: IncomingMessage
    question_id: int | None = None
    result: SuggestResult | None = None
    review: StoredReview | None = None
    reply: OutgoingReply | None = None
    more: tuple[OutgoingReply, ...] = ()  # further messages when the answer is longer than one message can be
    alert: tuple[str, OutgoingReply] | None = None  # (user id, message): a P1 sent to the expert on duty directly

    @property
    def replies(self) -> tuple[OutgoingReply, ...]:
        return ((self.reply,) if self.reply is not None else ()) + self.more


@dataclass(frozen=True)
class Delivery:
    """What sending an outcome's messages did: the platform ids of the sent ones, and every failure (each
    already retried by ``ChannelHttp``); ``reported`` when a notice of the failure reached the chat."""

    sent: tuple[str | None, ...] = ()
    failed: tuple[str, ...] = ()
    reported: bool = False


OFF_TOPIC_REPLY = ("您好，我是ERP助手，只回答ERP系统相关的问题（单据、过账、库存、工资、权限等）。"
                   "如有ERP问题，请在 @我 后写明问题，例如：【问题】…【期望结果】…")


class ChannelService:
    """The bot's behaviour in the groups; the adapters only translate. Safe to share between threads."""

    def __init__(self, settings: Settings, *, adapters: Mapping[str, ChannelAdapter] | None = None,
                 history: ChatHistory | None = None, erp: Any = None) -> None:
        self.settings = settings
        self.erp = erp  # assistant.erp.ErpLookups: live ERP data added to answers (issue #21)
        self.tenant = settings.channel_tenant
        if adapters is None:
            adapters = {name: cls(settings) for name, cls in ADAPTERS.items() if cls.configured(settings)}
        self.adapters = dict(adapters)
        self.history = history or ChatHistory(
            settings.channel_chat_dir or settings.for_tenant(self.tenant).data_dir / "chats")
        self.experts = frozenset(settings.chat_experts)
        self._taxonomy: Taxonomy | None = None
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()
        self._signer: SourceLinkSigner | None = None

    def source_link_for(self) -> Callable[[str], str] | None:
        """What a chat reply links a knowledge-base source to: a signed, expiring ``<channel_public_url>/s/…``
        page of this tenant that opens without a key; None without a public URL (sources stay kb://… text)."""
        public_url = self.settings.channel_public_url
        if not public_url:
            return None
        with self._lock:
            if self._signer is None:
                self._signer = link_signer(self.settings)
            signer = self._signer
        return lambda uri: signer.url(public_url, tenant=self.tenant, uri=uri)

    def adapter(self, name: str) -> ChannelAdapter:
        if name not in ADAPTERS:
            raise ValueError(f"unknown chat platform {name!r}; choose one of {', '.join(sorted(ADAPTERS))}")
        if name not in self.adapters:
            raise ChannelNotConfiguredError(f"the {name} channel is not configured; set {_SETTINGS_OF[name]}")
        return self.adapters[name]

    def module_label(self, module: str) -> str:
        if self._taxonomy is None:
            self._taxonomy = load_taxonomy(self.settings.taxonomy_path)
        return self._taxonomy.module_label(module)

    def _claim(self, message: IncomingMessage) -> bool:
        """False for a message already handled (platforms resend callbacks they think were lost)."""
        key = (message.platform, message.msg_id)
        with self._lock:
            if key in self._recent:
                return False
            self._recent[key] = None
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
        return not self.history.seen(message.group, message.msg_id)

    def _release(self, message: IncomingMessage) -> None:
        with self._lock:
            self._recent.pop((message.platform, message.msg_id), None)

    # Handling -----------------------------------------------------------------------------------------

    def handle(self, message: IncomingMessage, *, assistant: Assistant, store: Engine) -> Outcome:
        """Store what ``message`` means (question, review, history) and say what to reply; ``assistant`` must be
        the channel tenant's."""
        if assistant.settings.tenant != self.tenant:
            raise ValueError(f"the chat channels answer from tenant {self.tenant!r}, not {assistant.settings.tenant!r}")
        if not self._claim(message):
            return Outcome("duplicate", message)
        try:
            return self._handle(message, assistant, store)
        except Exception:
            self._release(message)  # not handled: the platform's retry must get another chance
            raise

    def _handle(self, message: IncomingMessage, assistant: Assistant, store: Engine) -> Outcome:
        role = sender_role([message.sender, message.sender_id], message.text, self.experts)
        if role == "bot":
            return Outcome("ignored", message)
        if role == "expert" and (command := parse_command(message.text)) is not None:
            outcome = self._review(message, command, store)
            if outcome is not None:
                return outcome
            if message.direct and command.explicit:
                # One to one there is no "latest question of this group": the expert must name it.
                hint = "请写明问题编号，例如「采纳 #7」「驳回 #7」「#7 更正：…」。"
                return Outcome("ignored", message, reply=OutgoingReply(self.settings.channel_bot_name, hint))
        if is_question(message.text, message.mentions_bot):
            return self._question(message, role, assistant, store)
        self._remember(message, role)
        return Outcome("history", message)

    def _remember(self, message: IncomingMessage, role: str, *, text: str | None = None,
                  reply_to: str | None = None, question_id: int | None = None) -> None:
        if reply_to is None and message.reply_to:
            # A reply to the bot's answer continues the question's thread (bot lines are not indexed).
            replied = self.history.question_of(message.group, message.reply_to)
            reply_to = (self.history.question_message(message.group, replied) if replied is not None else None)
        self.history.append(msg_id=message.msg_id, group=message.group, sender=message.sender, role=role,
                            ts=message.ts, text=message.text if text is None else text,
                            reply_to=reply_to or message.reply_to, question_id=question_id)

    def _question(self, message: IncomingMessage, role: str, assistant: Assistant, store: Engine) -> Outcome:
        try:
            result = assistant.suggest(message.text)
        except InvalidQuestionError:
            self._remember(message, role)
            hint = f"请在 @{self.settings.channel_bot_name} 后写明问题，例如：【问题】…【期望结果】…"
            return Outcome("history", message, reply=OutgoingReply(self.settings.channel_bot_name, hint))
        question_id = record_question(store, tenant=self.tenant, result=result, asker=message.sender,
                                      group=message.group)
        self._remember(message, role, question_id=question_id)
        lookup = (self.erp.answer_safely(message.text, tenant=self.tenant, asker=message.sender,
                                         channel=message.platform) if self.erp is not None else None)
        live = f"**ERP 实时查询**：{lookup.text}" if lookup is not None else None
        if live is not None and result.off_topic:
            reply = OutgoingReply(self.settings.channel_bot_name, live)
            return Outcome("question", message, question_id=question_id, result=result, reply=reply)
        if result.off_topic:
            # Chatter: no drafts and no page; a word back only to someone who spoke to the bot.
            reply = OutgoingReply(self.settings.channel_bot_name, OFF_TOPIC_REPLY) if message.mentions_bot else None
            return Outcome("off_topic", message, question_id=question_id, result=result, reply=reply)
        urgent = result.classification.urgency.value == "P1"
        on_duty = self.settings.channel_expert_on_duty.get(message.platform) if urgent else None
        adapter = self.adapters.get(message.platform)
        alert = None
        if on_duty and message.direct and adapter is not None and adapter.sends_direct():
            # In a one-to-one chat an @-mention reaches only the asker: the expert gets a message of their own.
            mention = self.settings.chat_sender_names.get(on_duty, on_duty)
            if on_duty != message.sender_id:
                alert = (on_duty, self.p1_alert(message, question_id))
            mentions: tuple[str, ...] = ()
        else:
            mention = adapter.mention(on_duty) if on_duty and adapter else None
            mentions = (on_duty,) if on_duty else ()
        replies = compose_answer(
            result, question_id=question_id, module_label=self.module_label(result.classification.module),
            drafts=self.settings.channel_reply_drafts, bot_name=self.settings.channel_bot_name,
            public_url=self.settings.channel_public_url, mention=mention, urgent_mentions=mentions,
            draft_chars=self.settings.channel_reply_draft_chars,
            min_draft_chars=self.settings.channel_reply_min_draft_chars,
            fits=adapter.fits if adapter is not None else (lambda _: True),
            link_for=self.source_link_for(),
        )
        if live is not None:  # the live data first, the knowledge base's drafts after it
            first = replace(replies[0], markdown=f"{live}\n\n{replies[0].markdown}")
            if adapter is None or adapter.fits(first):
                replies[0] = first
            else:
                replies.insert(0, OutgoingReply(self.settings.channel_bot_name, live))
        return Outcome("question", message, question_id=question_id, result=result, reply=replies[0],
                       more=tuple(replies[1:]), alert=alert)

    def p1_alert(self, message: IncomingMessage, question_id: int) -> OutgoingReply:
        """The message the expert on duty gets for a P1 question asked in a one-to-one chat."""
        asked = message.text if len(message.text) <= 200 else message.text[:200] + "…"
        bot = self.settings.channel_bot_name
        return OutgoingReply(
            f"{bot} · P1 问题 #{question_id}",
            f"**🚨 P1 问题 #{question_id}** · {message.sender} 私聊提问：\n> {asked}\n\n"
            f"请尽快处理；可直接回复「采纳 #{question_id}」「驳回 #{question_id}」或「#{question_id} 更正：…」。",
            urgent=True,
        )

    def _resolve(self, message: IncomingMessage, command: Command, store: Engine) -> int | None:
        """The question an expert's command is about: named (#12), replied to, quoted, or the latest open one."""
        if command.question_id is not None:
            return command.question_id
        if message.reply_to and (found := self.history.question_of(message.group, message.reply_to)) is not None:
            return found
        if (quoted := quoted_question_id(message.quoted_text)) is not None:
            return quoted  # the quoted bot answer names its question
        quote, _ = split_quote(message.text)
        if quote and _base_name(quote[0]) == self.settings.channel_bot_name:
            if (quoted := quoted_question_id(quote[1])) is not None:
                return quoted
            snippet = re.sub(r"(\.\.\.|…)+$", "", quote[1]).strip()[:12]
            answers = self.history.bot_answers(message.group, snippet)
            if answers:
                return answers[0][1]
        if not command.explicit:
            return None
        window = timedelta(minutes=self.settings.chat_thread_window_minutes)
        for ts, question_id in self.history.bot_answers(message.group)[:_LATEST_CANDIDATES]:
            if message.ts - ts > window:
                break
            try:
                if get_question(store, tenant=self.tenant, question_id=question_id).status == "open":
                    return question_id
            except NotFoundError:
                continue
        return None

    def _review(self, message: IncomingMessage, command: Command, store: Engine) -> Outcome | None:
        question_id = self._resolve(message, command, store)
        if question_id is None:
            return None
        try:
            question = get_question(store, tenant=self.tenant, question_id=question_id)
        except NotFoundError:
            return None
        if question.group != message.group and not message.direct:
            return None  # "#12" of another group's question: not this group's to decide
        reviewer = _base_name(message.sender)
        decision = Decision(command.decision)
        rank = command.rank
        if decision is Decision.EDIT and rank is None and question.suggestions:
            rank = 1
        if decision is Decision.REJECT:
            rank = None
        note = None
        try:
            review = record_review(store, tenant=self.tenant, question_id=question_id, decision=decision,
                                   reviewer=reviewer, suggestion_rank=rank, edited_answer=command.answer,
                                   note=message.text if decision is Decision.REJECT else None)
        except ConflictError:
            # Read again: another expert may have decided it between our read and our decision.
            status = get_question(store, tenant=self.tenant, question_id=question_id).status
            note = f"问题 #{question_id} 已处理（{status}），如需更改请先在审核页面重新打开。"
        except NotFoundError:
            note = f"问题 #{question_id} 没有第{rank}条草稿，请核对序号。"
        if note is not None:
            return Outcome("review", message, question_id=question_id,
                           reply=OutgoingReply(self.settings.channel_bot_name, note))
        if decision is Decision.EDIT:
            # The correction is an expert answer to the question: thread it under the question itself.
            # A correction sent in a one-to-one chat belongs to the question's group thread all the same.
            asked = self.history.question_message(question.group, question_id)
            self._remember(replace(message, group=question.group), "expert", text=command.answer, reply_to=asked,
                           question_id=question_id)
        done = {Decision.ACCEPT: f"采纳了问题 #{question_id} 的第{rank}条草稿",
                Decision.EDIT: f"更正了问题 #{question_id} 的答案",
                Decision.REJECT: f"驳回了问题 #{question_id} 的草稿"}[decision]
        text = f"已记录：{reviewer} {done}。" + ("下次知识库更新后生效。" if decision is not Decision.REJECT else "")
        return Outcome("review", message, question_id=question_id, review=review,
                       reply=OutgoingReply(self.settings.channel_bot_name, text))

    # Replying -----------------------------------------------------------------------------------------

    def deliver(self, outcome: Outcome, *, now: datetime | None = None) -> Delivery:
        """Send the outcome's messages, each cut to the platform's size (``split_reply``), and add them to the chat
        history. A send that still fails after ``ChannelHttp``'s retries is reported: logged as an error and
        announced in the chat with a short notice (the question stays in the review queue)."""
        message = outcome.message
        if not outcome.replies and outcome.alert is None:
            return Delivery()
        try:
            adapter = self.adapter(message.platform)
        except ChannelNotConfiguredError as exc:
            log.error("cannot answer %s message %s: %s", message.platform, message.msg_id, exc)
            return Delivery(failed=(str(exc),))
        sent: list[str | None] = []
        failed: list[str] = []
        parts = [part for reply in outcome.replies for part in split_reply(reply, adapter.fits)]
        for n, part in enumerate(parts):
            try:
                receipt = adapter.reply(message, part)
            except ChannelError as exc:
                failed.append(f"{type(exc).__name__}: {exc}")
                break  # later parts make no sense without this one
            sent.append(receipt.msg_id)
            suffix = "" if n == 0 else f"-{n + 1}"
            self.history.append(
                msg_id=receipt.msg_id or f"{message.msg_id}-bot{suffix}", group=message.group,
                sender=self.settings.channel_bot_name, role="bot", ts=now or datetime.now(message.ts.tzinfo),
                text=part.markdown, reply_to=message.msg_id, question_id=outcome.question_id,
            )
        if outcome.alert is not None:
            user_id, alert = outcome.alert
            try:
                adapter.direct(user_id, alert)
            except ChannelError as exc:
                failed.append(f"P1 alert to {user_id}: {type(exc).__name__}: {exc}")
        reported = bool(failed) and self._report(outcome, adapter, failed, answered=len(sent) == len(parts))
        return Delivery(tuple(sent), tuple(failed), reported)

    def _report(self, outcome: Outcome, adapter: ChannelAdapter, failed: list[str], *, answered: bool) -> bool:
        message = outcome.message
        log.error("could not deliver to %s message %s in %s: %s", message.platform, message.msg_id, message.group,
                  "; ".join(failed))
        about = f"问题 #{outcome.question_id} " if outcome.question_id is not None else ""
        text = (f"⚠️ 未能通知值班专家，{about}已记入审核队列，请专家在审核页面查看。" if answered else
                f"⚠️ {about}的回复未能完整发出，已记入审核队列，请专家在审核页面查看。" if about else
                "⚠️ 回复未能发出，请稍后再试。")
        notice = OutgoingReply(self.settings.channel_bot_name, text)
        try:
            adapter.reply(message, notice)
        except ChannelError as exc:
            log.error("the failure notice could not be sent either: %s", exc)
            return False
        return True
