"""Question classifier: ERP module and urgency, two calibrated linear heads over one feature extractor.

The feature extractor and the linear model are an *approach*, chosen by name from ``APPROACHES``;
``models.training`` compares them by cross-validation and the winner is ``DEFAULT_APPROACH``.
Calibration makes the confidences mean something: a low module confidence sends the question to the general
queue (module ``unknown``) instead of a guess, and the urgency head calls a question P1 exactly when its P1
probability clears ``p1_threshold``, which ``train()`` tunes by cross-validation for a high P1 recall.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

import joblib
import numpy as np
from scipy import sparse
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from erp_assist.domain import UNKNOWN_MODULE, Classification, Urgency
from erp_assist.errors import InvalidQuestionError, ModelNotTrainedError
from indexer.text import TextProcessor, normalize
from models.taxonomy import SHIPPED_TAXONOMY, Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from indexer.embedding import Embedder

__all__ = [
    "APPROACHES",
    "DEFAULT_APPROACH",
    "MIN_PER_LABEL",
    "MODEL_FORMAT",
    "P1_RECALL_TARGET",
    "Approach",
    "CueWeights",
    "EmbeddingFeatures",
    "Features",
    "LabelledQuestion",
    "PlattEnsemble",
    "QuestionClassifier",
    "shared_processor",
    "SoftmaxEnsemble",
    "TfidfFeatures",
    "decide_urgency",
    "get_approach",
    "load_labelled",
    "write_labelled",
    "tune_p1_threshold",
    "validate_question",
]

_READABLE = re.compile(r"[\w\u3400-\u9fff]")
_CUE = re.compile(r"[\w\u3400-\u9fff]+")  # n-grams within a word run, not "了," or " e"
_CUE_FEATURES = 12  # strongest features laid onto the question to find its cues
# Version of the saved file's layout; a file of another version is refused (and retrained by the service).
MODEL_FORMAT = 2
# Fewest labelled questions per module and per urgency level: calibration needs a few in every fold.
MIN_PER_LABEL = 5
# train() tunes p1_threshold for this P1 recall on its own out-of-fold predictions. Cross-validation shares the
# training data's phrasing and new wording lowers recall (0.911 on the golden set with a 0.95 target, 0.946 with
# 0.98), so the bar keeps a wide margin above the 0.95 that must hold in production: a missed outage costs most.
P1_RECALL_TARGET = 0.99


@dataclass(frozen=True)
class LabelledQuestion:
    text: str
    module: str
    urgency: str
    source: str = ""  # "file.jsonl:line", to find a question again when its label looks wrong


def load_labelled(directory: Path, taxonomy: Taxonomy) -> list[LabelledQuestion]:
    """All ``*.jsonl`` files in a directory; a label outside the taxonomy is an error naming file and line."""
    items: list[LabelledQuestion] = []
    files = sorted(directory.glob("*.jsonl"))
    if not files:
        raise ValueError(f"no *.jsonl training files in {directory}; set ERP_ASSIST_CLASSIFIER_DATA_DIR")
    for path in files:
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            record = json.loads(line)
            if record["module"] not in taxonomy.module_ids or record["urgency"] not in taxonomy.urgency_ids:
                raise ValueError(f"{path}:{line_no}: label {record['module']}/{record['urgency']} not in taxonomy")
            items.append(LabelledQuestion(record["text"], record["module"], record["urgency"], f"{path.name}:{line_no}"))
    return items


def write_labelled(path: Path, items: list[LabelledQuestion]) -> Path:
    """Write questions as a training file ``load_labelled`` reads (one ``{"text", "module", "urgency"}``
    per line), atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    lines = (json.dumps({"text": i.text, "module": i.module, "urgency": i.urgency}, ensure_ascii=False)
             for i in items)
    partial.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    partial.replace(path)
    return path


def validate_question(text: str, max_chars: int) -> str:
    """The question stripped; ``InvalidQuestionError`` if empty, unreadable (emoji only) or too long."""
    stripped = text.strip()
    if not stripped:
        raise InvalidQuestionError("the question is empty; write what went wrong or what you want to do")
    if len(stripped) > max_chars:
        raise InvalidQuestionError(f"the question has {len(stripped)} characters; the limit is {max_chars}")
    if not _READABLE.search(normalize(stripped)):
        raise InvalidQuestionError("the question has no words in it (only emoji, symbols or punctuation)")
    return stripped


# ---------------------------------------------------------------------------------------------------------
# Decisions


def decide_urgency(scores: dict[str, float], p1_threshold: float) -> str:
    """P1 exactly when its probability clears ``p1_threshold``; otherwise the likelier of P2 and P3.

    A missed outage costs most, so P1 has its own bar, tuned for recall, instead of competing in an argmax.
    """
    if scores.get("P1", 0.0) >= p1_threshold:
        return "P1"
    rest = {k: v for k, v in scores.items() if k != "P1"}
    return max(rest, key=rest.get) if rest else "P1"  # type: ignore[arg-type]


def tune_p1_threshold(p1_probability: np.ndarray, is_p1: np.ndarray, recall_target: float) -> float:
    """The threshold with the best P1 precision among those whose P1 recall is at least ``recall_target``
    (the highest such threshold on ties). Inputs are out-of-fold probabilities and gold flags."""
    p1_probability = np.asarray(p1_probability, dtype=float)
    is_p1 = np.asarray(is_p1, dtype=bool)
    positives = int(is_p1.sum())
    if positives == 0:
        raise ValueError("no P1 questions to tune the P1 threshold on; label some outages as P1")
    if not 0.0 < recall_target <= 1.0:
        raise ValueError(f"recall_target must be in (0, 1], got {recall_target}")
    # Candidate thresholds: the P1 probabilities of the gold P1 questions (recall only changes there).
    best_threshold, best_precision = 0.0, -1.0
    for threshold in np.unique(p1_probability[is_p1])[::-1]:
        flagged = p1_probability >= threshold
        true_positives = int((flagged & is_p1).sum())
        if true_positives / positives < recall_target:
            continue
        precision = true_positives / int(flagged.sum())
        if precision > best_precision:  # strict: the first (highest) threshold wins ties
            best_threshold, best_precision = float(threshold), precision
    return best_threshold


# ---------------------------------------------------------------------------------------------------------
# Features


@cache
def shared_processor() -> TextProcessor:
    """One jieba + OpenCC instance per process, shared by every classifier and the off-topic gate (loading
    it takes a second and holds jieba's dictionary in memory)."""
    from indexer.text import jieba_pack_words
    from indexer.vocab import available_vendors, load_vocabulary

    # jieba keeps the shipped packs' words whole, as the served processor with every pack does (same dictionary,
    # loaded once); no concept tokens, and nothing that depends on a tenant's settings.
    shipped = load_vocabulary(load_taxonomy(SHIPPED_TAXONOMY), tuple(available_vendors()))
    processor = TextProcessor(jieba_words=jieba_pack_words(shipped))
    processor.warm_up()
    return processor


class _Tokens:
    """Picklable TF-IDF analyzer: the BM25 token stream (jieba words with the ERP dictionary and synonyms,
    codes kept whole, CJK character unigrams and bigrams). The default dictionaries only, so a saved model
    does not depend on ``ERP_ASSIST_USER_DICT``."""

    def __call__(self, text: str) -> list[str]:
        return shared_processor().tokenize(text)


class Features(Protocol):
    """What a head sees: ``fit_transform`` on training texts, ``transform`` at question time."""

    def fit_transform(self, texts: list[str]) -> Any: ...  # noqa: ANN401 - sparse or dense matrix
    def transform(self, texts: list[str]) -> Any: ...  # noqa: ANN401
    def feature_names(self) -> np.ndarray | None: ...
    def warm_up(self) -> None: ...


class TfidfFeatures:
    """Character 1-3-gram TF-IDF (reads Chinese without a segmenter, survives typos like 凭正/凭证 and
    codes), optionally joined by a TF-IDF block over the jieba/ERP-dictionary token stream."""

    def __init__(self, words: bool) -> None:
        self.words = words
        self.char = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, preprocessor=normalize)
        self.tokens = TfidfVectorizer(analyzer=_Tokens(), sublinear_tf=True) if words else None
        self._names: np.ndarray | None = None

    def fit_transform(self, texts: list[str]) -> sparse.csr_matrix:
        blocks = [self.char.fit_transform(texts)]
        if self.tokens is not None:
            blocks.append(self.tokens.fit_transform(texts))
        self._names = None
        return sparse.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0].tocsr()

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        blocks = [self.char.transform(texts)]
        if self.tokens is not None:
            blocks.append(self.tokens.transform(texts))
        return sparse.hstack(blocks, format="csr") if len(blocks) > 1 else blocks[0].tocsr()

    def feature_names(self) -> np.ndarray:
        # Built once: get_feature_names_out() allocates every name and costs milliseconds per call.
        if self._names is None:
            names = [self.char.get_feature_names_out()]
            if self.tokens is not None:
                names.append(self.tokens.get_feature_names_out())
            self._names = np.concatenate(names)
        return self._names

    def warm_up(self) -> None:
        if self.tokens is not None:
            shared_processor()

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_names": None}


class EmbeddingFeatures:
    """Sentence embeddings of the question, optionally next to character n-gram TF-IDF.

    ``cache`` (text → vector) lets a cross-validation embed each text once for all folds; it is not saved.
    """

    def __init__(self, embedder: Embedder | None, char: bool, cache: dict[str, np.ndarray] | None = None) -> None:
        if embedder is None:
            from indexer.embedding import Embedder

            embedder = Embedder("all-MiniLM-L6-v2")
        self.embedder = embedder
        self.cache = cache if cache is not None else {}
        self.char = TfidfFeatures(words=False) if char else None

    def _embed(self, texts: list[str]) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if missing:
            self.cache.update(zip(missing, self.embedder.encode(missing)))
        return np.vstack([self.cache[t] for t in texts])

    def fit_transform(self, texts: list[str]) -> Any:  # noqa: ANN401
        dense = self._embed(texts)
        if self.char is None:
            return dense
        return sparse.hstack([self.char.fit_transform(texts), sparse.csr_matrix(dense)], format="csr")

    def transform(self, texts: list[str]) -> Any:  # noqa: ANN401
        dense = self._embed(texts)
        if self.char is None:
            return dense
        return sparse.hstack([self.char.transform(texts), sparse.csr_matrix(dense)], format="csr")

    def feature_names(self) -> np.ndarray | None:
        if self.char is None:
            return None
        dimension = self.embedder.dimension
        return np.concatenate([self.char.feature_names(), np.array([f"<embedding {i}>" for i in range(dimension)])])

    def warm_up(self) -> None:
        self.embedder.load()

    def __getstate__(self) -> dict[str, Any]:
        # The weights come back from the embedder's name; the text cache stays out of the model file.
        from indexer.embedding import Embedder

        unloaded = Embedder(self.embedder.name, self.embedder.device, self.embedder.batch_size)
        return {**self.__dict__, "embedder": unloaded, "cache": {}}


class _LinearEnsemble:
    """The linear models of a fitted ``CalibratedClassifierCV`` as one matrix product: raw scores per
    cross-validation member and class, without ten rounds of scikit-learn input validation per question
    (that overhead was three quarters of the classification time). Subclasses add the calibration map."""

    method = ""

    def __init__(self, calibrated: CalibratedClassifierCV) -> None:
        if not self.supports(calibrated):
            raise ValueError(
                f"{type(self).__name__} needs a CalibratedClassifierCV(method={self.method!r}) of linear models"
            )
        members = calibrated.calibrated_classifiers_
        self.classes_ = np.asarray(calibrated.classes_)
        self.n_members = len(members)
        # Stored as features x (members·classes), C-contiguous float32, and met by float32 rows: any other
        # layout makes scipy copy the whole matrix on every question (0.7 ms of a 3 ms call).
        self.coef_t = np.ascontiguousarray(np.vstack([m.estimator.coef_ for m in members]).T, dtype=np.float32)
        self.intercept = np.concatenate([np.ravel(m.estimator.intercept_) for m in members]).astype(np.float32)
        for m in members:  # every member must see every class, or its columns would not line up
            if len(m.estimator.classes_) != len(self.classes_):
                raise ValueError("a calibration fold lacked a class; label more questions for the rare labels")

    @classmethod
    def supports(cls, calibrated: Any) -> bool:  # noqa: ANN401
        return (
            isinstance(calibrated, CalibratedClassifierCV)
            and calibrated.method == cls.method
            and all(hasattr(m.estimator, "coef_") for m in calibrated.calibrated_classifiers_)
        )

    def _scores(self, x: Any) -> np.ndarray:  # noqa: ANN401 - sparse or dense rows
        """Raw linear scores, shape (rows, members, columns); binary models have one column (the positive)."""
        rows = x.astype(np.float32) if sparse.issparse(x) else np.asarray(x, dtype=np.float32)
        scores = np.asarray(rows @ self.coef_t, dtype=np.float64) + self.intercept
        return scores.reshape(scores.shape[0], self.n_members, -1)

    @property
    def cue_weights(self) -> np.ndarray:
        """Mean coefficient per class over the members: what each feature says for each class."""
        coef = self.coef_t.T
        if len(self.classes_) == 2:
            positive = coef.reshape(self.n_members, -1).mean(axis=0)
            return np.vstack([-positive, positive])
        return coef.reshape(self.n_members, len(self.classes_), -1).mean(axis=0)


class SoftmaxEnsemble(_LinearEnsemble):
    """A temperature-scaled ``CalibratedClassifierCV`` compiled: the same probabilities as its
    ``predict_proba`` (the mean over the cross-validation members of ``softmax(beta * decision_function)``)."""

    method = "temperature"

    def __init__(self, calibrated: CalibratedClassifierCV) -> None:
        super().__init__(calibrated)
        self.beta = np.array(
            [float(m.calibrators[0].beta_) for m in calibrated.calibrated_classifiers_], dtype=np.float64
        )

    def decision_function(self, x: Any) -> np.ndarray:  # noqa: ANN401 - sparse or dense rows
        """Per member and class, the raw linear scores: shape (rows, members, classes)."""
        scores = self._scores(x)
        if len(self.classes_) == 2:  # binary linear models score the positive class only: logits (-d, d)
            return np.concatenate([-scores, scores], axis=2)
        return scores

    def predict_proba(self, x: Any) -> np.ndarray:  # noqa: ANN401
        logits = self.decision_function(x) * self.beta[None, :, None]
        logits -= logits.max(axis=2, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=2, keepdims=True)
        return probs.mean(axis=1)


class PlattEnsemble(_LinearEnsemble):
    """A sigmoid-calibrated (Platt) ``CalibratedClassifierCV`` compiled: the same probabilities as its
    ``predict_proba`` — per member, one-vs-rest ``expit(-(a·d + b))`` per class, normalized to sum to 1,
    then the mean over the members. One slope per class, fitted on held-out scores, so a confident linear
    score is not pushed all the way to 0 or 1 the way a single shared temperature pushes it."""

    method = "sigmoid"

    def __init__(self, calibrated: CalibratedClassifierCV) -> None:
        super().__init__(calibrated)
        members = calibrated.calibrated_classifiers_
        self.a = np.array([[c.a_ for c in m.calibrators] for m in members], dtype=np.float64)
        self.b = np.array([[c.b_ for c in m.calibrators] for m in members], dtype=np.float64)

    def predict_proba(self, x: Any) -> np.ndarray:  # noqa: ANN401
        positive = 1.0 / (1.0 + np.exp(self.a[None] * self._scores(x) + self.b[None]))
        if len(self.classes_) == 2:
            probs = np.concatenate([1.0 - positive, positive], axis=2)
        else:
            total = positive.sum(axis=2, keepdims=True)
            uniform = np.full_like(positive, 1.0 / len(self.classes_))
            probs = np.divide(positive, total, out=uniform, where=total != 0)
        return probs.mean(axis=1)


@dataclass(frozen=True)
class CueWeights:
    """Feature weights per urgency level (rows in ``classes_`` order), used to name a decision's cues."""

    classes_: np.ndarray
    coef_: np.ndarray


def _compact(calibrated: CalibratedClassifierCV) -> CalibratedClassifierCV | SoftmaxEnsemble | PlattEnsemble:
    for compiled in (SoftmaxEnsemble, PlattEnsemble):
        if compiled.supports(calibrated):
            return compiled(calibrated)
    return calibrated


# ---------------------------------------------------------------------------------------------------------
# Approaches


@dataclass(frozen=True)
class Approach:
    """A feature extractor and a linear model with its calibration, compared by ``models.training``."""

    name: str
    summary: str
    features: Callable[[Embedder | None, dict[str, np.ndarray] | None], Features]
    estimator: Callable[[int], Any]
    calibration: Literal["sigmoid", "temperature"]
    calibration_folds: int
    taxonomy_terms: bool
    uses_embedder: bool = False
    # The urgency head's calibration where it differs from the module head's.
    urgency_calibration: Literal["sigmoid", "temperature"] | None = None


def _svm(seed: int) -> LinearSVC:
    return LinearSVC(C=1.0, class_weight="balanced", random_state=seed)


def _logistic(c: float) -> Callable[[int], LogisticRegression]:
    return lambda seed: LogisticRegression(C=c, max_iter=3000, class_weight="balanced", random_state=seed)


APPROACHES: dict[str, Approach] = {
    a.name: a
    for a in [
        Approach(
            "char-lr",
            "char 1-3-gram TF-IDF + LogisticRegression(C=20), sigmoid calibration (the original classifier)",
            lambda embedder, cache: TfidfFeatures(words=False),
            _logistic(20.0),
            "sigmoid",
            3,
            taxonomy_terms=False,
        ),
        Approach(
            "embedding-lr",
            "all-MiniLM-L6-v2 sentence embeddings + LogisticRegression(C=20), temperature scaling",
            lambda embedder, cache: EmbeddingFeatures(embedder, char=False, cache=cache),
            _logistic(20.0),
            "temperature",
            5,
            taxonomy_terms=False,
            uses_embedder=True,
        ),
        Approach(
            "char-svm",
            "char 1-3-gram TF-IDF + LinearSVC(C=1), temperature scaling, taxonomy terms as examples",
            lambda embedder, cache: TfidfFeatures(words=False),
            _svm,
            "temperature",
            5,
            taxonomy_terms=True,
        ),
        Approach(
            "char+words-svm",
            "char 1-3-gram + jieba/ERP-dictionary token TF-IDF + LinearSVC(C=1), temperature scaling, "
            "taxonomy terms as examples",
            lambda embedder, cache: TfidfFeatures(words=True),
            _svm,
            "temperature",
            5,
            taxonomy_terms=True,
        ),
        Approach(
            "char+words-svm-sigmoid",
            "char+words-svm with a Platt-scaled urgency head (one sigmoid per level, 5 folds) instead of "
            "temperature scaling; the module head is the same",
            lambda embedder, cache: TfidfFeatures(words=True),
            _svm,
            "temperature",
            5,
            taxonomy_terms=True,
            urgency_calibration="sigmoid",
        ),
        Approach(
            "char+embedding-svm",
            "char 1-3-gram TF-IDF next to all-MiniLM-L6-v2 embeddings + LinearSVC(C=1), temperature scaling, "
            "taxonomy terms as examples",
            lambda embedder, cache: EmbeddingFeatures(embedder, char=True, cache=cache),
            _svm,
            "temperature",
            5,
            taxonomy_terms=True,
            uses_embedder=True,
        ),
    ]
}
# Chosen by 5-fold cross-validation (models/MODEL_CARD.md): best mean of module and urgency macro-F1 with P1
# recall >= 0.95. On the 3,582 questions the temperature-scaled urgency head beat the Platt-scaled one at fold
# seeds 0-4 (urgency macro-F1 +0.002, P1 precision +0.009; on 2,092 it had been the other way round
# by as little).
DEFAULT_APPROACH = "char+words-svm"


def get_approach(name: str) -> Approach:
    """The approach of that name; ``ValueError`` listing the valid names otherwise."""
    try:
        return APPROACHES[name]
    except KeyError:
        raise ValueError(f"unknown classifier approach {name!r}; choose one of {', '.join(APPROACHES)}") from None


def _check_counts(kind: str, labels: list[str], wanted: list[str]) -> None:
    counts = {label: labels.count(label) for label in wanted}
    missing = [f"{label} ({n})" for label, n in counts.items() if n < MIN_PER_LABEL]
    if missing:
        raise ValueError(
            f"too few labelled questions for {kind} {', '.join(missing)}; label at least {MIN_PER_LABEL} "
            "questions for each in models/data/train/*.jsonl (or drop the label from models/taxonomy.yaml)"
        )


# ---------------------------------------------------------------------------------------------------------
# The classifier


class QuestionClassifier:
    """Two calibrated heads over one feature extractor. ``train()`` fits (and tunes the P1 threshold),
    ``save()``/``load()`` persist with the taxonomy hash."""

    def __init__(
        self,
        taxonomy: Taxonomy,
        module_threshold: float = 0.35,
        p1_threshold: float = 0.35,
        *,
        approach: str = DEFAULT_APPROACH,
        p1_recall_target: float = P1_RECALL_TARGET,
        embedder: Embedder | None = None,
        embedding_cache: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.module_threshold = module_threshold
        self.p1_threshold = p1_threshold
        self.approach = get_approach(approach).name
        self.p1_recall_target = p1_recall_target
        self._embedder = embedder
        self._embedding_cache = embedding_cache
        self.features: Features | None = None
        # A SoftmaxEnsemble (temperature) or PlattEnsemble (sigmoid) of linear models, else the fitted
        # CalibratedClassifierCV.
        self.module_model: SoftmaxEnsemble | PlattEnsemble | CalibratedClassifierCV | None = None
        self.urgency_model: SoftmaxEnsemble | PlattEnsemble | CalibratedClassifierCV | None = None
        self.urgency_cues: CueWeights | None = None
        self.trained_at: str | None = None
        self.n_train = 0

    @property
    def identity(self) -> str:
        """Names this trained model and the code that runs it: two classifiers of one identity label a text alike
        (a rebuild reuses the module labels it gave untagged chunks while the identity stays)."""
        self._require_trained()
        parts = (MODEL_FORMAT, self.approach, self.trained_at, self.n_train, self.taxonomy.hash,
                 self.module_threshold, _source_digest())
        return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()[:32]

    def _calibrated(
        self, spec: Approach, labels: list[str], seed: int, head: Literal["module", "urgency"] = "module"
    ) -> CalibratedClassifierCV:
        folds = min(spec.calibration_folds, *(labels.count(label) for label in set(labels)))
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
        method = (spec.urgency_calibration if head == "urgency" else None) or spec.calibration
        return CalibratedClassifierCV(spec.estimator(seed), method=method, cv=cv)

    def train(self, items: list[LabelledQuestion], seed: int = 0, tune_p1: bool = True) -> QuestionClassifier:
        """Fit both heads; with ``tune_p1`` also set ``p1_threshold`` from out-of-fold P1 probabilities."""
        if len(items) < 10:
            raise ValueError(f"need at least 10 labelled questions to train, got {len(items)}")
        modules = [i.module for i in items]
        urgency = [i.urgency for i in items]
        _check_counts("module", modules, self.taxonomy.module_ids)
        _check_counts("urgency", urgency, self.taxonomy.urgency_ids)
        spec = get_approach(self.approach)
        texts = [i.text for i in items]
        # OpenBLAS threads spinning on 2 busy cores made one lbfgs fit 8x slower (10 s instead of 1.3 s).
        with threadpool_limits(limits=1, user_api="blas"):
            features = spec.features(self._embedder, self._embedding_cache)
            x = features.fit_transform(texts)
            x_module, y_module = x, modules
            terms = self.taxonomy.module_terms() if spec.taxonomy_terms else []
            if terms:
                x_module = _vstack(x, features.transform([t for t, _ in terms]))
                y_module = modules + [m for _, m in terms]
            self.module_model = _compact(self._calibrated(spec, modules, seed).fit(x_module, y_module))
            self.urgency_model = _compact(self._calibrated(spec, urgency, seed, "urgency").fit(x, urgency))
            if tune_p1:
                self.p1_threshold = self._tuned_p1_threshold(spec, x, urgency, seed)
            has_names = features.feature_names() is not None
            self.urgency_cues = self._cue_weights(spec, x, urgency, seed) if has_names else None
        self.features = features
        self.trained_at = datetime.now(timezone.utc).isoformat()
        self.n_train = len(items)
        return self

    def _cue_weights(self, spec: Approach, x: Any, urgency: list[str], seed: int) -> CueWeights:  # noqa: ANN401
        """Per-urgency feature weights that explain a decision."""
        if isinstance(self.urgency_model, (SoftmaxEnsemble, PlattEnsemble)):
            return CueWeights(self.urgency_model.classes_, self.urgency_model.cue_weights)
        model = spec.estimator(seed).fit(x, urgency)
        return CueWeights(model.classes_, model.coef_.astype(np.float32))

    def _tuned_p1_threshold(self, spec: Approach, x: Any, urgency: list[str], seed: int) -> float:  # noqa: ANN401
        folds = min(5, *(urgency.count(label) for label in set(urgency)))
        cv = StratifiedKFold(folds, shuffle=True, random_state=seed + 1)
        model = self._calibrated(spec, urgency, seed, "urgency")
        probs = cross_val_predict(model, x, urgency, cv=cv, method="predict_proba")
        classes = sorted(set(urgency))  # cross_val_predict orders columns like np.unique
        p1 = probs[:, classes.index("P1")]
        return tune_p1_threshold(p1, np.array(urgency) == "P1", self.p1_recall_target)

    def _require_trained(self) -> None:
        if self.features is None or self.module_model is None or self.urgency_model is None:
            raise ModelNotTrainedError("the classifier is not trained; run `erp-assist train-classifier`")

    def warm_up(self) -> QuestionClassifier:
        """Load what the features need (jieba, the embedder) now instead of on the first question."""
        self._require_trained()
        self.features.warm_up()  # type: ignore[union-attr]
        return self

    def classify(self, text: str) -> Classification:
        """Module (or ``unknown`` below the confidence threshold), urgency, confidences and cues."""
        return self.classify_many([text])[0]

    def classify_many(self, texts: list[str]) -> list[Classification]:
        self._require_trained()
        x = self.features.transform(texts)  # type: ignore[union-attr]
        module_probs = self.module_model.predict_proba(x)  # type: ignore[union-attr]
        urgency_probs = self.urgency_model.predict_proba(x)  # type: ignore[union-attr]
        module_classes = [str(c) for c in self.module_model.classes_]  # type: ignore[union-attr]
        urgency_classes = [str(c) for c in self.urgency_model.classes_]  # type: ignore[union-attr]
        results = []
        for row in range(len(texts)):
            mp = dict(zip(module_classes, module_probs[row].tolist()))
            up = dict(zip(urgency_classes, urgency_probs[row].tolist()))
            best_module = max(mp, key=mp.get)  # type: ignore[arg-type]
            module = best_module if mp[best_module] >= self.module_threshold else UNKNOWN_MODULE
            urgency = decide_urgency(up, self.p1_threshold)
            results.append(
                Classification(
                    module=module,
                    urgency=Urgency(urgency),
                    module_confidence=round(mp[best_module], 4),
                    urgency_confidence=round(up[urgency], 4),
                    module_scores={k: round(v, 4) for k, v in mp.items()},
                    urgency_scores={k: round(v, 4) for k, v in up.items()},
                    cues=self._cues(x[row], urgency, texts[row]),
                )
            )
        return results

    def with_evidence(self, result: Classification, evidence: dict[str, float], weight: float) -> Classification:
        """Blend the module probabilities with outside evidence (e.g. the modules of the best-matching
        knowledge-base sources, summing to 1); ``weight`` is the evidence's share."""
        if weight <= 0 or not evidence:
            return result
        blended = {
            m: (1 - weight) * result.module_scores.get(m, 0.0) + weight * evidence.get(m, 0.0)
            for m in self.taxonomy.module_ids
        }
        best = max(blended, key=blended.get)  # type: ignore[arg-type]
        return replace(
            result,
            module=best if blended[best] >= self.module_threshold else UNKNOWN_MODULE,
            module_confidence=round(blended[best], 4),
            module_scores={k: round(v, 4) for k, v in blended.items()},
        )

    def _cues(self, row: Any, urgency: str, text: str, n: int = 5) -> list[str]:  # noqa: ANN401 - sparse row
        """The stretches of the question that pushed it towards its urgency the most.

        The strongest n-grams and words overlap ("仓库", "库发", "发不", "不了"), so they are laid onto the
        normalized question and each run of covered characters ("仓库发不了货") becomes one cue, ranked by
        the weight it carries."""
        names = self.features.feature_names() if self.features is not None else None
        if self.urgency_cues is None or names is None or not sparse.issparse(row):
            return []
        cls = list(self.urgency_cues.classes_).index(urgency)
        contributions = row.data * self.urgency_cues.coef_[cls][row.indices]
        question = normalize(text)
        weight = np.zeros(len(question))
        strongest = [i for i in np.argsort(-contributions)[:_CUE_FEATURES] if contributions[i] > 0]
        for i in strongest:
            name = str(names[row.indices[i]]).strip()
            if not _CUE.fullmatch(name):
                continue  # n-grams across punctuation or spaces explain nothing
            for match in re.finditer(re.escape(name), question):
                weight[match.start() : match.end()] += contributions[i]
        spans: list[tuple[float, str]] = []
        start = None
        for position, w in enumerate([*weight, 0.0]):
            if w > 0 and start is None:
                start = position
            elif w <= 0 and start is not None:
                span = question[start:position].strip()
                if len(span) >= 2:  # single characters carry little weight and read as noise
                    spans.append((float(weight[start:position].sum()), span))
                start = None
        # a repeated stretch once
        ranked = dict.fromkeys(span for _, span in sorted(spans, key=lambda s: -s[0]))
        return list(ranked)[:n]

    def save(self, path: Path) -> None:
        self._require_trained()
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": MODEL_FORMAT,
            "taxonomy_hash": self.taxonomy.hash,
            "approach": self.approach,
            "features": self.features,
            "module_model": self.module_model,
            "urgency_model": self.urgency_model,
            "urgency_cues": self.urgency_cues,
            "p1_threshold": self.p1_threshold,
            "p1_recall_target": self.p1_recall_target,
            "trained_at": self.trained_at,
            "n_train": self.n_train,
        }
        tmp = path.with_suffix(path.suffix + ".part")
        joblib.dump(payload, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, taxonomy: Taxonomy, module_threshold: float = 0.35) -> QuestionClassifier:
        """The saved classifier, warmed up; ``ModelNotTrainedError`` if missing, for another taxonomy or
        written by an older version of this module."""
        if not path.is_file():
            raise ModelNotTrainedError(f"no classifier at {path}; run `erp-assist train-classifier`")
        payload = joblib.load(path)
        if payload.get("taxonomy_hash") != taxonomy.hash:
            raise ModelNotTrainedError(
                f"{path} was trained for taxonomy {payload.get('taxonomy_hash')}, the current one is "
                f"{taxonomy.hash}; run `erp-assist train-classifier` again"
            )
        if payload.get("format") != MODEL_FORMAT:
            raise ModelNotTrainedError(
                f"{path} is a classifier file of format {payload.get('format', 1)}, this version reads format "
                f"{MODEL_FORMAT}; run `erp-assist train-classifier` again"
            )
        model = cls(
            taxonomy,
            module_threshold=module_threshold,
            p1_threshold=payload["p1_threshold"],
            approach=payload["approach"],
            p1_recall_target=payload["p1_recall_target"],
        )
        model.features = payload["features"]
        model.module_model = payload["module_model"]
        model.urgency_model = payload["urgency_model"]
        model.urgency_cues = payload["urgency_cues"]
        model.trained_at = payload["trained_at"]
        model.n_train = payload["n_train"]
        return model.warm_up()


@cache
def _source_digest() -> str:
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


def _vstack(a: Any, b: Any) -> Any:  # noqa: ANN401 - sparse or dense
    return sparse.vstack([a, b], format="csr") if sparse.issparse(a) else np.vstack([a, b])
