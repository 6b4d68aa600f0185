"""Scoring live ERP lookups on eval/data/erp_lookup.jsonl: intent precision/recall, answer correctness, latency.

Each row is a question with ``lookup`` (must it trigger a lookup?) and, for live-data rows, the expected
``kind``, ``target``, ``outcome`` (found / not_found) and ``facts`` — strings the answer must contain. An
answer is correct when the lookup fired with the expected kind, ended with the expected outcome, and carries
every fact. Pure functions: bench/erp_lookup.py runs the real ERP and hands the results in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["LookupCase", "LookupResult", "load_cases", "score_lookups"]


@dataclass(frozen=True)
class LookupCase:
    id: str
    question: str
    lookup: bool
    kind: str | None = None
    target: str | None = None
    outcome: str | None = None
    facts: tuple[str, ...] = ()


@dataclass(frozen=True)
class LookupResult:
    """What the system did with one case: None when no lookup fired."""

    kind: str | None
    outcome: str | None
    text: str | None
    latency_ms: float | None


def load_cases(path: Path) -> list[LookupCase]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("lookup"), bool) or not row.get("question"):
            raise ValueError(f"{path}:{number}: needs a question and lookup: true/false")
        cases.append(LookupCase(row["id"], row["question"], row["lookup"], row.get("kind"), row.get("target"),
                                row.get("outcome"), tuple(row.get("facts") or ())))
    return cases


def score_lookups(cases: list[LookupCase], results: list[LookupResult]) -> dict[str, float]:
    """Flat metrics; ``primary_metric`` names the headline one."""
    if len(cases) != len(results):
        raise ValueError(f"{len(cases)} cases but {len(results)} results")
    fired = np.array([r.kind is not None for r in results])
    wanted = np.array([c.lookup for c in cases])
    true_positive = int((fired & wanted).sum())
    precision = true_positive / fired.sum() if fired.any() else 1.0
    recall = true_positive / wanted.sum() if wanted.any() else 1.0
    live = [(c, r) for c, r in zip(cases, results) if c.lookup]
    correct = [r.kind == c.kind and r.outcome == c.outcome and all(f in (r.text or "") for f in c.facts)
               for c, r in live]
    latencies = [r.latency_ms for r in results if r.latency_ms is not None]
    return {
        "intent_precision": float(precision),
        "intent_recall": float(recall),
        "intent_f1": float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0,
        "how_to_triggered": int((fired & ~wanted).sum()),
        "answer_correct": float(np.mean(correct)) if correct else 0.0,
        "latency_p50_ms": float(np.percentile(latencies, 50)) if latencies else 0.0,
        "latency_p95_ms": float(np.percentile(latencies, 95)) if latencies else 0.0,
        "live_questions": len(live),
        "how_to_questions": int((~wanted).sum()),
        "primary_metric": "answer_correct",  # type: ignore[dict-item]
    }
