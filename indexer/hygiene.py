"""Knowledge-base hygiene: entries that answer the same question twice (duplicates), answer it differently
(contradictions), or have gone stale — found for an expert to resolve, and the expert's resolutions applied to
the next build.

- **Duplicates**: FAQ entries, learned entries and chat threads that answer the same question: their question
  and answer similarities (TF-IDF cosine over the BM25 token stream of ``indexer.text``) weighted, or the
  embedder's cosine when vectors are given; grouped, with a suggested keeper: a source-file FAQ before a chat
  thread before a learned entry, then the most accepted, then the newest.
- **Contradictions**: same-question pairs whose answers disagree inside sentences that describe the same step:
  a different menu path (【…】), a different number, a 能/不能 flip, or a different module. The differing
  sentences are kept side by side.
- **Stale**: sources older than the tenant's age limit, never served or never accepted in N days, whose drafts
  experts keep editing or rejecting, or that mention a version or menu the tenant has retired.

Everything here is pure: the store's usage numbers and resolutions come in as small typed objects
(``SourceUsage``, ``Resolution``), so the CLI, the nightly build and the review page share one core.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from erp_assist.domain import Document, SourceType
from erp_assist.settings import Settings
from erp_assist.yamlio import load_yaml
from indexer.text import TextProcessor, normalize

__all__ = [
    "Action",
    "Contradiction",
    "Curation",
    "DIFFERENCE_LABELS",
    "DuplicateGroup",
    "DuplicateMatch",
    "EntrySummary",
    "FindingKind",
    "HygieneInputs",
    "HygieneReport",
    "HygieneRules",
    "PairScore",
    "Resolution",
    "SentencePair",
    "SourceUsage",
    "StaleReason",
    "StaleSource",
    "apply_curation",
    "base_uri",
    "check_knowledge_base",
    "copied_share",
    "curation_from",
    "duplicate_of",
    "finding_id",
    "load_rules",
    "menu_paths",
    "pair_similarity",
    "score_pairs",
    "sentence_differences",
]

RULES_FILE = "hygiene.yaml"
# Sentence ends and the step markers of Chinese procedures ("1）", "2、"): a step is the unit that is compared.
_SENTENCE = re.compile(r"[。；;！!？?\n]+|(?=(?<![\d.])\d{1,2}\s*[）)、](?!\d))")
_STEP_MARK = re.compile(r"^\s*\d{1,2}\s*[）)、]\s*")
_MENU = re.compile(r"【([^【】]{1,30})】")
_NUMBER = re.compile(r"\d+(?:\.\d+)?%?")
# Negation that flips what a sentence allows or requires ("可以反过账" / "不能反过账").
_NEGATION = re.compile(r"不能|不可以|不可|无法|不允许|不支持|禁止|不需要|无需|不需|不用|不得|不要|不会|不必|严禁|未能")


class FindingKind(StrEnum):
    DUPLICATE = "duplicate"
    CONTRADICTION = "contradiction"
    STALE = "stale"


class Action(StrEnum):
    """What an expert decided about a finding."""

    MERGE = "merge"  # the others' questions become alternates of the keeper; their links redirect to it
    KEEP = "keep"  # keep both (or keep the stale source): the finding is not raised again
    RETIRE = "retire"  # the source leaves the next build; the files and the trail keep it
    EDIT = "edit"  # the source's answer is replaced by the expert's text in the next build


@dataclass(frozen=True)
class HygieneRules:
    """Per-tenant hygiene settings: the Settings fields, overridden by ``<data_dir>/hygiene.yaml``."""

    max_age_days: int
    unused_days: int
    retired_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceUsage:
    """How a source (by document uri) fared in the store over the usage window."""

    served: int = 0  # times one of its chunks was shown as a draft
    accepted: int = 0  # drafts of it accepted as they were
    edited: int = 0  # drafts of it an expert rewrote
    rejected: int = 0  # questions where it was the top draft and everything was rejected
    last_served: datetime | None = None
    last_accepted: datetime | None = None

    @property
    def reviewed(self) -> int:
        return self.accepted + self.edited + self.rejected


@dataclass(frozen=True)
class EntrySummary:
    """What the report shows of a source: enough for an expert to decide without opening it."""

    uri: str
    source_type: str
    question: str
    answer: str
    module: str | None
    updated_at: str | None
    learned: bool


@dataclass(frozen=True)
class PairScore:
    """Two entries' similarity: questions (lexical, dense when vectors are given) and answers (lexical)."""

    left: str
    right: str
    question: float
    answer: float
    dense: float | None = None


@dataclass(frozen=True)
class SentencePair:
    """The same step in two answers, differing in ``differs`` (menu, number, polarity)."""

    left: str
    right: str
    differs: tuple[str, ...]


@dataclass(frozen=True)
class DuplicateGroup:
    id: str
    uris: tuple[str, ...]
    keeper: str
    similarity: float  # the weakest question similarity that joined the group
    why_keeper: str


# What a contradiction's answers differ in, as the review page and `erp-assist kb check` name it.
DIFFERENCE_LABELS = {"menu": "菜单路径", "number": "数字", "polarity": "能/不能", "step": "步骤", "module": "模块"}


@dataclass(frozen=True)
class Contradiction:
    id: str
    left: str
    right: str
    similarity: float
    differs: tuple[str, ...]  # menu, number, polarity, step (a changed sentence of an edited copy), module
    sentences: tuple[SentencePair, ...]


@dataclass(frozen=True)
class StaleReason:
    kind: str  # age, unused, unaccepted, edited, retired
    detail: str


@dataclass(frozen=True)
class StaleSource:
    id: str
    uri: str
    reasons: tuple[StaleReason, ...]


@dataclass
class HygieneReport:
    duplicates: list[DuplicateGroup] = field(default_factory=list)
    contradictions: list[Contradiction] = field(default_factory=list)
    stale: list[StaleSource] = field(default_factory=list)
    entries: dict[str, EntrySummary] = field(default_factory=dict)
    checked: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {"checked": self.checked, "duplicate_groups": len(self.duplicates),
                "duplicate_entries": sum(len(g.uris) - 1 for g in self.duplicates),
                "contradictions": len(self.contradictions), "stale": len(self.stale)}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the build writes it beside the index as ``hygiene.json``)."""
        involved = {u for g in self.duplicates for u in g.uris} | {u for c in self.contradictions
                                                                   for u in (c.left, c.right)}
        involved |= {s.uri for s in self.stale}
        return {"counts": self.counts,
                "duplicates": [asdict(g) for g in self.duplicates],
                "contradictions": [asdict(c) for c in self.contradictions],
                "stale": [asdict(s) for s in self.stale],
                "entries": {u: asdict(e) for u, e in self.entries.items() if u in involved}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HygieneReport:
        return cls(
            duplicates=[DuplicateGroup(**{**g, "uris": tuple(g["uris"])}) for g in data.get("duplicates", [])],
            contradictions=[Contradiction(**{**c, "differs": tuple(c["differs"]), "sentences": tuple(
                SentencePair(s["left"], s["right"], tuple(s["differs"])) for s in c["sentences"])})
                for c in data.get("contradictions", [])],
            stale=[StaleSource(s["id"], s["uri"], tuple(StaleReason(**r) for r in s["reasons"]))
                   for s in data.get("stale", [])],
            entries={u: EntrySummary(**e) for u, e in data.get("entries", {}).items()},
            checked=int(data.get("counts", {}).get("checked", 0)),
        )

    def without(self, resolutions: Iterable[Resolution]) -> HygieneReport:
        """The report less what experts have already resolved (so the review page lists only open findings)."""
        done = {r.finding_id for r in resolutions}
        return replace(self, duplicates=[g for g in self.duplicates if g.id not in done],
                       contradictions=[c for c in self.contradictions if c.id not in done],
                       stale=[s for s in self.stale if s.id not in done])


@dataclass(frozen=True)
class Resolution:
    """An expert's decision on a finding, as the store keeps it (latest per finding counts)."""

    finding_id: str
    kind: FindingKind
    action: Action
    uris: tuple[str, ...]  # the sources the finding named
    target: str | None = None  # merge: the keeper; retire/edit: the source retired or edited
    answer: str | None = None  # edit: the new answer
    reviewer: str = ""
    note: str | None = None
    created_at: datetime | None = None
    id: int | None = None


@dataclass(frozen=True)
class Curation:
    """What the next build does with the resolutions: merges (loser uri → keeper uri), retired sources, new
    answers, and pairs experts chose to keep (never raised again)."""

    merges: dict[str, str] = field(default_factory=dict)
    retired: frozenset[str] = frozenset()
    edits: dict[str, str] = field(default_factory=dict)
    kept_pairs: frozenset[frozenset[str]] = frozenset()
    kept_stale: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HygieneInputs:
    """What the store tells a build about hygiene: experts' resolutions and each source's usage."""

    curation: Curation = field(default_factory=Curation)
    usage: Mapping[str, SourceUsage] = field(default_factory=dict)
    usage_since: datetime | None = None


@dataclass(frozen=True)
class DuplicateMatch:
    """An existing entry a newly learned answer duplicates; ``sure`` when answers agree too."""

    faq_id: str
    uri: str
    question: str
    question_similarity: float
    answer_similarity: float
    sure: bool


def finding_id(kind: FindingKind | str, uris: Iterable[str]) -> str:
    """Stable id of a finding: its kind and the sources it names, so a resolution outlives rebuilds."""
    return hashlib.sha256("\x1f".join([str(kind), *sorted(set(uris))]).encode("utf-8")).hexdigest()[:16]


def base_uri(uri: str) -> str:
    """A source's document uri (an SOP section's usage counts for its document)."""
    return uri.split("#", 1)[0]


# ---------------------------------------------------------------------------------------------------------
# Rules


def load_rules(settings: Settings, path: Path | None = None) -> HygieneRules:
    """The tenant's rules: settings, overridden by ``<data_dir>/hygiene.yaml`` (max_age_days, unused_days, and
    retired terms under ``retired``, ``versions`` or ``menus``: lists of strings or of {term: …})."""
    rules = HygieneRules(settings.hygiene_max_age_days, settings.hygiene_unused_days,
                         tuple(settings.hygiene_retired_terms))
    path = path or settings.data_dir / RULES_FILE
    if not path.is_file():
        return rules
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not readable YAML ({exc}); expected max_age_days, unused_days, retired") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with max_age_days, unused_days and/or retired")
    terms = list(rules.retired_terms)
    for item in [*(data.get("retired") or []), *(data.get("versions") or []), *(data.get("menus") or [])]:
        term = item.get("term") if isinstance(item, dict) else item
        if not isinstance(term, str) or not term.strip():
            raise ValueError(f"{path}: each retired item must be a term or {{term: ...}}; got {item!r}")
        terms.append(term.strip())
    try:
        max_age = int(data.get("max_age_days", rules.max_age_days))
        unused = int(data.get("unused_days", rules.unused_days))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: max_age_days and unused_days must be whole numbers of days") from exc
    return HygieneRules(max_age, unused, tuple(dict.fromkeys(terms)))


# ---------------------------------------------------------------------------------------------------------
# Similarity


def _is_qa(document: Document) -> bool:
    return document.source_type in (SourceType.FAQ, SourceType.CHAT)


def _tfidf(texts: Sequence[str], tokenize: Callable[[str], list[str]]):  # noqa: ANN202 - a scipy sparse matrix
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer=tokenize, sublinear_tf=True, norm="l2")
    return vectorizer.fit_transform(texts)


def _question_text(document: Document) -> str:
    return document.title


def score_pairs(documents: Sequence[Document], processor: TextProcessor, *, floor: float = 0.3,
                entry_vectors: np.ndarray | None = None, dense_floor: float = 1.01, question_weight: float = 1.0,
                min_pair: float = 0.0, tokenize: Callable[[str], list[str]] | None = None,
                first: int | None = None) -> list[PairScore]:
    """Question/answer similarities of every pair of Q&A entries whose question similarity (lexical) reaches
    ``floor`` and whose question/answer similarity weighted by ``question_weight`` reaches ``min_pair``, or
    whose dense cosine reaches ``dense_floor`` (only such pairs are kept: a large KB has millions of others).
    ``entry_vectors``: the build's unit vectors of the documents (question and answer: a FAQ entry or chat thread
    is one chunk), one per document, in order. ``tokenize``: the processor's tokenizer behind a cache (a build's
    ``BuildCache``), by default ``processor.tokenize``. ``first``: only the pairs whose left entry is one of the
    first ``first`` documents (similarities still weigh terms over all of them)."""
    if len(documents) < 2:
        return []
    tokenize = tokenize or processor.tokenize
    questions = _tfidf([_question_text(d) for d in documents], tokenize)
    answers = _tfidf([d.text for d in documents], tokenize)
    pairs: list[PairScore] = []
    block = 1000
    rows = len(documents) if first is None else min(first, len(documents))
    for start in range(0, rows, block):
        end = min(start + block, rows)
        sims = (questions[start:end] @ questions.T).toarray()
        answer_sims = (answers[start:end] @ answers.T).toarray()
        dense = entry_vectors[start:end] @ entry_vectors.T if entry_vectors is not None else None
        for offset, row in enumerate(sims):
            i = start + offset
            weighted = question_weight * row + (1 - question_weight) * answer_sims[offset]
            candidates = (row >= floor) & (weighted >= min_pair)
            if dense is not None:
                candidates |= dense[offset] >= dense_floor
            candidates[: i + 1] = False
            for j in np.nonzero(candidates)[0].tolist():
                pairs.append(PairScore(documents[i].uri, documents[j].uri, round(float(row[j]), 4),
                                       round(float(answer_sims[offset][j]), 4),
                                       round(float(dense[offset][j]), 4) if dense is not None else None))
    return pairs


def scored_pairs(qa: Sequence[Document], settings: Settings, processor: TextProcessor, *,
                 entry_vectors: np.ndarray | None = None, tokenize: Callable[[str], list[str]] | None = None
                 ) -> list[PairScore]:
    """``score_pairs`` of the FAQ/chat documents with the settings' thresholds: what ``check_knowledge_base``
    reads. Its result depends only on what ``scored_pairs_key`` names."""
    return score_pairs(qa, processor, floor=settings.hygiene_question_similarity, entry_vectors=entry_vectors,
                       dense_floor=settings.hygiene_dense_similarity, question_weight=settings.hygiene_question_weight,
                       min_pair=settings.hygiene_pair_similarity, tokenize=tokenize)


def scored_pairs_key(qa: Sequence[Document], settings: Settings, vectors_by: str | None) -> tuple:
    """Everything ``scored_pairs`` depends on besides the tokenizer: the entries' content, the thresholds, and
    the embedder that made ``entry_vectors`` (None: no vectors)."""
    return ("scored_pairs", [(d.uri, d.title, d.text) for d in qa], settings.hygiene_question_similarity,
            settings.hygiene_dense_similarity, settings.hygiene_question_weight, settings.hygiene_pair_similarity,
            vectors_by)


def _dice(a: str, b: str) -> float:
    x = {a[i:i + 2] for i in range(len(a) - 1)}
    y = {b[i:i + 2] for i in range(len(b) - 1)}
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else float(a == b)


def _sentences(text: str) -> list[str]:
    parts = (_STEP_MARK.sub("", p).strip(" ，,：:") for p in _SENTENCE.split(text or ""))
    return [p for p in parts if len(p) >= 4]


def menu_paths(text: str) -> list[str]:
    """The bracketed menu names of a text, in order: 【总账】→【凭证过账】 gives ["总账", "凭证过账"]."""
    return [m.strip() for m in _MENU.findall(text)]


def _numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(text))


def _negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


def _differs(left: str, right: str) -> tuple[str, ...]:
    kinds = []
    if set(menu_paths(left)) != set(menu_paths(right)) and (menu_paths(left) or menu_paths(right)):
        kinds.append("menu")
    if _numbers(left) != _numbers(right):
        kinds.append("number")
    if _negated(left) != _negated(right):
        kinds.append("polarity")
    return tuple(kinds)


def copied_share(left: str, right: str) -> float:
    """Share of the shorter answer's sentences found word for word in the other: an edited copy (most sentences
    kept, one changed) scores high, a paraphrase (every sentence reworded) low."""
    lefts, rights = _sentences(left), _sentences(right)
    if not lefts or not rights:
        return 0.0
    shorter, other = (lefts, set(rights)) if len(lefts) <= len(rights) else (rights, set(lefts))
    return sum(s in other for s in shorter) / len(shorter)


def sentence_differences(left: str, right: str, min_similarity: float, *,
                         edited_copy: bool = False) -> list[SentencePair]:
    """Where two answers to the same question disagree, sentence by sentence.

    An ``edited_copy`` (one answer copied from the other, see ``copied_share``) kept everything else, so each
    sentence it changed is a difference — a menu path, a number, a 能/不能 flip, or else a changed step — paired
    with the closest changed sentence of the other. A paraphrase rewords every sentence (and 能/不能 with it: "不能
    填名称" for "而非名称"), so only what no rewording changes counts: a menu path or a number one answer has in
    place of one the other has; the sentences holding them are paired when they are close (bigram Dice ≥
    ``min_similarity``)."""
    lefts, rights = _sentences(left), _sentences(right)
    changed_left = [a for a in lefts if a not in rights]
    changed_right = [b for b in rights if b not in lefts]
    if edited_copy:
        found = []
        for a in changed_left:
            if not changed_right:
                break
            b = max(changed_right, key=lambda b: _dice(a, b))
            found.append(SentencePair(a, b, _differs(a, b) or ("step",)))
        return found
    found = []
    for kind, items in (("menu", lambda t: set(menu_paths(t))), ("number", _numbers)):
        only_left = items(" ".join(lefts)) - items(" ".join(rights))
        only_right = items(" ".join(rights)) - items(" ".join(lefts))
        if not (only_left and only_right):
            continue  # dropped or added detail, not a different one
        holders = [(a, b) for a in changed_left if items(a) & only_left
                   for b in changed_right if items(b) & only_right]
        if not holders:
            continue
        a, b = max(holders, key=lambda pair: _dice(*pair))
        if _dice(a, b) >= min_similarity:
            found.append(SentencePair(a, b, (kind,)))
    return found


# ---------------------------------------------------------------------------------------------------------
# The check


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.strip().replace("Z", "+00:00")).date()
    except ValueError:
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None


def _summary(document: Document, answer_chars: int = 400) -> EntrySummary:
    answer = document.text if len(document.text) <= answer_chars else document.text[:answer_chars] + "…"
    return EntrySummary(document.uri, document.source_type.value, document.title, answer, document.module,
                        document.updated_at, "provenance" in document.metadata)


def _keeper(uris: Sequence[str], by_uri: Mapping[str, Document], usage: Mapping[str, SourceUsage]) -> tuple[str, str]:
    """The entry to keep: a source-file FAQ before a chat thread before a learned entry (reviews copy their
    answers from the sources, so the source is the original), then the most accepted, then the newest; with the
    reason."""
    def rank(uri: str) -> tuple:
        doc = by_uri[uri]
        learned = "provenance" in doc.metadata
        backed = 0 if learned else 2 if doc.source_type is SourceType.FAQ else 1
        day = _parse_day(doc.updated_at) or date.min
        return (backed, usage.get(uri, SourceUsage()).accepted, day, -len(uri), uri)

    best = max(uris, key=rank)
    doc = by_uri[best]
    reasons = []
    if "provenance" not in doc.metadata:
        reasons.append("来自知识库文件" if doc.source_type is SourceType.FAQ else "来自群聊记录")
    accepted = usage.get(best, SourceUsage()).accepted
    if accepted:
        reasons.append(f"被采纳 {accepted} 次")
    if doc.updated_at:
        reasons.append(f"更新于 {doc.updated_at}")
    return best, "，".join(reasons) or "最早录入"


def pair_similarity(pair: PairScore, settings: Settings) -> float:
    """How surely two entries answer the same question: their question and answer similarities weighted (a
    paraphrased entry rewords its question more than its answer), or the dense cosine when higher."""
    weight = settings.hygiene_question_weight
    lexical = weight * pair.question + (1 - weight) * pair.answer
    return max(lexical, pair.dense if pair.dense is not None and pair.dense >= settings.hygiene_dense_similarity
               else 0.0)


def _same_question(pair: PairScore, settings: Settings) -> bool:
    if pair.dense is not None and pair.dense >= settings.hygiene_dense_similarity:
        return True  # the embedder sees one entry where the words differ
    return pair.question >= settings.hygiene_question_similarity and (
        pair_similarity(pair, settings) >= settings.hygiene_pair_similarity)


def check_knowledge_base(
    documents: Sequence[Document],
    settings: Settings,
    processor: TextProcessor,
    *,
    usage: Mapping[str, SourceUsage] | None = None,
    usage_since: datetime | None = None,
    entry_vectors: np.ndarray | None = None,
    curation: Curation | None = None,
    rules: HygieneRules | None = None,
    today: date | None = None,
    pairs: Sequence[PairScore] | None = None,
) -> HygieneReport:
    """Duplicates, contradictions and stale sources of a tenant's documents (sources plus learned entries).

    ``usage``: per document uri, what the store saw since ``usage_since`` (its oldest question): the unused and
    edit-rate checks need it. ``entry_vectors``: the build's unit vectors of the FAQ/chat documents, in the order
    they appear in ``documents``, for the dense side of the duplicate check. ``curation``: pairs and sources
    experts chose to keep are not raised again. ``pairs``: ``score_pairs`` of the FAQ/chat documents computed
    once (with a floor no higher than the settings'), when several settings are tried on one KB, or kept from
    the last build (``scored_pairs``).
    """
    usage = usage or {}
    curation = curation or Curation()
    rules = rules or load_rules(settings)
    today = today or date.today()
    qa = [d for d in documents if _is_qa(d)]
    if entry_vectors is not None and len(entry_vectors) != len(qa):
        raise ValueError(f"entry_vectors has {len(entry_vectors)} rows for {len(qa)} FAQ/chat documents")
    by_uri = {d.uri: d for d in documents}
    report = HygieneReport(checked=len(documents))
    if pairs is None:
        pairs = scored_pairs(qa, settings, processor, entry_vectors=entry_vectors)
    duplicate_edges: list[PairScore] = []
    for pair in pairs:
        if not _same_question(pair, settings) or frozenset((pair.left, pair.right)) in curation.kept_pairs:
            continue
        left, right = by_uri[pair.left], by_uri[pair.right]
        edited_copy = copied_share(left.text, right.text) >= settings.hygiene_copied_share
        sentences = sentence_differences(left.text, right.text, settings.hygiene_sentence_similarity,
                                         edited_copy=edited_copy) \
            if pair.answer >= settings.hygiene_answer_similarity else []
        differs = sorted({k for s in sentences for k in s.differs})
        if left.module and right.module and left.module != right.module:
            differs.append("module")
        if differs:
            report.contradictions.append(Contradiction(
                finding_id(FindingKind.CONTRADICTION, (pair.left, pair.right)), pair.left, pair.right,
                round(pair_similarity(pair, settings), 4), tuple(differs), tuple(sentences)))
        else:
            duplicate_edges.append(pair)
    report.duplicates = _groups(duplicate_edges, by_uri, usage, settings)
    report.stale = _stale(documents, rules, settings, usage, usage_since, curation, today)
    involved = {u for g in report.duplicates for u in g.uris} | {
        u for c in report.contradictions for u in (c.left, c.right)} | {s.uri for s in report.stale}
    report.entries = {u: _summary(by_uri[u]) for u in sorted(involved) if u in by_uri}
    return report


def _groups(edges: Sequence[PairScore], by_uri: Mapping[str, Document], usage: Mapping[str, SourceUsage],
            settings: Settings) -> list[DuplicateGroup]:
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    weakest: dict[str, float] = {}
    for edge in edges:
        a, b = find(edge.left), find(edge.right)
        if a != b:
            parent[a] = b
    for edge in edges:
        root = find(edge.left)
        weakest[root] = min(weakest.get(root, 1.0), pair_similarity(edge, settings))
    members: dict[str, list[str]] = {}
    for uri in parent:
        members.setdefault(find(uri), []).append(uri)
    groups = []
    for root, uris in members.items():
        uris = sorted(uris)
        keeper, why = _keeper(uris, by_uri, usage)
        groups.append(DuplicateGroup(finding_id(FindingKind.DUPLICATE, uris), tuple(uris), keeper,
                                     round(weakest[root], 4), why))
    return sorted(groups, key=lambda g: (-len(g.uris), -g.similarity, g.keeper))


def _stale(documents: Sequence[Document], rules: HygieneRules, settings: Settings,
           usage: Mapping[str, SourceUsage], usage_since: datetime | None, curation: Curation,
           today: date) -> list[StaleSource]:
    retired = [(t, normalize(t)) for t in rules.retired_terms]  # full-width and case differences don't hide a term
    found = []
    history = usage_since is not None and usage_since.date() <= today - timedelta(days=rules.unused_days)
    for doc in documents:
        if doc.uri in curation.kept_stale:
            continue
        reasons: list[StaleReason] = []
        day = _parse_day(doc.updated_at)
        if rules.max_age_days and day is not None and (today - day).days > rules.max_age_days:
            reasons.append(StaleReason("age", f"更新于 {day.isoformat()}，已超过 {rules.max_age_days} 天"))
        text = normalize(f"{doc.title}\n{doc.text}") if retired else ""
        for term, lowered in retired:
            if lowered and lowered in text:
                reasons.append(StaleReason("retired", f"提到已停用的「{term}」"))
        used = usage.get(doc.uri, SourceUsage())
        fresh = day is not None and (today - day).days <= rules.unused_days
        if history and not fresh and doc.source_type is not SourceType.SOP:
            cutoff = today - timedelta(days=rules.unused_days)
            if used.last_served is None or used.last_served.date() < cutoff:
                reasons.append(StaleReason("unused", f"近 {rules.unused_days} 天从未作为答案草稿出现"))
            elif used.last_accepted is None or used.last_accepted.date() < cutoff:
                reasons.append(StaleReason("unaccepted", f"近 {rules.unused_days} 天出现 {used.served} 次，从未被采纳"))
        if used.reviewed >= settings.hygiene_min_reviews:
            rate = (used.edited + used.rejected) / used.reviewed
            if rate >= settings.hygiene_edit_rate:
                reasons.append(StaleReason("edited", f"{used.reviewed} 次审核中 {used.edited} 次被改写、"
                                                     f"{used.rejected} 次被驳回（{rate:.0%}）"))
        if reasons:
            found.append(StaleSource(finding_id(FindingKind.STALE, [doc.uri]), doc.uri, tuple(reasons)))
    return found


# ---------------------------------------------------------------------------------------------------------
# Learned answers


def duplicate_of(question: str, answer: str | None, entries: Sequence[Document], processor: TextProcessor,
                 settings: Settings) -> DuplicateMatch | None:
    """The FAQ entry a newly learned question (with its answer) duplicates, or None. Without an answer (the
    review form, before the expert writes one) the question alone must reach ``hygiene_pair_similarity``.
    ``sure`` when the answers agree as well: then the review merges it as an alternate without asking."""
    faq = [d for d in entries if d.source_type is SourceType.FAQ]
    if not faq or not question.strip():
        return None
    probe = Document(SourceType.FAQ, "\x00probe", question, answer or "")
    # Only the probe's row: the pairs among the FAQ entries themselves are the build's hygiene check, not this.
    pairs = score_pairs([probe, *faq], processor, floor=settings.hygiene_question_similarity, first=1)
    if not pairs:
        return None
    best = max(pairs, key=lambda p: (pair_similarity(p, settings) if answer else p.question, p.question))
    same = _same_question(best, settings) if answer else best.question >= settings.hygiene_pair_similarity
    if not same:
        return None
    match = next(d for d in faq if d.uri == best.right)
    agrees = bool(answer) and best.answer >= settings.hygiene_answer_similarity and not sentence_differences(
        answer or "", match.text, settings.hygiene_sentence_similarity)
    return DuplicateMatch(match.source_id, match.uri, match.title, best.question, best.answer, agrees)


# ---------------------------------------------------------------------------------------------------------
# Resolutions → the next build


def curation_from(resolutions: Iterable[Resolution]) -> Curation:
    """The latest resolution per finding, turned into what a build does."""
    latest: dict[str, Resolution] = {}
    for resolution in resolutions:
        latest[resolution.finding_id] = resolution
    merges: dict[str, str] = {}
    retired: set[str] = set()
    edits: dict[str, str] = {}
    kept: set[frozenset[str]] = set()
    kept_stale: set[str] = set()
    for r in latest.values():
        if r.action is Action.MERGE and r.target:
            merges.update({u: r.target for u in r.uris if u != r.target})
        elif r.action is Action.RETIRE and r.target:
            retired.add(r.target)
        elif r.action is Action.EDIT and r.target and r.answer:
            edits[r.target] = r.answer
        elif r.action is Action.KEEP:
            if r.kind is FindingKind.STALE:
                kept_stale.update(r.uris)
            kept.update(frozenset((a, b)) for a in r.uris for b in r.uris if a < b)
    for loser in list(merges):  # a keeper merged away later: follow the chain to the entry that is left
        seen = {loser}
        target = merges[loser]
        while target in merges and target not in seen:
            seen.add(target)
            target = merges[target]
        merges[loser] = target
    return Curation(merges, frozenset(retired), edits, frozenset(kept), frozenset(kept_stale))


def apply_curation(documents: Sequence[Document], curation: Curation) -> tuple[list[Document], dict[str, Any]]:
    """Documents as the expert resolved them: retired ones left out, merged ones folded into their keeper (their
    question and alternates become the keeper's alternates, their uri is listed in ``merged_from`` so links
    redirect), edited answers replaced. Returns the documents and what was done (for the manifest)."""
    if not (curation.merges or curation.retired or curation.edits):
        return list(documents), {"merged": 0, "retired": 0, "edited": 0, "redirects": {}}
    by_uri = {d.uri: d for d in documents}
    retired = {u for u in curation.retired if u in by_uri}
    merged: dict[str, list[Document]] = {}
    redirects: dict[str, str] = {}
    for loser, keeper in sorted(curation.merges.items()):  # the same alternates in the same order every build
        if loser in by_uri and keeper in by_uri and keeper not in retired and loser != keeper:
            merged.setdefault(keeper, []).append(by_uri[loser])
            redirects[loser] = keeper
    out = []
    edited = 0
    for doc in documents:
        if doc.uri in retired or doc.uri in redirects:
            continue
        if doc.uri in curation.edits and doc.source_type is not SourceType.SOP:
            doc = replace(doc, text=curation.edits[doc.uri])
            edited += 1
        if doc.uri in merged:
            known = list(doc.metadata.get("alternates", []))
            for loser in merged[doc.uri]:
                known += [q for q in [loser.title, *loser.metadata.get("alternates", [])] if q not in known
                          and q != doc.title]
            doc = replace(doc, metadata={**doc.metadata, "alternates": known,
                                         "merged_from": sorted(d.uri for d in merged[doc.uri])})
        out.append(doc)
    return out, {"merged": len(redirects), "retired": len(retired), "edited": edited, "redirects": redirects}
