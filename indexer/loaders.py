"""Read knowledge sources (FAQ CSV, SOP Markdown, chat JSONL) into ``Document`` objects.

Each loader raises ``SourceFormatError`` naming the file and the problem; ``load_sources`` collects those
as skipped files so one bad file never stops a build.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import yaml

from erp_assist.domain import Document, SourceType
from indexer.errors import SourceFormatError
from indexer.threads import ChatMessage, ThreadReport, build_threads

__all__ = ["SkippedFile", "LoadedSources", "load_faq_csv", "load_sop_markdown", "load_chat_jsonl", "load_sources"]

FAQ_COLUMNS = ("id", "question", "answer")


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class LoadedSources:
    documents: list[Document] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    threads: ThreadReport = field(default_factory=ThreadReport)


def load_faq_csv(path: Path) -> list[Document]:
    """FAQ entries from a CSV with at least id, question, answer (module, tags, updated_at optional)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceFormatError(f"{path}: not a readable UTF-8 CSV ({exc})") from exc
    if not rows:
        return []
    missing = [col for col in FAQ_COLUMNS if col not in rows[0]]
    if missing:
        raise SourceFormatError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(FAQ_COLUMNS)}")
    documents, seen = [], set()
    for line_no, row in enumerate(rows, start=2):
        faq_id, question, answer = (row.get(col, "").strip() for col in FAQ_COLUMNS)
        if not (faq_id and question and answer):
            raise SourceFormatError(f"{path}:{line_no}: empty id, question or answer")
        if faq_id in seen:
            raise SourceFormatError(f"{path}:{line_no}: duplicate FAQ id {faq_id!r}")
        seen.add(faq_id)
        tags = [t for t in (row.get("tags") or "").split("|") if t.strip()]
        documents.append(
            Document(
                source_type=SourceType.FAQ,
                source_id=faq_id,
                title=question,
                text=answer,
                module=(row.get("module") or "").strip() or None,
                updated_at=(row.get("updated_at") or "").strip() or None,
                metadata={"tags": tags},
            )
        )
    return documents


def _split_front_matter(path: Path, raw: str) -> tuple[dict, str]:
    if not raw.startswith("---"):
        return {}, raw
    parts = raw.split("\n---", 1)
    if len(parts) != 2:
        raise SourceFormatError(f"{path}: front matter opened with '---' but never closed")
    try:
        meta = yaml.safe_load(parts[0].lstrip("-\n")) or {}
    except yaml.YAMLError as exc:
        raise SourceFormatError(f"{path}: invalid YAML front matter ({exc})") from exc
    if not isinstance(meta, dict):
        raise SourceFormatError(f"{path}: front matter must be a mapping of keys to values")
    return meta, parts[1].lstrip("-").lstrip("\n")


def load_sop_markdown(path: Path, root: Path | None = None) -> Document:
    """One SOP from Markdown with optional YAML front matter (id, title, module, updated_at, source_url)."""
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{path}: not UTF-8 text ({exc})") from exc
    meta, body = _split_front_matter(path, raw)
    if not body.strip():
        raise SourceFormatError(f"{path}: no text after the front matter")
    default_id = str(path.relative_to(root).with_suffix("")) if root else path.stem
    title = str(meta.get("title") or _first_heading(body) or path.stem)
    return Document(
        source_type=SourceType.SOP,
        source_id=str(meta.get("id") or default_id),
        title=title,
        text=body,
        module=meta.get("module"),
        url=meta.get("source_url"),
        updated_at=str(meta["updated_at"]) if meta.get("updated_at") else None,
        metadata={"path": str(path)},
    )


def _first_heading(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return None


def load_chat_jsonl(path: Path) -> list[ChatMessage]:
    """Messages of one group export (msg_id, group, sender, role, ts, text, reply_to)."""
    messages = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                messages.append(ChatMessage.from_record(record))
            except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
                raise SourceFormatError(f"{path}:{line_no}: bad chat message ({exc})") from exc
    return messages


def load_sources(data_dir: Path, thread_window: timedelta = timedelta(hours=2)) -> LoadedSources:
    """Everything under a knowledge-base directory: ``*.csv`` FAQs, ``sops/**/*.md``, ``chats/*.jsonl``."""
    if not data_dir.is_dir():
        raise SourceFormatError(f"data_dir {data_dir} is not a directory; set ERP_ASSIST_DATA_DIR")
    loaded = LoadedSources()
    for path in sorted(data_dir.glob("*.csv")):
        _collect(loaded, path, lambda p: load_faq_csv(p))
    sop_root = data_dir / "sops"
    for path in sorted(sop_root.rglob("*.md")):
        _collect(loaded, path, lambda p: [load_sop_markdown(p, sop_root)])
    messages: list[ChatMessage] = []
    for path in sorted((data_dir / "chats").glob("*.jsonl")):
        chat = _collect(loaded, path, load_chat_jsonl, keep=False)
        messages.extend(chat or [])
    if messages:
        loaded.threads = build_threads(messages, thread_window)
        loaded.documents.extend(thread.to_document() for thread in loaded.threads.resolved)
    return loaded


def _collect(loaded: LoadedSources, path: Path, reader, keep: bool = True):  # noqa: ANN001, ANN202
    try:
        items = reader(path)
    except (SourceFormatError, OSError) as exc:
        loaded.skipped.append(SkippedFile(str(path), str(exc)))
        return None
    loaded.files.append(path)
    if keep:
        loaded.documents.extend(items)
    return items
