"""Abstention: the bar on the best fused score versus the learned model, on the dev set and the golden set.

Run: .venv/bin/python bench/abstention.py [--dev eval/dev/abstain_dev.jsonl] [--golden eval/data/golden.jsonl]
Uses the published build of the configured index (build it with ERP_ASSIST_VALIDATION_SET set to the dev set).

1. Dev set, cross-validated (what chooses): signals of every dev question against the build, then repeated
   nested cross-validation of both methods — each fold's bar and probability threshold chosen on the other
   folds — at several answered-share targets (the build uses ERP_ASSIST_ABSTAIN_MIN_ANSWERED).
2. Served (what the build chose, thresholds from the dev set): ``Assistant.rank(...).abstains``, the decision
   ``suggest`` serves, with abstain_model=bar and =learned, on the golden set (evaluated only, never used to
   choose anything) and on the dev set (in-sample for the thresholds, so optimistic).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from erp_assist.settings import Settings  # noqa: E402


def _served(assistant, dataset: Path) -> dict[str, float]:  # noqa: ANN001
    from eval.dataset import load_dataset
    from eval.metrics import abstention_metrics

    known = {c.uri.split("#")[0] for c in assistant.index.chunks}
    questions = load_dataset(dataset, known_sources=known).questions
    abstained = [assistant.rank(q.question).abstains for q in questions]  # the decision, no off-topic gate
    unanswerable = [not q.answerable for q in questions]
    answerable = [a for a, u in zip(abstained, unanswerable) if not u]
    return {**abstention_metrics(unanswerable, abstained), "answered": 1 - sum(answerable) / len(answerable),
            "n": len(questions), "unanswerable": sum(unanswerable)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", type=Path, default=ROOT / "eval" / "dev" / "abstain_dev.jsonl")
    parser.add_argument("--golden", type=Path, default=ROOT / "eval" / "data" / "golden.jsonl")
    parser.add_argument("--targets", type=float, nargs="+", default=[0.9, 0.95, 0.98])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    from assistant.service import Assistant
    from eval.dataset import load_dataset
    from eval.tuning import AbstentionSample, abstention_features, abstention_signals, compare_abstention
    from indexer.retrieval import FusionConfig

    settings = Settings()
    bar = Assistant(settings.model_copy(update={"abstain_model": "bar"})).load()
    learned = Assistant(settings.model_copy(update={"abstain_model": "learned"}), processor=bar.processor,
                        embedder=bar.embedder, classifier=bar.classifier).load()
    block = (bar.index.manifest.get("fusion") or {}).get("abstention") or {}
    served = Assistant(settings, processor=bar.processor, embedder=bar.embedder,
                       classifier=bar.classifier).load()
    print(f"build {bar.index.build_id}: abstain_model={settings.abstain_model} serves "
          f"{'learned' if served.serving.abstention is not None else 'bar'}; the build chose "
          f"{block.get('chosen', '-')}: {block.get('reason', 'no learned model in this build')}")
    if learned.serving.abstention is None:
        print("this build has no learned abstention model; rebuild with ERP_ASSIST_VALIDATION_SET set")

    known = {c.uri.split("#")[0] for c in bar.index.chunks}
    dev = load_dataset(args.dev, known_sources=known).questions
    samples = [AbstentionSample(q.question, not q.answerable) for q in dev]
    config = FusionConfig.from_settings(settings, bar.index.manifest)
    signals = abstention_signals(bar.index, bar.serving.retriever.processor, bar.embedder, settings, config,
                                 [s.question for s in samples], bar.classifier)
    features = abstention_features(signals, config.dense_weight > 0)
    x = np.array([s.vector(features) for s in signals])
    y = np.array([s.unanswerable for s in samples])
    origins = np.array(["validation"] * len(y))
    print(f"\n1. dev set {args.dev.name}: {len(y)} questions, {int(y.sum())} unanswerable; signals "
          f"{features}; {args.repeats}× repeated nested 5-fold CV")
    print(f"{'min answered':>12} {'method':>8} {'AUC':>6} {'abst P':>7} {'abst R':>7} {'(sd)':>6} "
          f"{'answered':>9}")
    for target in args.targets:
        cv = compare_abstention(x, y, origins, features, target, repeats=args.repeats)
        for method, m in cv.items():
            print(f"{target:>12.2f} {method:>8} {m['auc']:6.3f} {m['abstain_precision']:7.3f} "
                  f"{m['abstain_recall']:7.3f} {m['abstain_recall_sd']:6.3f} {m['answered']:9.3f}")

    print("\n2. served, thresholds chosen on the dev set at build time")
    print(f"{'dataset':>22} {'method':>8} {'abst P':>7} {'abst R':>7} {'answered':>9}")
    for dataset in (args.golden, args.dev):
        for method, assistant in (("bar", bar), ("learned", learned)):
            m = _served(assistant, dataset)
            print(f"{dataset.name:>22} {method:>8} {m['abstain_precision']:7.3f} {m['abstain_recall']:7.3f} "
                  f"{m['answered']:9.3f}   ({m['n']} questions, {m['unanswerable']} unanswerable)")


if __name__ == "__main__":
    main()
