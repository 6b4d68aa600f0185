"""Mine a tenant's own words for its vocabulary pack (``erp-assist vocab suggest``, issue #19).

Four kinds of candidates, from the tenant's sources (FAQ, SOPs, resolved chat threads) and its chat history:

- ``code``: codes people type (ZME21, KIS-2031, E 1001) that no pack knows;
- ``menu``: menu and button names written in 【】 (【收料通知单】→【下推】) that jieba cuts into pieces;
- ``phrase``: strings jieba splits apart but that nearly always occur together (收料 + 通知单);
- ``question_word``: words askers use that no source uses (the group's own names for things).

An admin confirms candidates into ``<data_dir>/vocab.yaml`` (``write_tenant_pack``): plain words, or names of a
concept (``TERM=concept_id``). The file is checked like a shipped pack before it replaces the old one.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml

from erp_assist.yamlio import load_yaml
from indexer.errors import PackError
from indexer.text import TextProcessor, normalize
from indexer.vocab import TENANT_PACK, Vocabulary, load_pack
from models.taxonomy import Taxonomy

__all__ = ["Accepted", "TermCandidate", "mine_candidates", "parse_accept", "tenant_texts", "write_tenant_pack"]

CandidateKind = Literal["code", "menu", "phrase", "question_word"]
# Codes as typed: letters and digits mixed, optionally joined by - _ . or one space before a number block.
# Not part of a longer document number (SO-2024-0315 is a document, not a name to learn).
_CODE = re.compile(r"(?<![A-Za-z0-9])(?<!\d[-_./])(?:[A-Za-z]{1,5}[-_.]?\d{2,6}[A-Za-z]?|[A-Za-z]\d[A-Za-z0-9]? \d{3,4})"
                   r"(?![A-Za-z0-9]|[-_./]\d)")
_MENU = re.compile(r"【([^【】\n]{2,20})】")
_CJK_WORD = re.compile(r"^[\u3400-\u4dbf\u4e00-\u9fff]+$")
# 【问题】-style labels of chat templates are structure, not menu names.
_CHAT_LABELS = {"问题", "截图", "期望结果", "现象", "补充", "背景", "问题描述", "报错", "附件"}


@dataclass(frozen=True)
class TermCandidate:
    """A term the tenant uses that its vocabulary does not have yet."""

    term: str
    kind: CandidateKind
    count: int  # occurrences in sources and questions together
    in_questions: int
    in_sources: int
    example: str  # a short stretch of text around one occurrence
    concept: str | None = None  # a concept its parts already name, as a hint for the admin


@dataclass(frozen=True)
class Accepted:
    term: str
    concept: str | None = None


def _example(text: str, term: str, width: int = 14) -> str:
    at = text.find(term)
    if at < 0:
        return text[: 2 * width]
    return text[max(0, at - width): at + len(term) + width].replace("\n", " ")


def _known(term: str, vocabulary: Vocabulary | None, processor: TextProcessor) -> bool:
    key = normalize(term)
    if vocabulary is not None and (key in vocabulary.term_concepts or key in vocabulary.words):
        return True
    return processor.frequency(key) > 0 and _CJK_WORD.match(key) is not None


def mine_candidates(
    sources: list[str],
    questions: list[str],
    processor: TextProcessor,
    vocabulary: Vocabulary | None,
    *,
    min_count: int = 2,
    max_common_frequency: int = 500,
    limit: int = 50,
) -> list[TermCandidate]:
    """Candidates from source texts and askers' messages: those askers use first, then by frequency (at most
    ``limit``).

    ``min_count``: occurrences a candidate needs; ``max_common_frequency``: a question word jieba's dictionary
    counts more often than this is everyday Chinese, not the group's own name for something."""
    texts = [*sources, *questions]
    source_blob = "\n".join(normalize(t) for t in sources)
    found: dict[str, TermCandidate] = {}

    def count_in(term: str, group: list[str]) -> int:
        return sum(t.count(term) for t in group)

    def add(term: str, kind: CandidateKind) -> None:
        term = term.strip()
        if not term or term in found or _known(term, vocabulary, processor):
            return
        in_sources, in_questions = count_in(term, sources), count_in(term, questions)
        if in_sources + in_questions < min_count:
            return
        example_text = next((t for t in texts if term in t), "")
        hint = None
        if vocabulary is not None:
            concepts = vocabulary.concepts_in(normalize(term))
            hint = concepts[0] if concepts else None
        found[term] = TermCandidate(term, kind, in_sources + in_questions, in_questions, in_sources,
                                    _example(example_text, term), hint)

    # Codes, as typed (upper case kept for the admin; the pack loader lowercases).
    codes = Counter(m.group(0) for t in texts for m in _CODE.finditer(t))
    for code, _ in codes.most_common():
        add(code, "code")
    # Menu paths: every 【】 item that jieba does not keep whole.
    menus = Counter(m.group(1).strip() for t in texts for m in _MENU.finditer(t))
    for menu, _ in menus.most_common():
        if menu not in _CHAT_LABELS and len(list(processor._jieba.cut(normalize(menu)))) > 1:
            add(menu, "menu")
    # Phrases jieba splits: adjacent CJK words that occur together most of the time they occur at all.
    word_counts: Counter[str] = Counter()
    pair_counts: Counter[tuple[str, str]] = Counter()
    for text in texts:
        words = [w for w in processor._jieba.cut(normalize(text)) if w.strip()]
        word_counts.update(words)
        for a, b in zip(words, words[1:]):
            if _CJK_WORD.match(a) and _CJK_WORD.match(b) and a not in processor.stopwords \
                    and b not in processor.stopwords and 3 <= len(a) + len(b) <= 8:
                pair_counts[(a, b)] += 1
    terms = vocabulary.term_concepts if vocabulary is not None else {}
    for (a, b), n in pair_counts.most_common():
        if a in terms or b in terms:
            continue  # 生成 + 采购入库单: a known name with a verb or a neighbour is not a new name
        if n >= min_count and n / min(word_counts[a], word_counts[b]) >= 0.6:
            add(a + b, "phrase")
    # Words askers use that no source does.
    asked: Counter[str] = Counter()
    for question in questions:
        asked.update(w for w in processor.words(question) if _CJK_WORD.match(w))
    for word, n in asked.most_common():
        if n >= min_count and word not in source_blob and processor.frequency(word) <= max_common_frequency:
            add(word, "question_word")
    # What askers type comes first: those are the group's words the sources miss.
    ranked = sorted(found.values(), key=lambda c: (c.in_questions == 0, -c.count, c.kind, c.term))
    return ranked[:limit]


def parse_accept(value: str) -> list[Accepted]:
    """``收料单,ZMM001=purchase_receipt`` → terms, each optionally with the concept it names."""
    accepted = []
    for item in (v.strip() for v in re.split(r"[,，]", value)):
        if not item:
            continue
        term, _, concept = item.partition("=")
        accepted.append(Accepted(term.strip(), concept.strip() or None))
    return accepted


def tenant_texts(data_dir: Path, *, experts: frozenset[str] = frozenset()) -> tuple[list[str], list[str]]:
    """The tenant's source texts (FAQ questions and answers, SOPs) and its askers' chat messages."""
    from erp_assist.domain import SourceType
    from indexer.loaders import _is_chat_file, load_chat, load_sources

    loaded = load_sources(data_dir, experts=experts)
    sources = [f"{d.title}\n{d.text}" for d in loaded.documents if d.source_type is not SourceType.CHAT]
    questions: list[str] = []
    chat_dir = data_dir / "chats"
    for path in sorted(chat_dir.glob("*")) if chat_dir.is_dir() else []:
        if path.is_file() and _is_chat_file(path):
            try:
                questions.extend(m.text for m in load_chat(path, experts=experts) if m.role == "asker")
            except (OSError, ValueError):
                continue  # load_sources already reported the file as skipped
    return sources, questions


def write_tenant_pack(data_dir: Path, accepted: list[Accepted], taxonomy: Taxonomy,
                      shared_concepts: dict | None = None) -> Path:
    """Add accepted terms to ``<data_dir>/vocab.yaml`` (created when missing): words, or a concept's names.

    The new file is checked like any pack (an unknown concept is a ``PackError``) before it replaces the old
    one, so a bad ``--accept`` leaves the tenant's pack as it was."""
    path = data_dir / TENANT_PACK
    data: dict = {}
    if path.is_file():
        loaded = load_yaml(path.read_text(encoding="utf-8"))
        data = loaded if isinstance(loaded, dict) else {}
    data.setdefault("vendor", "tenant")
    data.setdefault("title", "本群自己的叫法 (erp-assist vocab suggest)")
    words = list(data.get("words") or [])
    concepts = dict(data.get("concepts") or {})
    for item in accepted:
        if item.concept is None:
            if item.term not in words:
                words.append(item.term)
        else:
            names = list(concepts.get(item.concept) or [])
            if item.term not in names:
                names.append(item.term)
            concepts[item.concept] = names
    if words:
        data["words"] = words
    if concepts:
        data["concepts"] = concepts
    partial = path.with_name(path.name + ".part")
    data_dir.mkdir(parents=True, exist_ok=True)
    partial.write_text("# The group's own words, confirmed by an admin (erp-assist vocab suggest --write).\n"
                       + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    try:
        load_pack(partial, taxonomy, shared_concepts)
    except PackError as exc:
        partial.unlink(missing_ok=True)
        raise PackError(str(exc).replace(partial.name, path.name) + "; nothing was written") from exc
    os.replace(partial, path)
    return path
