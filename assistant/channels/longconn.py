"""Modes that need no public URL: DingTalk Stream and the Feishu long connection.

The platform's own SDK opens an outgoing websocket from this server (``dingtalk-stream``'s
``DingTalkStreamClient``, ``lark-oapi``'s ``ws.Client``) and hands us each robot message as its own objects
(``ChatbotMessage``, ``P2ImMessageReceiveV1``). The adapters read them with the same parsing as their HTTP
callbacks, and ``ChannelRunner`` does what the HTTP route does: ``ChannelService.handle``, then ``deliver``.
The websocket is authenticated by the app's credentials when it is opened, so there is no per-message
signature to check.

Chosen by ``dingtalk_mode=stream`` / ``feishu_mode=websocket``; ``erp-assist channels listen`` runs them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import dingtalk_stream
from sqlalchemy import Engine

from assistant.channels.dingtalk import DingTalkAdapter
from assistant.channels.errors import ChannelNotConfiguredError, PayloadError
from assistant.channels.feishu import FeishuAdapter
from assistant.channels.service import ChannelService, Delivery, Outcome
from assistant.service import Assistant
from erp_assist.settings import Settings

if TYPE_CHECKING:
    import lark_oapi as lark

    from assistant.erp import ErpLookups

__all__ = ["ChannelRunner", "DingTalkStreamHandler", "channel_runner", "dingtalk_stream_client",
           "feishu_event_handler", "feishu_ws_client", "listen"]

log = logging.getLogger(__name__)


class ChannelRunner:
    """Handles messages from a long connection as the HTTP route does: store what they mean, send the replies.
    ``submit`` runs them on a small pool, so a slow platform API never stalls the SDK's event loop."""

    def __init__(self, service: ChannelService, *, assistant: Callable[[], Assistant], store: Engine,
                 workers: int = 4) -> None:
        self.service = service
        self._assistant = assistant
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="channel")
        self._pending: set[Future[list[tuple[Outcome, Delivery]]]] = set()
        self._lock = threading.Lock()

    def run(self, messages: Iterable[Any]) -> list[tuple[Outcome, Delivery]]:
        done = []
        for message in messages:
            outcome = self.service.handle(message, assistant=self._assistant(), store=self.store)
            done.append((outcome, self.service.deliver(outcome)))
        return done

    def submit(self, messages: Iterable[Any]) -> Future[list[tuple[Outcome, Delivery]]]:
        future = self._pool.submit(self.run, list(messages))
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._finished)
        return future

    def _finished(self, future: Future[list[tuple[Outcome, Delivery]]]) -> None:
        with self._lock:
            self._pending.discard(future)
        if future.exception() is not None:
            log.error("a long-connection message could not be handled", exc_info=future.exception())

    def wait(self, timeout: float = 30) -> None:
        """Block until every submitted message is handled (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            for future in pending:
                future.result(timeout=max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self._pool.shutdown(wait=True)


# DingTalk Stream ---------------------------------------------------------------------------------------------


class DingTalkStreamHandler(dingtalk_stream.ChatbotHandler):
    """The robot-message topic of a ``DingTalkStreamClient``: each frame's ``ChatbotMessage`` is read like an
    HTTP callback body and answered through its session webhook."""

    def __init__(self, runner: ChannelRunner, adapter: DingTalkAdapter) -> None:
        super().__init__()
        self.runner = runner
        self.adapter = adapter

    async def process(self, callback: dingtalk_stream.CallbackMessage) -> tuple[int, str]:
        try:  # the frame's data is the callback body the adapter reads (a non-object is a bad request)
            incoming = self.adapter.parse(callback.data, now=time.time())
        except PayloadError as exc:
            return dingtalk_stream.AckMessage.STATUS_BAD_REQUEST, str(exc)
        # Acknowledge once handled; the work runs off the SDK's loop so its keep-alive pings go on.
        await asyncio.wrap_future(self.runner.submit(incoming))
        return dingtalk_stream.AckMessage.STATUS_OK, "OK"


def dingtalk_stream_client(settings: Settings, runner: ChannelRunner) -> dingtalk_stream.DingTalkStreamClient:
    """The SDK's Stream client with our handler on the robot-message topic (not started)."""
    if not (settings.dingtalk_app_key and settings.dingtalk_app_secret):
        raise ChannelNotConfiguredError("dingtalk_mode=stream needs dingtalk_app_key and dingtalk_app_secret")
    client = dingtalk_stream.DingTalkStreamClient(
        dingtalk_stream.Credential(settings.dingtalk_app_key, settings.dingtalk_app_secret))
    adapter = runner.service.adapter("dingtalk")
    assert isinstance(adapter, DingTalkAdapter)
    client.register_callback_handler(dingtalk_stream.ChatbotMessage.TOPIC, DingTalkStreamHandler(runner, adapter))
    return client


# Feishu long connection --------------------------------------------------------------------------------------


def feishu_event_handler(runner: ChannelRunner, adapter: FeishuAdapter) -> lark.EventDispatcherHandler:
    """lark-oapi's dispatcher with ``im.message.receive_v1`` routed to the channel service. Events over the long
    connection are neither encrypted nor token-signed, so the dispatcher gets empty keys."""
    import lark_oapi as lark
    from lark_oapi.api.im.v1 import P2ImMessageReceiveV1

    def on_message(event: P2ImMessageReceiveV1) -> None:
        data = json.loads(lark.JSON.marshal(event) or "{}")
        runner.submit(adapter.parse_event(data))

    return lark.EventDispatcherHandler.builder("", "").register_p2_im_message_receive_v1(on_message).build()


def feishu_ws_client(settings: Settings, runner: ChannelRunner, *, auto_reconnect: bool = True) -> lark.ws.Client:
    """lark-oapi's long-connection client for the app (not started); it asks ``feishu_api_base`` for the
    websocket address."""
    import lark_oapi as lark

    if not (settings.feishu_app_id and settings.feishu_app_secret):
        raise ChannelNotConfiguredError("feishu_mode=websocket needs feishu_app_id and feishu_app_secret")
    adapter = runner.service.adapter("feishu")
    assert isinstance(adapter, FeishuAdapter)
    return lark.ws.Client(settings.feishu_app_id, settings.feishu_app_secret,
                          event_handler=feishu_event_handler(runner, adapter), domain=settings.feishu_api_base,
                          auto_reconnect=auto_reconnect)


def channel_runner(settings: Settings, *, store: Engine, assistant: Callable[[], Assistant],
                   erp: ErpLookups | None = None) -> ChannelRunner:
    """The runner ``listen`` answers with: the same service as the HTTP callbacks, live ERP lookups included."""
    return ChannelRunner(ChannelService(settings, erp=erp), assistant=assistant, store=store)


def listen(settings: Settings, *, store: Engine, assistant: Callable[[], Assistant],
           erp: ErpLookups | None = None) -> None:
    """Open every long connection the settings ask for and serve until interrupted."""
    if settings.dingtalk_mode != "stream" and settings.feishu_mode != "websocket":
        raise ChannelNotConfiguredError("nothing to listen to: set dingtalk_mode=stream and/or feishu_mode=websocket")
    runner = channel_runner(settings, store=store, assistant=assistant, erp=erp)
    dingtalk = None
    if settings.dingtalk_mode == "stream":
        client = dingtalk_stream_client(settings, runner)
        dingtalk = threading.Thread(target=client.start_forever, name="dingtalk-stream", daemon=True)
        dingtalk.start()
    if settings.feishu_mode == "websocket":
        feishu_ws_client(settings, runner).start()  # blocks: lark-oapi runs its own event loop in this thread
    if dingtalk is not None:
        dingtalk.join()
