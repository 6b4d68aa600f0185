"""Per-question latency of the question classifier, one question at a time, as the service calls it.

    .venv/bin/python bench/classify_latency.py            # the saved model, else trains the default
    .venv/bin/python bench/classify_latency.py --retrain  # always train the default approach in memory
    .venv/bin/python bench/classify_latency.py --json

Prints p50/p95/p99 in milliseconds for ``classify()`` and for a baseline measured in the same run, on the
same questions, interleaved (so a busy machine slows both alike): the bare character TF-IDF transform,
the cheapest step any of our approaches takes. The target is p95 ≤ 5 ms on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from erp_assist.errors import ModelNotTrainedError  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402
from models.classifier import DEFAULT_APPROACH, QuestionClassifier, TfidfFeatures, load_labelled  # noqa: E402
from models.taxonomy import load_taxonomy  # noqa: E402

TARGET_P95_MS = 5.0


def percentiles(values: list[float]) -> dict[str, float]:
    return {f"p{q}": float(np.percentile(values, q)) for q in (50, 95, 99)} | {"mean": float(np.mean(values))}


def questions(texts: list[str], n: int, seed: int) -> list[str]:
    """``n`` questions: the labelled ones, and past them the same with a chat-style suffix (new n-grams)."""
    rng = random.Random(seed)
    pool = list(texts)
    rng.shuffle(pool)
    suffixes = ["", "，急", "，在线等", "？谢谢", " 麻烦看下", "【截图】"]
    return [pool[i % len(pool)] + suffixes[(i // len(pool)) % len(suffixes)] for i in range(n)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="classifier file (default: ERP_ASSIST_CLASSIFIER_PATH)")
    parser.add_argument("--retrain", action="store_true", help="train the default approach instead of loading")
    parser.add_argument("-n", type=int, default=500, help="questions to classify (default 500)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    settings = Settings()
    taxonomy = load_taxonomy(settings.taxonomy_path)
    items = load_labelled(settings.classifier_data_dir, taxonomy)
    path = args.model or settings.classifier_path
    source = f"loaded {path}"
    try:
        if args.retrain:
            raise ModelNotTrainedError("--retrain")
        classifier = QuestionClassifier.load(path, taxonomy, settings.module_confidence_threshold)
    except ModelNotTrainedError:
        started = time.perf_counter()
        classifier = QuestionClassifier(taxonomy, settings.module_confidence_threshold).train(items).warm_up()
        source = f"trained {DEFAULT_APPROACH} in memory on {len(items)} questions in {time.perf_counter() - started:.1f} s"

    # The baseline: the original classifier's whole feature step, fitted on the same data.
    baseline = TfidfFeatures(words=False)
    baseline.fit_transform([i.text for i in items])
    batch = questions([i.text for i in items], args.n, args.seed)
    for text in batch[: args.warmup]:
        classifier.classify(text)
        baseline.transform([text])

    classify_ms: list[float] = []
    baseline_ms: list[float] = []
    for text in batch:
        tick = time.perf_counter()
        baseline.transform([text])
        baseline_ms.append((time.perf_counter() - tick) * 1000)
        tick = time.perf_counter()
        classifier.classify(text)
        classify_ms.append((time.perf_counter() - tick) * 1000)

    result = {
        "approach": classifier.approach,
        "model": source,
        "questions": len(batch),
        "classify_ms": percentiles(classify_ms),
        "baseline_char_tfidf_ms": percentiles(baseline_ms),
        "ratio_p50": float(np.percentile(classify_ms, 50) / np.percentile(baseline_ms, 50)),
        "ratio_p95": float(np.percentile(classify_ms, 95) / np.percentile(baseline_ms, 95)),
        "target_p95_ms": TARGET_P95_MS,
        "meets_target": bool(np.percentile(classify_ms, 95) <= TARGET_P95_MS),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    c, b = result["classify_ms"], result["baseline_char_tfidf_ms"]
    print(f"classifier: {result['approach']} ({source})")
    print(f"{len(batch)} questions, one at a time, {result['cpus']} CPUs, load average {result['load_average']:.2f}")
    print(f"{'':28s}{'p50':>8s}{'p95':>8s}{'p99':>8s}   (ms)")
    print(f"{'classify()':28s}{c['p50']:8.2f}{c['p95']:8.2f}{c['p99']:8.2f}")
    print(f"{'baseline: char TF-IDF only':28s}{b['p50']:8.2f}{b['p95']:8.2f}{b['p99']:8.2f}")
    print(f"ratio classify/baseline: p50 {result['ratio_p50']:.1f}x, p95 {result['ratio_p95']:.1f}x")
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(f"p95 {c['p95']:.2f} ms {verdict} the target of {TARGET_P95_MS:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
