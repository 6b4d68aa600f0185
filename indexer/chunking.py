"""Split documents into retrieval chunks.

FAQ entries and chat threads are one chunk each (a question with its answer). SOPs are split on Markdown
headings first, then on Chinese sentence punctuation down to the target size; every chunk keeps its heading
path as title and the deepest heading's slug as anchor, so its link opens the right section.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from erp_assist.domain import Chunk, Document, SourceType, content_id
from indexer.text import normalize

__all__ = ["chunk_document", "chunk_documents", "slugify", "whole_document_chunk", "whole_document_chunk_id"]

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4")]
_SEPARATORS = ["\n\n", "\n", "。", "！", "？", "；", "!", "?", ";", "，", ",", " ", ""]
# A chunk with fewer meaningful characters than this is a stray heading or list marker, not knowledge.
_MIN_MEANINGFUL_CHARS = 8


def slugify(heading: str) -> str:
    """URL anchor for a heading; keeps CJK characters ("3.1 创建采购订单" → "3-1-创建采购订单")."""
    slug = re.sub(r"[^\w\u3400-\u9fff]+", "-", heading.strip().lower())
    return slug.strip("-")


def _meaningful(text: str) -> int:
    return len(re.findall(r"[\w\u3400-\u9fff]", text))


def whole_document_chunk_id(document: Document) -> str:
    """The id of a document that is one chunk (FAQ entry, chat thread): a hash of its uri and normalized text."""
    return content_id(document.uri, normalize(document.title), normalize(document.text))


def whole_document_chunk(document: Document, chunk_id: str | None = None) -> Chunk:
    """A FAQ entry or chat thread as its one chunk; ``chunk_id``: ``whole_document_chunk_id`` known before."""
    return Chunk(
        id=chunk_id or whole_document_chunk_id(document),
        source_type=document.source_type,
        source_id=document.source_id,
        title=document.title,
        text=document.text,
        module=document.module,
        url=document.url,
        metadata=dict(document.metadata),
    )


def chunk_document(document: Document, chunk_size: int = 400, chunk_overlap: int = 40) -> list[Chunk]:
    """Chunks of one document, in reading order, without empty or heading-only pieces."""
    if document.source_type is not SourceType.SOP:
        return [whole_document_chunk(document)]
    header_splitter = MarkdownHeaderTextSplitter(headers_to_split_on=_HEADERS, strip_headers=True)
    text_splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 4),
        separators=_SEPARATORS,
        keep_separator="end",
    )
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for section in header_splitter.split_text(document.text):
        headings = [section.metadata[key] for _, key in _HEADERS if section.metadata.get(key)]
        path = [h for h in headings if h != document.title]
        title = " > ".join([document.title, *path])
        anchor = slugify(path[-1]) if path else ""
        for piece in text_splitter.split_text(section.page_content):
            piece = piece.strip()
            if _meaningful(piece) < _MIN_MEANINGFUL_CHARS:
                continue
            chunk_id = content_id(document.uri, anchor, normalize(piece))
            if chunk_id in seen:
                continue
            seen.add(chunk_id)
            chunks.append(
                Chunk(
                    id=chunk_id,
                    source_type=SourceType.SOP,
                    source_id=document.source_id,
                    title=title,
                    text=piece,
                    anchor=anchor,
                    module=document.module,
                    url=f"{document.url}#{anchor}" if document.url and anchor else document.url,
                    metadata={"heading_path": path},
                )
            )
    return chunks


def chunk_documents(documents: list[Document], chunk_size: int = 400, chunk_overlap: int = 40,
                    chunker: Callable[[Document], list[Chunk]] | None = None) -> list[Chunk]:
    """All chunks of all documents, duplicates (same content id) dropped. ``chunker``: ``chunk_document`` with
    these sizes behind a cache (a build's ``BuildCache``)."""
    chunker = chunker or (lambda document: chunk_document(document, chunk_size, chunk_overlap))
    chunks: dict[str, Chunk] = {}
    for document in documents:
        for chunk in chunker(document):
            chunks.setdefault(chunk.id, chunk)
    return list(chunks.values())
