"""The off-topic gate, measured: a model of its own vs. a third head on the classifier's features.

Both are logistic regressions trained on the classifier's ERP questions (models/data/train) against written group
chatter (models/data/offtopic), each with its threshold set on its own out-of-fold predictions for the same ERP
recall target; neither sees the dev set or the golden set before it is scored. Prints precision/recall of gating
off on eval/dev/offtopic_dev.jsonl, how many golden questions each would gate off, training time and latency.

    python bench/offtopic_gate.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from assistant.service import load_or_train_classifier
from erp_assist.settings import Settings
from models.classifier import load_labelled
from models.gate import ErpVocabulary, OffTopicGate, load_chatter, tune_gate_threshold
from models.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parent.parent


def _third_head(classifier, texts: list[str], is_off: np.ndarray, target: float):  # noqa: ANN001, ANN202
    """A logistic head over the classifier's own (already fitted) features, threshold from out-of-fold."""
    x = classifier.features.transform(texts)
    out_of_fold = np.zeros(len(texts))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(texts, is_off):
        model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(x[train], is_off[train])
        out_of_fold[test] = model.predict_proba(x[test])[:, 1]
    model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000).fit(x, is_off)
    return (lambda batch: model.predict_proba(classifier.features.transform(batch))[:, 1],
            tune_gate_threshold(out_of_fold, is_off, target))


def main() -> None:
    settings = Settings()
    taxonomy = load_taxonomy(settings.taxonomy_path)
    erp = [item.text for item in load_labelled(settings.classifier_data_dir, taxonomy)]
    chatter = load_chatter(settings.offtopic_data_dir)
    dev = [json.loads(line) for line in (ROOT / "eval/dev/offtopic_dev.jsonl").read_text("utf-8").splitlines()]
    golden = [json.loads(line)["question"] for line in (ROOT / "eval/data/golden.jsonl").read_text("utf-8").splitlines()]
    dev_texts, dev_off = [d["text"] for d in dev], np.array([d["label"] == "off_topic" for d in dev])
    vocabulary = ErpVocabulary.default()
    dev_terms = np.array([bool(vocabulary.find(t)) for t in dev_texts])
    golden_terms = np.array([bool(vocabulary.find(t)) for t in golden])

    started = time.perf_counter()
    gate = OffTopicGate(erp_recall_target=settings.gate_erp_recall_target).train(erp, chatter)
    own = (gate.probabilities, gate.threshold, time.perf_counter() - started)
    classifier = load_or_train_classifier(settings)
    started = time.perf_counter()
    probabilities, threshold = _third_head(classifier, erp + chatter, np.array([False] * len(erp) + [True] * len(chatter)),
                                           settings.gate_erp_recall_target)
    head = (probabilities, threshold, time.perf_counter() - started)

    table = Table(title=f"Off-topic gate: dev {len(dev)} messages ({dev_off.sum()} off-topic), golden {len(golden)} "
                        f"ERP questions; trained on {len(erp)} ERP questions + {len(chatter)} chatter")
    for column in ("variant", "ERP vocabulary veto", "threshold", "dev precision", "dev recall",
                   "dev ERP gated", "golden gated", "train s", "p95 ms"):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for name, (score, bar, seconds) in (("own model", own), ("third head", head)):
        dev_p, golden_p = score(dev_texts), score(golden)
        latencies = []
        for text in dev_texts[:200]:
            t0 = time.perf_counter()
            score([text])
            latencies.append((time.perf_counter() - t0) * 1000)
        for veto in (False, True):
            gated = (dev_p >= bar) & ~(dev_terms if veto else False)
            golden_gated = (golden_p >= bar) & ~(golden_terms if veto else False)
            precision = (gated & dev_off).sum() / max(gated.sum(), 1)
            recall = (gated & dev_off).sum() / dev_off.sum()
            table.add_row(name, "yes" if veto else "no", f"{bar:.3f}", f"{precision:.3f}", f"{recall:.3f}",
                          str(int((gated & ~dev_off).sum())), str(int(golden_gated.sum())), f"{seconds:.1f}",
                          f"{np.percentile(latencies, 95):.2f}")
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
