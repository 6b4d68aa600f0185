"""Read knowledge sources into ``Document`` objects: FAQ tables, SOP documents and group-chat history.

- FAQ: ``*.csv``, ``*.xlsx`` and ``*.jsonl`` at the top of the data directory. Column names are configurable
  (``FaqColumns``); ``tags`` and ``alternates`` (other phrasings of the question) are ``|``-separated in
  CSV/XLSX and lists (or ``|`` strings) in JSONL. Every XLSX sheet whose first row holds the id, question
  and answer columns is read; other sheets (instructions, lookups) are ignored.
- SOP: ``sops/**/*.md`` (YAML front matter: id, title, module, updated_at, source_url), ``*.docx``
  (Heading 1/2/3 styles become ``#``/``##``/``###`` so chunking stays heading-aware; title from the core
  properties, else the first heading; module from the "category" property) and ``*.txt`` (first short line
  is the title; "一、" / "（一）" lines become headings). ``load_sop_tree`` reads any such directory, e.g. a
  documentation export.
- Chat: ``chats/*.jsonl`` in the project's own format (``data/README.md``) and the WeCom, Feishu and
  DingTalk/WeChat exports of ``indexer.chat_exports``; messages are rebuilt into Q/A threads
  (``indexer.threads``) and each resolved thread becomes one document.

Personal data (phone, ID-card, bank-card numbers, e-mails) is masked by ``indexer.pii`` in every title,
text and alternate question before a document leaves this module, so the original never reaches the index.
A module that is not a taxonomy id is kept as ``metadata["source_module"]`` and ``Document.module`` is None.

Each loader raises ``SourceFormatError`` naming the file, the line/row where there is one, and the problem;
``load_sources`` collects those as skipped files so one bad file never stops a build.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from erp_assist.domain import Document, SourceType
from erp_assist.yamlio import load_yaml
from indexer.chat_exports import (
    CHINA_TZ,
    chat_reader,
    load_chat_text,
    load_feishu_messages,
    load_wecom_archive,
    masked,
    sender_role,
)
from indexer.errors import SourceFormatError
from indexer.pii import mask_pii
from indexer.threads import ChatMessage, ThreadReport, build_threads
from models.taxonomy import SHIPPED_TAXONOMY, load_taxonomy

if TYPE_CHECKING:
    from erp_assist.settings import Settings

__all__ = [
    "FaqColumns",
    "LoadedSources",
    "SkippedFile",
    "default_module_ids",
    "load_chat",
    "load_chat_jsonl",
    "load_faq",
    "load_faq_csv",
    "load_faq_jsonl",
    "load_faq_xlsx",
    "load_sop",
    "load_sop_docx",
    "load_sop_markdown",
    "load_sop_text",
    "load_sop_tree",
    "load_sources",
    "load_tenant_sources",
]

SourceFileReader = Callable[[Path], list[Document]]
SourceFileCache = Callable[[Path, tuple, SourceFileReader], list[Document]]
"""``(path, context, read)`` → ``read(path)``, or the documents it gave last time for the same file bytes and
context (what else shapes them: the SOP root, the module ids); a build's ``BuildCache.file_documents``."""

FAQ_SUFFIXES = (".csv", ".xlsx", ".jsonl")
SOP_SUFFIXES = (".md", ".docx", ".txt")


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


@dataclass(frozen=True)
class FaqColumns:
    """Which column (CSV/XLSX header, JSONL key) holds each FAQ field; id, question, answer are required."""

    id: str = "id"
    question: str = "question"
    answer: str = "answer"
    module: str = "module"
    tags: str = "tags"
    updated_at: str = "updated_at"
    alternates: str = "alternates"

    @property
    def required(self) -> tuple[str, str, str]:
        return (self.id, self.question, self.answer)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> FaqColumns:
        """From ``{"question": "问题", "answer": "答案"}``; unknown field names raise ``ValueError``."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown FAQ field(s) {', '.join(unknown)}; "
                             f"valid fields are {', '.join(sorted(known))}")
        return cls(**dict(mapping))


@lru_cache(maxsize=4)
def default_module_ids(taxonomy_path: Path = SHIPPED_TAXONOMY) -> frozenset[str]:
    """Module ids of the taxonomy file (``models/taxonomy.yaml`` unless told otherwise)."""
    data = load_yaml(taxonomy_path.read_text(encoding="utf-8")) or {}
    return frozenset(str(m["id"]) for m in data.get("modules") or [])


def _module(value: Any, modules: Collection[str] | None) -> tuple[str | None, dict[str, str]]:
    """(``Document.module``, extra metadata): a value outside ``modules`` is kept only as source_module."""
    text = str(value).strip() if value is not None else ""
    if not text:
        return None, {}
    if modules is None or text in modules:
        return text, {}
    return None, {"source_module": text}


def _masked(document: Document) -> Document:
    metadata = document.metadata
    alternates = metadata.get("alternates")
    if alternates:
        masked_alternates = [mask_pii(a) for a in alternates]
        if masked_alternates != alternates:
            metadata = {**metadata, "alternates": masked_alternates}
    title, text = mask_pii(document.title), mask_pii(document.text)
    if title == document.title and text == document.text and metadata is document.metadata:
        return document  # most texts hold no personal data: no copy
    return replace(document, title=title, text=text, metadata=metadata)


# ---------------------------------------------------------------------------------------------------------
# FAQ


def _split_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else re.split(r"[|｜]", str(value))
    return [str(item).strip() for item in items if str(item).strip()]


def _cell(value: Any) -> Any:
    """An XLSX cell as the text a CSV would hold (1001.0 → "1001", a date → "2024-12-18")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


class _FaqBuilder:
    """Turns rows into FAQ documents, remembering where each id was first seen."""

    def __init__(self, columns: FaqColumns, modules: Collection[str] | None) -> None:
        self.columns = columns
        self.modules = modules
        self.seen: dict[str, str] = {}
        self.documents: list[Document] = []

    def add(self, row: Mapping[str, Any], where: str) -> None:
        c = self.columns
        faq_id, question, answer = (str(row.get(col) if row.get(col) is not None else "").strip()
                                    for col in c.required)
        if not (faq_id and question and answer):
            if not any(str(v).strip() for v in row.values() if v is not None and not isinstance(v, list)):
                return  # a blank row (Excel keeps formatted empty rows; CSVs end with ",,,")
            raise SourceFormatError(f"{where}: empty id, question or answer")
        if faq_id in self.seen:
            raise SourceFormatError(f"{where}: duplicate FAQ id {faq_id!r} (first at {self.seen[faq_id]})")
        self.seen[faq_id] = where
        module, extra = _module(row.get(c.module), self.modules)
        updated = str(row.get(c.updated_at) or "").strip() or None
        self.documents.append(_masked(Document(
            source_type=SourceType.FAQ,
            source_id=faq_id,
            title=question,
            text=answer,
            module=module,
            updated_at=updated,
            metadata={"tags": _split_list(row.get(c.tags)), "alternates": _split_list(row.get(c.alternates)),
                      **extra},
        )))


def _require_columns(where: str, header: Iterable[str], columns: FaqColumns) -> None:
    header = list(header)
    missing = [col for col in columns.required if col not in header]
    if missing:
        found = ", ".join(map(str, header)) or "none"
        raise SourceFormatError(f"{where}: missing column(s) {', '.join(missing)}; expected "
                                f"{', '.join(columns.required)} (found {found})")


def _decode(path: Path, raw: bytes, what: str) -> str:
    for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves CSV as GBK
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise SourceFormatError(f"{path}: not a readable UTF-8 or GB18030 {what}")


def load_faq_csv(path: Path, columns: FaqColumns = FaqColumns(), *,
                 modules: Collection[str] | None = None) -> list[Document]:
    """FAQ entries from a CSV with a header row; errors name the line the row starts on."""
    text = _decode(path, path.read_bytes(), "CSV")
    reader = csv.DictReader(io.StringIO(text, newline=""))
    builder = _FaqBuilder(columns, modules)
    try:
        if reader.fieldnames is None:
            return []
        _require_columns(str(path), reader.fieldnames, columns)
        start = reader.line_num + 1
        for row in reader:  # an answer may span several lines: report the line its row starts on
            builder.add({k: v for k, v in row.items() if k is not None}, f"{path}:{start}")
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SourceFormatError(f"{path}:{reader.line_num}: not a readable CSV ({exc})") from exc
    return builder.documents


def load_faq_xlsx(path: Path, columns: FaqColumns = FaqColumns(), *,
                  modules: Collection[str] | None = None) -> list[Document]:
    """FAQ entries from every sheet of a workbook whose first row holds the required columns.

    Errors name the sheet and row: ``faq.xlsx[常见问题]:7``.
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise SourceFormatError(f"{path}: not a readable XLSX workbook ({exc})") from exc
    except Exception as exc:  # a damaged package can fail anywhere inside openpyxl/lxml
        raise SourceFormatError(f"{path}: damaged XLSX workbook ({type(exc).__name__}: {exc})") from exc
    builder = _FaqBuilder(columns, modules)
    used, ignored = 0, []
    try:
        for sheet in workbook.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header_row = next(rows, None)
            header = [str(h).strip() if h is not None else "" for h in header_row or ()]
            if not all(col in header for col in columns.required):
                ignored.append(f"{sheet.title} ({', '.join(h for h in header if h) or 'empty'})")
                continue
            used += 1
            for row_no, values in enumerate(rows, start=2):
                row = {h: _cell(v) for h, v in zip(header, values) if h}
                builder.add(row, f"{path}[{sheet.title}]:{row_no}")
    finally:
        workbook.close()
    if not used and any(not s.endswith("(empty)") for s in ignored):
        raise SourceFormatError(f"{path}: no sheet has the column(s) {', '.join(columns.required)} in its "
                                f"first row; sheets: {'; '.join(ignored)}")
    return builder.documents


def load_faq_jsonl(path: Path, columns: FaqColumns = FaqColumns(), *,
                   modules: Collection[str] | None = None) -> list[Document]:
    """FAQ entries, one JSON object per line; ``tags``/``alternates`` are lists or ``|`` strings."""
    text = _decode(path, path.read_bytes(), "JSONL file")
    builder = _FaqBuilder(columns, modules)
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceFormatError(f"{path}:{line_no}: not JSON ({exc})") from exc
        if not isinstance(record, dict):
            raise SourceFormatError(f"{path}:{line_no}: expected a JSON object with "
                                    f"{', '.join(columns.required)}")
        _require_columns(f"{path}:{line_no}", record, columns)
        builder.add(record, f"{path}:{line_no}")
    return builder.documents


_FAQ_LOADERS: dict[str, Callable[..., list[Document]]] = {
    ".csv": load_faq_csv, ".xlsx": load_faq_xlsx, ".jsonl": load_faq_jsonl,
}


def load_faq(path: Path, columns: FaqColumns = FaqColumns(), *,
             modules: Collection[str] | None = None) -> list[Document]:
    """FAQ entries of a ``.csv``, ``.xlsx`` or ``.jsonl`` file."""
    loader = _FAQ_LOADERS.get(path.suffix.lower())
    if loader is None:
        raise SourceFormatError(f"{path}: not a FAQ file; use one of {', '.join(FAQ_SUFFIXES)}")
    return loader(path, columns, modules=modules)


# ---------------------------------------------------------------------------------------------------------
# SOP


def _split_front_matter(path: Path, raw: str) -> tuple[dict, str]:
    if not raw.startswith("---"):
        return {}, raw
    parts = raw.split("\n---", 1)
    if len(parts) != 2:
        raise SourceFormatError(f"{path}: front matter opened with '---' but never closed")
    try:
        meta = load_yaml(parts[0].lstrip("-\n")) or {}
    except yaml.YAMLError as exc:
        raise SourceFormatError(f"{path}: invalid YAML front matter ({exc})") from exc
    if not isinstance(meta, dict):
        raise SourceFormatError(f"{path}: front matter must be a mapping of keys to values")
    return meta, parts[1].lstrip("-").lstrip("\n")


# Sphinx/reST roles left in documentation converted to Markdown (":guilabel:`保存`", ":ref:`文本 <target>`").
_ROLE_WITH_TARGET = re.compile(r":(?:ref|doc|option|term|envvar|download):`([^`<]*?)\s*<[^`>]*>`")
_MENU_ROLE = re.compile(r":menuselection:`([^`]*)`")
_ROLE = re.compile(r":[a-z]+(?::[a-z]+)?:`([^`]*)`")


# Translations often break the role syntax (":menuselection:会计 --> 设置`"); drop what is left of it.
_BROKEN_ROLE = re.compile(
    r":(?:menus?selection|guilabel|file|doc|ref|option|command|samp|dfn|mod|term|abbr|kbd)\s*:\s*"
)
_MENU_ARROW = re.compile(r"(?<=\S)\s*-->\s*(?=\S)")


def _clean_markup(text: str) -> str:
    text = _ROLE_WITH_TARGET.sub(lambda m: m.group(1), text)
    text = _MENU_ROLE.sub(lambda m: m.group(1), text)
    text = _ROLE.sub(lambda m: m.group(1), text)
    text = _BROKEN_ROLE.sub("", text)
    return _MENU_ARROW.sub(" → ", text)


def _clean_title(title: str) -> str:
    title = _clean_markup(title).strip()
    title = re.sub(r"^(\*\*|__)(.+?)\1", r"\2", title)
    return re.sub(r"\s+", " ", title).strip()


def _sop_id(path: Path, root: Path | None) -> str:
    return (path.relative_to(root) if root else Path(path.name)).with_suffix("").as_posix()


def _first_heading(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("#"):
            return line.lstrip("#").strip()
    return None


def _sop_document(path: Path, root: Path | None, modules: Collection[str] | None, *, title: str, body: str,
                  meta: Mapping[str, Any]) -> Document:
    if not body.strip():
        raise SourceFormatError(f"{path}: no text in the document")
    module, extra = _module(meta.get("module"), modules)
    return _masked(Document(
        source_type=SourceType.SOP,
        source_id=str(meta.get("id") or _sop_id(path, root)),
        title=_clean_title(title) or path.stem,
        text=body,
        module=module,
        url=str(meta["source_url"]) if meta.get("source_url") else None,
        updated_at=str(meta["updated_at"]) if meta.get("updated_at") else None,
        metadata={"path": str(path), **extra},
    ))


def load_sop_markdown(path: Path, root: Path | None = None, *,
                      modules: Collection[str] | None = None) -> Document:
    """One SOP from Markdown with optional YAML front matter (id, title, module, updated_at, source_url).

    The id defaults to the path below ``root`` without ".md"; ``modules`` (None: any) are the module ids
    ``Document.module`` may take.
    """
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceFormatError(f"{path}: not UTF-8 text ({exc})") from exc
    meta, body = _split_front_matter(path, raw)
    if not body.strip():
        raise SourceFormatError(f"{path}: no text after the front matter")
    body = _clean_markup(body)
    title = str(meta.get("title") or _first_heading(body) or path.stem)
    return _sop_document(path, root, modules, title=title, body=body, meta=meta)


_DOCX_HEADING = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)


def _docx_blocks(document: Any) -> Iterable[tuple[str, str]]:
    """(kind, text) of the body in reading order: ("h1".."h4", "title", "li", "p", "table")."""
    from docx.table import Table

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            rows = []
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:  # merged cells repeat; keep each text once per row
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):
                        cells.append(text)
                if cells:
                    rows.append(" | ".join(cells))
            if rows:
                yield "table", "\n".join(rows)
            continue
        text = block.text.strip()
        if not text:
            continue
        style = (block.style.name if block.style is not None else "") or ""
        heading = _DOCX_HEADING.match(style.strip())
        if heading:
            yield f"h{min(int(heading.group(1)), 4)}", text
        elif style.lower() in ("title", "标题"):
            yield "title", text
        elif style.lower().startswith("list"):
            yield "li", text
        else:
            yield "p", text


def load_sop_docx(path: Path, root: Path | None = None, *,
                  modules: Collection[str] | None = None) -> Document:
    """One SOP from a Word document: Heading 1–4 styles become Markdown headings, tables become
    "a | b | c" rows, list paragraphs "- " items. Title: core properties, else the first heading.
    Module: the "category" property; updated_at: the "modified" property."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SourceFormatError(f"{path}: not a readable DOCX document ({exc})") from exc
    except Exception as exc:  # a damaged package can fail anywhere inside python-docx/lxml
        raise SourceFormatError(f"{path}: damaged DOCX document ({type(exc).__name__}: {exc})") from exc
    lines: list[str] = []
    first_heading, previous = None, ""
    for kind, text in _docx_blocks(document):
        if lines and not (kind == previous == "li"):  # list items stay one list; other blocks are paragraphs
            lines.append("")
        if kind == "title" or kind.startswith("h"):
            first_heading = first_heading or text
            lines.append(f"{'#' * (1 if kind == 'title' else int(kind[1]))} {text}")
        else:
            lines.append(f"- {text}" if kind == "li" else text)
        previous = kind
    props = document.core_properties
    modified = props.modified
    meta = {"module": props.category or None,
            "updated_at": modified.date().isoformat() if modified else None}
    title = (props.title or "").strip() or first_heading or path.stem
    return _sop_document(path, root, modules, title=title, body="\n".join(lines).strip() + "\n", meta=meta)


_TXT_H2 = re.compile(r"^[一二三四五六七八九十]+[、.．]\s*\S.{0,30}$")
_TXT_H3 = re.compile(r"^[（(][一二三四五六七八九十]+[）)]\s*\S.{0,30}$")


def load_sop_text(path: Path, root: Path | None = None, *,
                  modules: Collection[str] | None = None) -> Document:
    """One SOP from plain text (UTF-8 or GB18030). A short first line without closing punctuation is the
    title; "一、…" and "（一）…" lines become ``##``/``###`` headings for heading-aware chunking."""
    text = _decode(path, path.read_bytes(), "text file").replace("\r\n", "\n")
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise SourceFormatError(f"{path}: no text in the document")
    title = path.stem
    candidate = lines[first].strip()
    if len(candidate) <= 40 and not re.search(r"[。；;！!？?，,：:]$", candidate):
        title = candidate
        lines[first] = f"# {candidate}"
    for i, line in enumerate(lines):
        stripped = line.strip()
        if _TXT_H2.match(stripped):
            lines[i] = f"## {stripped}"
        elif _TXT_H3.match(stripped):
            lines[i] = f"### {stripped}"
    return _sop_document(path, root, modules, title=title, body="\n".join(lines), meta={})


def load_sop(path: Path, root: Path | None = None, *, modules: Collection[str] | None = None) -> Document:
    """One SOP of a ``.md``, ``.docx`` or ``.txt`` file."""
    suffix = path.suffix.lower()
    if suffix == ".md":
        return load_sop_markdown(path, root, modules=modules)
    if suffix == ".docx":
        return load_sop_docx(path, root, modules=modules)
    if suffix == ".txt":
        return load_sop_text(path, root, modules=modules)
    raise SourceFormatError(f"{path}: not an SOP file; use one of {', '.join(SOP_SUFFIXES)}")


def _source_files(directory: Path, suffixes: Iterable[str], recursive: bool) -> list[Path]:
    """Files with those suffixes, without hidden files and Office lock files (~$faq.xlsx)."""
    if not directory.is_dir():
        return []
    pattern = directory.rglob("*") if recursive else directory.glob("*")
    wanted = tuple(suffixes)
    return sorted(p for p in pattern if p.is_file() and p.suffix.lower() in wanted
                  and not p.name.startswith((".", "~$")))


def load_sop_tree(root: Path, *, modules: Collection[str] | None = None,
                  loaded: LoadedSources | None = None, file_cache: SourceFileCache | None = None) -> LoadedSources:
    """Every SOP page (``.md``, ``.docx``, ``.txt``) below ``root``, e.g. a documentation export.

    Each page's id is its path below ``root`` without the suffix (unless its front matter sets ``id``), its
    url the front matter's ``source_url``. ``modules`` defaults to the taxonomy's module ids; any other
    module ("inventory_and_mrp") is kept as ``metadata["source_module"]``. Bad pages are skipped with the
    reason in ``skipped``. ``file_cache``: see ``SourceFileCache``.
    """
    if not root.is_dir():
        raise SourceFormatError(f"SOP directory {root} is not a directory")
    loaded = loaded if loaded is not None else LoadedSources()
    modules = default_module_ids() if modules is None else modules

    def read(path: Path) -> list[Document]:
        return [load_sop(path, root, modules=modules)]

    context = ("sop", str(root), sorted(modules))
    for path in _source_files(root, SOP_SUFFIXES, recursive=True):
        _collect(loaded, path, (lambda p: file_cache(p, context, read)) if file_cache else read)
    return loaded


# ---------------------------------------------------------------------------------------------------------
# Chat


def load_chat_jsonl(path: Path, *, experts: frozenset[str] = frozenset()) -> list[ChatMessage]:
    """Messages of one group export in the project format (msg_id, group, sender, role, ts, text, reply_to).

    A sender listed in ``experts`` answers as an expert whatever its recorded role, unless it is a bot.
    """
    messages = []
    with path.open(encoding="utf-8-sig") as handle:
        try:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    message = ChatMessage.from_record(json.loads(line))
                except (json.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError) as exc:
                    raise SourceFormatError(f"{path}:{line_no}: bad chat message ({exc})") from exc
                promoted = sender_role([message.sender], message.text, experts) == "expert"
                if message.role == "asker" and promoted:
                    message = replace(message, role="expert")
                messages.append(masked(message))
        except UnicodeDecodeError as exc:
            raise SourceFormatError(f"{path}: not UTF-8 text ({exc})") from exc
    return messages


def load_chat(path: Path, *, experts: frozenset[str] = frozenset(), names: Mapping[str, str] | None = None,
              tz: tzinfo = CHINA_TZ) -> list[ChatMessage]:
    """Messages of any supported chat file, chosen by name: ``*.wecom.json``, ``*.feishu.json``, ``*.txt``
    (``indexer.chat_exports``) or ``*.jsonl`` (project format)."""
    reader = chat_reader(path)
    if reader == "wecom":
        return load_wecom_archive(path, experts=experts, names=names, tz=tz)
    if reader == "feishu":
        return load_feishu_messages(path, experts=experts, names=names, tz=tz)
    if reader == "text":
        return load_chat_text(path, experts=experts, tz=tz)
    if path.suffix.lower() == ".jsonl":
        return load_chat_jsonl(path, experts=experts)
    raise SourceFormatError(f"{path}: not a chat file; use *.jsonl, *.wecom.json, *.feishu.json or *.txt")


def _is_chat_file(path: Path) -> bool:
    return chat_reader(path) is not None or path.suffix.lower() == ".jsonl"


# ---------------------------------------------------------------------------------------------------------
# Everything


def load_sources(
    data_dir: Path,
    thread_window: timedelta = timedelta(hours=2),
    *,
    faq_columns: FaqColumns = FaqColumns(),
    experts: frozenset[str] = frozenset(),
    sender_names: Mapping[str, str] | None = None,
    modules: Collection[str] | None = None,
    tz: tzinfo = CHINA_TZ,
    file_cache: SourceFileCache | None = None,
) -> LoadedSources:
    """Everything under a knowledge-base directory: FAQ ``*.csv|*.xlsx|*.jsonl``,
    ``sops/**/*.md|*.docx|*.txt`` and ``chats/*.jsonl|*.wecom.json|*.feishu.json|*.txt``.

    ``experts``: sender names or ids whose messages answer questions (in addition to roles recorded in
    project JSONL); ``sender_names``: WeCom/Feishu user id → display name; ``modules``: valid module ids
    (None: the taxonomy's); ``tz``: the time zone of text exports; ``file_cache``: SOP pages read before (see
    ``SourceFileCache``).
    """
    if not data_dir.is_dir():
        raise SourceFormatError(f"data_dir {data_dir} is not a directory; set ERP_ASSIST_DATA_DIR")
    modules = default_module_ids() if modules is None else modules
    loaded = LoadedSources()
    for path in _source_files(data_dir, FAQ_SUFFIXES, recursive=False):
        _collect(loaded, path, lambda p: load_faq(p, faq_columns, modules=modules))
    if (data_dir / "sops").is_dir():
        load_sop_tree(data_dir / "sops", modules=modules, loaded=loaded, file_cache=file_cache)
    messages: dict[tuple[str, str], ChatMessage] = {}
    chat_dir = data_dir / "chats"
    chat_files = sorted(chat_dir.glob("*")) if chat_dir.is_dir() else []
    for path in (p for p in chat_files if p.is_file() and _is_chat_file(p)):
        chat = _collect(loaded, path, lambda p: load_chat(p, experts=experts, names=sender_names, tz=tz),
                        keep=False)
        for message in chat or []:
            # Overlapping exports of the same group (weekly pulls) must not double a thread.
            messages.setdefault((message.group, message.msg_id), message)
    if messages:
        loaded.threads = build_threads(list(messages.values()), thread_window)
        loaded.documents.extend(_masked(thread.to_document()) for thread in loaded.threads.resolved)
    return loaded


def load_tenant_sources(settings: Settings, *, file_cache: SourceFileCache | None = None) -> LoadedSources:
    """``load_sources`` of ``settings.data_dir`` read as the settings say (chat thread window, FAQ columns,
    experts, sender names, the taxonomy's modules, the chats' time zone): what a build indexes and
    ``erp-assist kb check`` checks."""
    return load_sources(
        settings.data_dir,
        timedelta(minutes=settings.chat_thread_window_minutes),
        faq_columns=FaqColumns.from_mapping(settings.faq_columns),
        experts=frozenset(settings.chat_experts),
        sender_names=settings.chat_sender_names,
        modules=frozenset(load_taxonomy(settings.taxonomy_path).module_ids),
        tz=timezone(timedelta(hours=settings.chat_utc_offset_hours)),
        file_cache=file_cache,
    )


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
