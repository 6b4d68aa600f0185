"""Regression gate: compare a report with a baseline report and list what dropped by more than the margin."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["GATED_METRICS", "GateResult", "regressions", "gate_dataset", "gated_publish", "BASELINE_FILE"]

BASELINE_FILE = "baseline-report.json"

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


@dataclass(frozen=True)
class GateResult:
    published: bool
    failures: list[str]
    report: dict
    dataset: Path | None = None  # None: the tenant has no golden set, so the build was published ungated


def gate_dataset(settings) -> Path | None:  # noqa: ANN001
    """The golden set a tenant's nightly builds are judged on. Another tenant's knowledge base cannot be judged
    by the bundled (demo) questions: it needs ``<tenants_dir>/<tenant>/golden.jsonl`` or ``gate_dataset``."""
    from erp_assist.settings import DEFAULT_TENANT
    from eval.runner import DEFAULT_DATASET

    if settings.gate_dataset is not None:
        return settings.gate_dataset
    if settings.tenant == DEFAULT_TENANT:
        return DEFAULT_DATASET
    own = settings.tenants_dir / settings.tenant / "golden.jsonl"
    return own if own.is_file() else None


def gated_publish(settings, build_id: str, max_drop: float, dataset: Path | None = None) -> GateResult:  # noqa: ANN001
    """Evaluate an unpublished build on the tenant's golden set and publish it only if nothing regressed against
    the report of the build published before it (``<index_dir>/baseline-report.json``). The old build keeps
    serving otherwise. The accepted report becomes the next baseline. A tenant without a golden set is
    published on the build's own checks (verification probes, shrink guard) and says so."""
    from assistant.service import Assistant
    from eval.runner import run_eval
    from indexer.build import publish_build

    dataset = dataset or gate_dataset(settings)
    if dataset is None:
        publish_build(settings, build_id)
        return GateResult(True, [], {}, None)
    build = settings.index_dir / "builds" / build_id
    assistant = Assistant(settings).load(build=build)
    report = run_eval(settings, dataset, include_public=False, assistant=assistant).to_dict()
    baseline_path = settings.index_dir / BASELINE_FILE
    failures = []
    if baseline_path.is_file():
        failures = regressions(report, json.loads(baseline_path.read_text(encoding="utf-8")), max_drop)
    if failures:
        return GateResult(False, failures, report)
    publish_build(settings, build_id)
    tmp = baseline_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    tmp.replace(baseline_path)
    return GateResult(True, [], report, dataset)
