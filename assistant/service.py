"""The assistant core: a question in, tags and ranked draft answers with their sources out.

No HTTP and no CLI here: both shells call ``Assistant``. The published index is re-read when the ``current``
pointer moves; a new build that fails to load is logged and the old one keeps serving.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from erp_assist.domain import (
    MODULE_INFERRED,
    UNKNOWN_MODULE,
    Chunk,
    Classification,
    Hit,
    SourceType,
    Suggestion,
    SuggestResult,
    Urgency,
)
from erp_assist.errors import ErpAssistError, ModelNotTrainedError
from erp_assist.settings import Settings
from indexer.embedding import Embedder
from indexer.index import KnowledgeIndex, check_embedder_dimension, current_build_dir, load_index
from indexer.retrieval import FusionConfig, Retriever
from indexer.text import TextProcessor, strip_chat_markup
from indexer.vocab import Vocabulary
from models.abstention import AbstentionModel, AbstentionSignals, SignalExtractor
from models.classifier import QuestionClassifier, load_labelled, validate_question
from models.gate import OffTopicGate, load_chatter
from models.taxonomy import load_taxonomy

__all__ = ["Assistant", "Ranking", "load_or_train_classifier", "load_or_train_gate", "train_gate", "module_tagger"]

log = logging.getLogger(__name__)
_SENTENCE = re.compile(r"(?<=[。！？；!?;\n])")
_EXCERPT_CHARS = 120
_NEAR_DUPLICATE = 0.9


@dataclass(frozen=True)
class ModuleTagger:
    """Labels for chunks whose source has no module (chat threads, SOP pages without one), for ``build_index``;
    ``unknown`` stays untagged. ``identity`` is the classifier's: a rebuild reuses the labels it gave the same texts
    before."""

    classifier: QuestionClassifier

    def __call__(self, texts: list[str]) -> list[str]:
        return [c.module if c.module != UNKNOWN_MODULE else "" for c in self.classifier.classify_many(texts)]

    @property
    def identity(self) -> str:
        return self.classifier.identity


def module_tagger(classifier: QuestionClassifier) -> ModuleTagger:
    """``ModuleTagger`` of ``classifier``."""
    return ModuleTagger(classifier)


def load_or_train_classifier(settings: Settings) -> QuestionClassifier:
    """The saved classifier; trained from the labelled data (and saved) when there is none yet."""
    taxonomy = load_taxonomy(settings.taxonomy_path)
    try:
        return QuestionClassifier.load(settings.classifier_path, taxonomy, settings.module_confidence_threshold)
    except ModelNotTrainedError as exc:
        log.warning("%s — training a classifier from %s", exc, settings.classifier_data_dir)
    classifier = QuestionClassifier(taxonomy, module_threshold=settings.module_confidence_threshold,
                                    approach=settings.classifier_approach, p1_recall_target=settings.p1_recall_target)
    classifier.train(load_labelled(settings.classifier_data_dir, taxonomy))
    classifier.save(settings.classifier_path)
    return classifier


def train_gate(settings: Settings) -> OffTopicGate:
    """Train the off-topic gate on the classifier's ERP questions against the written chatter, and save it."""
    erp = [item.text for item in load_labelled(settings.classifier_data_dir, load_taxonomy(settings.taxonomy_path))]
    gate = OffTopicGate(erp_recall_target=settings.gate_erp_recall_target)
    gate.train(erp, load_chatter(settings.offtopic_data_dir))
    gate.save(settings.gate_path)
    return gate


def load_or_train_gate(settings: Settings) -> OffTopicGate | None:
    """The saved off-topic gate (trained and saved when there is none yet); None when the gate is off."""
    if not settings.off_topic_gate:
        return None
    try:
        return OffTopicGate.load(settings.gate_path)
    except ModelNotTrainedError as exc:
        log.warning("%s — training the off-topic gate", exc)
    return train_gate(settings)


@dataclass(frozen=True)
class Ranking:
    """What the assistant ranks for a question: its tags, the hits in served order (module bonus applied), and
    the best score before the bonus, on which abstention is decided — by the bar, or by the build's learned
    model when it serves (then with the signals it read and its probability that nothing answers)."""

    question: str
    classification: Classification
    hits: list[Hit]
    best: float
    build_id: str
    abstain_threshold: float  # the bar ``best`` is held to for this build
    signals: AbstentionSignals | None = None
    abstain_probability: float | None = None  # P(the knowledge base does not answer), from the learned model
    abstain_probability_threshold: float | None = None

    @property
    def abstains(self) -> bool:
        """Whether the question goes to an expert without drafts."""
        if self.abstain_probability is not None and self.abstain_probability_threshold is not None:
            return self.abstain_probability >= self.abstain_probability_threshold
        return self.best < self.abstain_threshold

    @property
    def draft_floor(self) -> float:
        """Drafts below the bar are left out, but a question the learned model answers keeps its best one."""
        if self.abstain_probability is None or not self.hits:
            return self.abstain_threshold
        return min(self.abstain_threshold, self.hits[0].score)


@dataclass(frozen=True)
class _Serving:
    build_name: str
    index: KnowledgeIndex
    retriever: Retriever
    abstention: AbstentionModel | None = None  # the learned model, when this build's abstention uses it
    signals: SignalExtractor | None = None
    kb_vocabulary: frozenset[str] = frozenset()  # the FAQ's own words, which the off-topic gate never turns away


def _module_votes(hits: list[Hit]) -> dict[str, float]:
    """Score-weighted share of each module among the best hits: what the knowledge base says the topic is."""
    votes: dict[str, float] = {}
    for hit in hits:
        if hit.chunk.module:
            votes[hit.chunk.module] = votes.get(hit.chunk.module, 0.0) + hit.score
    total = sum(votes.values())
    return {m: v / total for m, v in votes.items()} if total else {}


def _boost(hits: list[Hit], module: str, boost: float) -> list[Hit]:
    """The module bonus, for chunks whose module their source (or an expert) set: a module the build guessed
    for an untagged chunk earns none (on FAQ sets without modules, guessed bonuses ranked below plain BM25)."""
    if not boost:
        return hits
    boosted = [replace(h, score=h.score + boost) if h.chunk.module == module and not _guessed(h.chunk) else h
               for h in hits]
    return sorted(boosted, key=lambda h: -h.score)


def _guessed(chunk: Chunk) -> bool:
    return bool(chunk.metadata.get(MODULE_INFERRED))


def _bigrams(text: str) -> set[str]:
    text = re.sub(r"\s+", "", text)
    return {text[i : i + 2] for i in range(len(text) - 1)}


def _similar(a: str, b: str) -> bool:
    x, y = _bigrams(a), _bigrams(b)
    return bool(x and y) and len(x & y) / len(x | y) >= _NEAR_DUPLICATE


class Assistant:
    """Classifies a question and drafts answers from the published index. ``load()`` reads models once.

    Pass already loaded ``processor``, ``embedder``, ``classifier`` and ``gate`` to share them (one assistant per
    tenant)."""

    def __init__(self, settings: Settings, *, processor: TextProcessor | None = None, embedder: Embedder | None = None,
                 classifier: QuestionClassifier | None = None, gate: OffTopicGate | None = None) -> None:
        self.settings = settings
        self.processor = processor or TextProcessor.from_settings(settings)
        self.embedder = embedder or Embedder(settings.embedder, settings.device, settings.embed_batch_size)
        self.classifier: QuestionClassifier | None = classifier
        self.gate: OffTopicGate | None = gate
        self._serving: _Serving | None = None
        self._lock = threading.Lock()
        self._pinned = False
        self._refused: str | None = None  # the last build (or pointer error) that failed, reported once

    def load(self, build: Path | None = None) -> Assistant:
        """Load models and the published build (or ``build``, e.g. an unpublished one under evaluation)."""
        self.processor.warm_up()
        self.classifier = self.classifier or load_or_train_classifier(self.settings)
        self.gate = self.gate or load_or_train_gate(self.settings)
        self._pinned = build is not None
        self._serving = self._open(build or current_build_dir(self.settings.index_dir))
        return self

    def _open(self, build: Path) -> _Serving:
        index = load_index(build, settings=self.settings)
        embedder = self._embedder_for(index)
        processor = self._processor_for(index)
        model = self._abstention_model(index)
        signals = None
        if model is not None:
            from eval.tuning import signal_extractor

            signals = signal_extractor(index, processor)
        faq_questions = [c.title for c in index.chunks if c.source_type is SourceType.FAQ]
        kb_vocabulary = (self.gate.kb_vocabulary(faq_questions, self.settings.gate_kb_word_max_frequency)
                         if self.gate is not None else frozenset())
        return _Serving(build.name, index, Retriever(index, processor, embedder), model, signals, kb_vocabulary)

    def _embedder_for(self, index: KnowledgeIndex) -> Embedder | None:
        """The embedder when the build's ranking uses vectors (its weights are loaded then, and only then);
        ``None`` for a BM25-only build or a dense weight of 0, so serving never imports torch for nothing."""
        if not index.has_vectors or FusionConfig.from_settings(self.settings, index.manifest).dense_weight <= 0:
            return None
        check_embedder_dimension(index, self.embedder.dimension)
        return self.embedder

    def _abstention_model(self, index: KnowledgeIndex) -> AbstentionModel | None:
        """The build's learned abstention model when the settings let it decide: ``learned`` always, ``auto``
        when the build's cross-validation chose it and no bar is set. ``load_index`` verified its checksum."""
        mode = self.settings.abstain_model
        block = (index.manifest.get("fusion") or {}).get("abstention") or {}
        if mode == "bar" or "file" not in block:
            return None
        chosen = block.get("chosen") == "learned" and self.settings.abstain_threshold is None
        if mode == "auto" and not chosen:
            return None
        try:
            return AbstentionModel.load(index.path / block["file"])
        except (OSError, ValueError) as exc:
            raise ErpAssistError(f"build {index.build_id}: its abstention model {block['file']} cannot be "
                                 f"read ({exc}); rebuild with `erp-assist index` or set "
                                 "ERP_ASSIST_ABSTAIN_MODEL=bar") from exc

    def _processor_for(self, index: KnowledgeIndex) -> TextProcessor:
        """Questions must be tokenized exactly as the build tokenized its chunks."""
        built = index.manifest.get("lexical", {})
        weights = {k: built[k] for k in ("word_weight", "unigram_weight", "bigram_weight") if k in built}
        # The ERP vocabulary packs the build read its chunks with (none for a build from before packs).
        vocabulary_block = built.get("vocabulary") or {}
        same_vocabulary = vocabulary_block.get("fingerprint") == self.processor.vocabulary_fingerprint
        if same_vocabulary and all(getattr(self.processor, k) == v for k, v in weights.items()):
            return self.processor
        vocabulary = Vocabulary.load(index.path / vocabulary_block["file"]) if vocabulary_block else None
        log.warning("build %s was tokenized with %s and vocabulary packs %s; using those for questions",
                    index.build_id, weights, vocabulary_block.get("vendors"))
        processor = TextProcessor.from_settings(self.settings, vocabulary, **weights)
        processor.warm_up()
        return processor

    @property
    def serving(self) -> _Serving:
        if self._serving is None:
            raise ErpAssistError("the assistant is not loaded; call load() first")
        return self._serving

    @property
    def index(self) -> KnowledgeIndex:
        return self.serving.index

    def refresh(self) -> bool:
        """Switch to a newly published build; keep serving the old one if the new one cannot be loaded."""
        if self._pinned:
            return False
        try:
            build = current_build_dir(self.settings.index_dir)
        except (ErpAssistError, OSError, ValueError) as exc:
            self._refuse(str(exc), "index pointer unreadable, keeping %s: %s", self.serving.build_name, exc)
            return False
        # A build that failed once is not reopened on every request; a newly published one is tried.
        if build.name in (self.serving.build_name, self._refused):
            return False
        with self._lock:
            if build.name in (self.serving.build_name, self._refused):
                return False
            try:
                self._serving = self._open(build)
            except Exception as exc:  # noqa: BLE001 - whatever breaks the new build, the old one keeps serving
                self._refuse(build.name, "build %s failed to load, keeping %s: %s", build.name,
                             self.serving.build_name, exc, traceback=not isinstance(exc, ErpAssistError))
                return False
            self._refused = None
        log.info("now serving index build %s", build.name)
        return True

    def _refuse(self, key: str, message: str, *args: object, traceback: bool = False) -> None:
        if key != self._refused:
            self._refused = key
            log.error(message, *args, exc_info=traceback)

    def rank(self, question: str) -> Ranking:
        """Classify the question and rank the knowledge base for it, exactly as ``suggest`` serves it."""
        question = validate_question(question, self.settings.max_question_chars)
        assert self.classifier is not None, "Assistant.load() was not called"
        serving = self.serving
        config = FusionConfig.from_settings(self.settings, serving.index.manifest)
        hits = serving.retriever.hybrid(question, self.settings.candidate_k, config)
        own = self.classifier.classify(question)
        vocabulary = serving.retriever.processor.vocabulary
        # A T-code or a document name in the question is module evidence of its own (vocabulary packs).
        named = (self.classifier.with_evidence(own, vocabulary.module_evidence(question),
                                               self.settings.vocab_module_evidence_weight)
                 if vocabulary is not None else own)
        classification = self.classifier.with_evidence(
            named,
            _module_votes(hits[: self.settings.module_evidence_k]),
            self.settings.module_evidence_weight,
        )
        # Abstain on the evidence itself, before the module bonus can lift a weak match over the bar.
        best = hits[0].score if hits else 0.0
        learned: dict = {}
        if serving.abstention is not None and serving.signals is not None:
            # The classifier's own module view, not the one blended with the hits: agreement is the signal.
            signals = serving.signals(question, hits, own.module_scores,
                                      dense=config.dense_weight > 0 and serving.retriever.embedder is not None)
            learned = {"signals": signals, "abstain_probability": serving.abstention.probability(signals),
                       "abstain_probability_threshold": serving.abstention.threshold}
        hits = _boost(hits, classification.module, config.module_boost)
        return Ranking(question, classification, hits, best, serving.index.build_id, config.abstain_threshold,
                       **learned)

    def suggest(self, question: str, top_k: int | None = None) -> SuggestResult:
        """Tags and up to ``top_k`` de-duplicated drafts; ``abstained`` when nothing is good enough;
        ``off_topic`` (no drafts, P3) when the message is not about the ERP."""
        ranking = self.rank(question)
        gate = (self.gate.decide(ranking.question, self.serving.kb_vocabulary)
                if self.gate is not None and self.settings.off_topic_gate else None)
        if gate is not None and gate.off_topic and not self._asks_a_faq(ranking):
            # Chatter: nothing to draft, nobody to page, no module to guess.
            turned_away = replace(ranking.classification, module=UNKNOWN_MODULE, urgency=Urgency.P3, cues=[])
            return SuggestResult(ranking.question, turned_away, [], False, build_id=ranking.build_id,
                                 off_topic=True, off_topic_probability=gate.probability)
        abstained = ranking.abstains
        suggestions = [] if abstained else self._draft(ranking.question, ranking.hits,
                                                       top_k or self.settings.top_k,
                                                       ranking.draft_floor)
        return SuggestResult(ranking.question, ranking.classification, suggestions, abstained,
                             build_id=ranking.build_id,
                             off_topic_probability=gate.probability if gate is not None else None)

    def _asks_a_faq(self, ranking: Ranking) -> bool:
        """Whether the question is close to one of the group's own FAQ questions (character-bigram Dice of at
        least ``gate_faq_echo`` with a top hit's question or alternate): what the group answers is never
        chatter, however chatty its words."""
        asked = _bigrams(self.processor.normalize(ranking.question))
        if not asked:
            return False
        for hit in ranking.hits[: self.settings.top_k]:
            if hit.chunk.source_type is not SourceType.FAQ:
                continue
            for title in (hit.chunk.title, *hit.chunk.metadata.get("alternates", [])):
                known = _bigrams(self.processor.normalize(title))
                if known and 2 * len(asked & known) / (len(asked) + len(known)) >= self.settings.gate_faq_echo:
                    return True
        return False

    def _draft(self, question: str, hits: list[Hit], top_k: int,
               abstain_threshold: float) -> list[Suggestion]:
        chosen: list[Hit] = []
        for hit in hits:
            if hit.score < abstain_threshold:
                break
            if any(hit.chunk.uri == c.chunk.uri or _similar(hit.chunk.text, c.chunk.text) for c in chosen):
                continue
            chosen.append(hit)
            if len(chosen) == top_k:
                break
        return [
            Suggestion(
                rank=rank,
                score=round(hit.score, 4),
                draft=hit.chunk.text,
                source=hit.chunk.link,
                excerpt=self._excerpt(question, hit.chunk),
                module=hit.chunk.module,
            )
            for rank, hit in enumerate(chosen, start=1)
        ]

    def _excerpt(self, question: str, chunk: Chunk) -> str:
        """The sentence of the chunk that shares the most with the question."""
        wanted = _bigrams(self.processor.normalize(question))
        sentences = [s.strip() for s in _SENTENCE.split(strip_chat_markup(chunk.text)) if s.strip()]
        if not sentences:
            return chunk.text[:_EXCERPT_CHARS]
        best = max(sentences, key=lambda s: len(wanted & _bigrams(self.processor.normalize(s))))
        return best if len(best) <= _EXCERPT_CHARS else best[:_EXCERPT_CHARS] + "…"

    def source(self, uri: str) -> list[Chunk]:
        """All chunks of a source link (a whole FAQ entry, SOP document or section, chat thread)."""
        return self.index.chunk_by_uri(uri)
