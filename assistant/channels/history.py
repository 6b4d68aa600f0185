"""Group messages the bot receives, appended to ``<chat dir>/<group>.jsonl`` for the next nightly build.

Lines are the project's chat format (``indexer.threads.ChatMessage``: msg_id, group, sender, role, ts, text,
reply_to). Lines of a question the bot answered and of the bot's answer also carry ``question_id`` (loaders
ignore unknown keys), which is how an expert's reply to the bot message finds its question again — also
after a restart. Personal data is masked by the loaders at index time, as for any other chat export.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from indexer.threads import ROLES

__all__ = ["ChatHistory", "history_file_name"]


def history_file_name(group: str) -> str:
    """A file name for a group: chat ids carry "/", "+" and "=" (DingTalk "cid…=="), names carry spaces."""
    safe = re.sub(r"[^\w.-]+", "_", group).strip("._")
    return f"{safe or 'group'}.jsonl"


@dataclass
class _GroupIndex:
    question_of: dict[str, int | None] = field(default_factory=dict)  # msg_id → question id (or None)
    asked_in: dict[int, str] = field(default_factory=dict)  # question id → msg_id of the question
    bot_answers: list[tuple[datetime, int, str]] = field(default_factory=list)  # (ts, question id, text)


class ChatHistory:
    """Append-only chat JSONL per group, with a small in-memory index rebuilt lazily from the files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._groups: dict[str, _GroupIndex] = {}

    def path(self, group: str) -> Path:
        return self.directory / history_file_name(group)

    def _index(self, group: str) -> _GroupIndex:
        index = self._groups.get(group)
        if index is not None:
            return index
        index = _GroupIndex()
        path = self.path(group)
        if path.exists():
            with path.open(encoding="utf-8-sig") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                        if record.get("group") == group:
                            self._note(index, record)
                    except (ValueError, TypeError, AttributeError, KeyError):
                        continue  # a hand-edited or foreign line; the loaders report it at build time
        self._groups[group] = index
        return index

    @staticmethod
    def _note(index: _GroupIndex, record: dict[str, Any]) -> None:
        question_id = record.get("question_id")
        msg_id = str(record["msg_id"])
        index.question_of[msg_id] = question_id
        if question_id is None:
            return
        if record.get("role") == "bot":
            index.bot_answers.append((datetime.fromisoformat(record["ts"]), int(question_id), str(record["text"])))
        else:
            index.asked_in.setdefault(int(question_id), msg_id)

    def append(self, *, msg_id: str, group: str, sender: str, role: str, ts: datetime, text: str,
               reply_to: str | None = None, question_id: int | None = None) -> bool:
        """Append one message; False (and nothing written) when the group already has this msg_id."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        record: dict[str, Any] = {"msg_id": msg_id, "group": group, "sender": sender, "role": role,
                                  "ts": ts.isoformat(), "text": text, "reply_to": reply_to}
        if question_id is not None:
            record["question_id"] = question_id
        with self._lock:
            index = self._index(group)
            if msg_id in index.question_of:
                return False
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.path(group).open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._note(index, record)
        return True

    def seen(self, group: str, msg_id: str) -> bool:
        with self._lock:
            return msg_id in self._index(group).question_of

    def question_of(self, group: str, msg_id: str) -> int | None:
        """The question a message belongs to: the question itself or the bot's answer to it."""
        with self._lock:
            return self._index(group).question_of.get(msg_id)

    def question_message(self, group: str, question_id: int) -> str | None:
        """msg_id of the group message that asked ``question_id``."""
        with self._lock:
            return self._index(group).asked_in.get(question_id)

    def bot_answers(self, group: str, snippet: str = "") -> list[tuple[datetime, int]]:
        """(ts, question id) of the bot's answers in ``group`` containing ``snippet``, newest first."""
        with self._lock:
            answers = self._index(group).bot_answers
            return [(ts, qid) for ts, qid, text in reversed(answers) if snippet in text]
