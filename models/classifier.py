"""Question classifier: ERP module and urgency, each a calibrated linear model over character n-grams.

Character n-grams read Chinese without a segmenter and survive typos (凭正/凭证) and codes; calibration makes
the confidence mean something, so a low one can route the question to the general queue instead of a guess.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import joblib
import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from erp_assist.domain import UNKNOWN_MODULE, Classification, Urgency
from erp_assist.errors import InvalidQuestionError, ModelNotTrainedError
from indexer.text import normalize
from models.taxonomy import Taxonomy

__all__ = ["LabelledQuestion", "QuestionClassifier", "load_labelled", "validate_question"]

_READABLE = re.compile(r"[\w\u3400-\u9fff]")


@dataclass(frozen=True)
class LabelledQuestion:
    text: str
    module: str
    urgency: str


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
            items.append(LabelledQuestion(record["text"], record["module"], record["urgency"]))
    return items


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


def _features() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1, preprocessor=normalize)


class QuestionClassifier:
    """Two heads over one vectorizer. ``train()`` fits, ``save()``/``load()`` persist with the taxonomy hash."""

    def __init__(self, taxonomy: Taxonomy, module_threshold: float = 0.35, p1_threshold: float = 0.35) -> None:
        self.taxonomy = taxonomy
        self.module_threshold = module_threshold
        self.p1_threshold = p1_threshold
        self.vectorizer: TfidfVectorizer | None = None
        self.module_model: CalibratedClassifierCV | None = None
        self.urgency_model: CalibratedClassifierCV | None = None
        self.urgency_cues: LogisticRegression | None = None
        self.trained_at: str | None = None
        self.n_train = 0

    def train(self, items: list[LabelledQuestion], seed: int = 0) -> QuestionClassifier:
        if len(items) < 10:
            raise ValueError(f"need at least 10 labelled questions to train, got {len(items)}")
        texts = [i.text for i in items]
        self.vectorizer = _features()
        x = self.vectorizer.fit_transform(texts)
        base = LogisticRegression(C=20.0, max_iter=2000, class_weight="balanced", random_state=seed)
        self.module_model = CalibratedClassifierCV(base, cv=3, method="sigmoid").fit(x, [i.module for i in items])
        urgency = [i.urgency for i in items]
        self.urgency_model = CalibratedClassifierCV(base, cv=3, method="sigmoid").fit(x, urgency)
        self.urgency_cues = LogisticRegression(C=20.0, max_iter=2000, class_weight="balanced").fit(x, urgency)
        self.trained_at = datetime.now(timezone.utc).isoformat()
        self.n_train = len(items)
        return self

    def _require_trained(self) -> None:
        if self.vectorizer is None or self.module_model is None or self.urgency_model is None:
            raise ModelNotTrainedError("the classifier is not trained; run `erp-assist train-classifier`")

    def classify(self, text: str) -> Classification:
        """Module (or ``unknown`` below the confidence threshold), urgency, confidences and cue n-grams."""
        return self.classify_many([text])[0]

    def classify_many(self, texts: list[str]) -> list[Classification]:
        self._require_trained()
        x = self.vectorizer.transform(texts)  # type: ignore[union-attr]
        module_probs = self.module_model.predict_proba(x)  # type: ignore[union-attr]
        urgency_probs = self.urgency_model.predict_proba(x)  # type: ignore[union-attr]
        module_classes = list(self.module_model.classes_)  # type: ignore[union-attr]
        urgency_classes = list(self.urgency_model.classes_)  # type: ignore[union-attr]
        results = []
        for row in range(len(texts)):
            mp = {str(k): float(v) for k, v in zip(module_classes, module_probs[row])}
            up = {str(k): float(v) for k, v in zip(urgency_classes, urgency_probs[row])}
            best_module = max(mp, key=mp.get)
            module = best_module if mp[best_module] >= self.module_threshold else UNKNOWN_MODULE
            # A missed outage costs most: P1 wins whenever its probability clears its own, lower bar.
            urgency = "P1" if up.get("P1", 0.0) >= self.p1_threshold else max(up, key=up.get)
            results.append(
                Classification(
                    module=module,
                    urgency=Urgency(urgency),
                    module_confidence=round(mp[best_module], 4),
                    urgency_confidence=round(up[urgency], 4),
                    module_scores={k: round(v, 4) for k, v in mp.items()},
                    urgency_scores={k: round(v, 4) for k, v in up.items()},
                    cues=self._cues(x[row], urgency),
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
        best = max(blended, key=blended.get)
        return replace(
            result,
            module=best if blended[best] >= self.module_threshold else UNKNOWN_MODULE,
            module_confidence=round(blended[best], 4),
            module_scores={k: round(v, 4) for k, v in blended.items()},
        )

    def _cues(self, row, urgency: str, n: int = 5) -> list[str]:  # noqa: ANN001 - sparse row
        """The n-grams that pushed the question towards its urgency the most."""
        if self.urgency_cues is None:
            return []
        cls = list(self.urgency_cues.classes_).index(urgency)
        coef = self.urgency_cues.coef_[cls]
        indices = row.indices
        contributions = row.data * coef[indices]
        order = np.argsort(-contributions)
        names = self.vectorizer.get_feature_names_out()  # type: ignore[union-attr]
        cues: list[str] = []
        for i in order:
            if contributions[i] <= 0 or len(cues) >= n:
                break
            name = names[indices[i]].strip()
            if len(name) >= 2 and not any(name in c for c in cues):
                cues.append(name)
        return cues

    def save(self, path: Path) -> None:
        self._require_trained()
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "taxonomy_hash": self.taxonomy.hash,
            "vectorizer": self.vectorizer,
            "module_model": self.module_model,
            "urgency_model": self.urgency_model,
            "urgency_cues": self.urgency_cues,
            "p1_threshold": self.p1_threshold,
            "trained_at": self.trained_at,
            "n_train": self.n_train,
        }
        tmp = path.with_suffix(path.suffix + ".part")
        joblib.dump(payload, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, taxonomy: Taxonomy, module_threshold: float = 0.35) -> QuestionClassifier:
        if not path.is_file():
            raise ModelNotTrainedError(f"no classifier at {path}; run `erp-assist train-classifier`")
        payload = joblib.load(path)
        if payload.get("taxonomy_hash") != taxonomy.hash:
            raise ModelNotTrainedError(
                f"{path} was trained for taxonomy {payload.get('taxonomy_hash')}, the current one is "
                f"{taxonomy.hash}; run `erp-assist train-classifier` again"
            )
        model = cls(taxonomy, module_threshold=module_threshold, p1_threshold=payload["p1_threshold"])
        model.vectorizer = payload["vectorizer"]
        model.module_model = payload["module_model"]
        model.urgency_model = payload["urgency_model"]
        model.urgency_cues = payload["urgency_cues"]
        model.trained_at = payload["trained_at"]
        model.n_train = payload["n_train"]
        return model
