"""Scoring the knowledge-base hygiene check against a labelled set (eval/data/hygiene): per planted entry, the
kind the labels give it (duplicate of X, contradiction of X, stale, clean) against what the check found.

- A planted entry is **found as a duplicate** when the check puts it in a duplicate group; the find is correct
  when that group holds the entry it was planted from (``of``).
- **Found as a contradiction**: the check pairs it with another entry; correct when that entry is ``of``.
- **Found stale**: the check lists it as stale; correct when labelled stale.

Precision of a kind: correct finds / finds of that kind among planted entries; recall: correct finds / planted
entries of that kind. Clean entries (near misses) only count against precision.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from indexer.hygiene import HygieneReport

__all__ = ["HygieneLabel", "KINDS", "load_labels", "score_report"]

KINDS = ("duplicate", "contradiction", "stale")


@dataclass(frozen=True)
class HygieneLabel:
    id: str  # the planted FAQ id
    kind: str  # duplicate, contradiction, stale, clean
    of: str | None  # kb://faq/<id> the entry was planted from
    split: str
    detail: str | None = None  # differs (contradictions) or reason (stale)

    @property
    def uri(self) -> str:
        return f"kb://faq/{self.id}"


def load_labels(path: Path) -> list[HygieneLabel]:
    """labels.jsonl: {"id", "kind", "of", "differs"/"reason", "split"}; ``ValueError`` names a bad line."""
    labels = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            kind = row["kind"]
            if kind not in (*KINDS, "clean"):
                raise ValueError(f"kind {kind!r}")
            labels.append(HygieneLabel(row["id"], kind, row.get("of"), row.get("split", "test"),
                                       row.get("differs") or row.get("reason")))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: not a hygiene label ({exc}); expected id, kind, of, split") from exc
    return labels


def _found(report: HygieneReport) -> dict[str, dict[str, set[str]]]:
    """Per kind, per entry uri: the entries the check put it with (stale: itself)."""
    found: dict[str, dict[str, set[str]]] = {kind: {} for kind in KINDS}
    for group in report.duplicates:
        for uri in group.uris:
            found["duplicate"].setdefault(uri, set()).update(u for u in group.uris if u != uri)
    for c in report.contradictions:
        found["contradiction"].setdefault(c.left, set()).add(c.right)
        found["contradiction"].setdefault(c.right, set()).add(c.left)
    for s in report.stale:
        found["stale"].setdefault(s.uri, set()).add(s.uri)
    return found


def score_report(report: HygieneReport, labels: Iterable[HygieneLabel]) -> dict[str, float]:
    """Flat metrics: ``<kind>/precision``, ``<kind>/recall``, ``<kind>/f1``, ``<kind>/n``, ``clean/false_alarms``
    and the primary ``macro_f1`` over the three kinds."""
    labels = list(labels)
    found = _found(report)
    metrics: dict[str, float] = {}
    for kind in KINDS:
        predicted = correct = 0
        for label in labels:
            partners = found[kind].get(label.uri)
            if partners is None:
                continue
            predicted += 1
            if label.kind == kind and (kind == "stale" or label.of in partners):
                correct += 1
        positives = sum(label.kind == kind for label in labels)
        precision = correct / predicted if predicted else 0.0
        recall = correct / positives if positives else 0.0
        metrics[f"{kind}/precision"] = round(precision, 4)
        metrics[f"{kind}/recall"] = round(recall, 4)
        metrics[f"{kind}/f1"] = round(2 * precision * recall / (precision + recall), 4) if correct else 0.0
        metrics[f"{kind}/n"] = positives
    metrics["clean/false_alarms"] = sum(1 for label in labels if label.kind == "clean"
                                        and any(label.uri in found[kind] for kind in KINDS))
    metrics["clean/n"] = sum(label.kind == "clean" for label in labels)
    metrics["macro_f1"] = round(sum(metrics[f"{kind}/f1"] for kind in KINDS) / len(KINDS), 4)
    return metrics
