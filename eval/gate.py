"""Regression gate: compare a report with a baseline report and list what dropped by more than the margin."""

from __future__ import annotations

__all__ = ["GATED_METRICS", "regressions"]

# (section, system or None, metric): retrieval quality of the served hybrid and the module head.
GATED_METRICS = (
    ("systems", "hybrid", "recall@5"),
    ("systems", "hybrid", "mrr@10"),
    ("classification", None, "module_macro_f1"),
)


def _value(dataset: dict, section: str, system: str | None, metric: str) -> float | None:
    block = dataset.get(section) or {}
    if system is not None:
        block = block.get(system) or {}
    value = block.get(metric)
    return float(value) if value is not None else None


def regressions(current: dict, baseline: dict, max_drop: float = 0.02) -> list[str]:
    """One line per gated metric of every dataset in both reports that fell by more than ``max_drop``."""
    if max_drop < 0:
        raise ValueError(f"max_drop must be ≥ 0, got {max_drop}")
    failures = []
    for name, dataset in current["datasets"].items():
        base = baseline.get("datasets", {}).get(name)
        if base is None or base.get("sha256") != dataset.get("sha256"):
            continue  # a different dataset is not a comparison
        for section, system, metric in GATED_METRICS:
            now, before = _value(dataset, section, system, metric), _value(base, section, system, metric)
            if now is None or before is None:
                continue
            if before - now > max_drop:
                label = f"{name} {system + ' ' if system else ''}{metric}"
                failures.append(f"{label}: {before:.3f} → {now:.3f} (drop {before - now:.3f} > {max_drop})")
    return failures
