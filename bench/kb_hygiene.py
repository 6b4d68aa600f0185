"""Knowledge-base hygiene, measured on the labelled hygiene set: precision and recall per kind.

Run: .venv/bin/python bench/kb_hygiene.py [--split test] [--tune] [--dense] [--json]

The knowledge base is the demo KB (data/demo: FAQ, SOPs, chats) plus the planted FAQ rows of
eval/data/hygiene/planted.csv (paraphrased copies, edited copies with a changed step, number, menu, role,
yes/no or module, stale entries, clean near-misses), written by someone who did not write the checks; the
retired versions/menus, the age limit and the reference date come from its retired.yaml. Every planted row is
in the KB at once; each split is scored on its own labels (eval/hygiene.py).

``--tune`` chooses the thresholds on the **dev** split only (a grid over the ERP_ASSIST_HYGIENE_* similarity
settings, best macro F1 of duplicates and contradictions; stale depends on rules, not thresholds), then scores
the chosen settings on ``--split``. ``--dense`` adds the configured embedder's cosine of whole entries (what a
build passes the check).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from erp_assist.settings import Settings  # noqa: E402

__all__ = ["HygieneBench", "load_bench", "run", "tune"]

DATA = ROOT / "eval" / "data" / "hygiene"
DEMO_KB = ROOT / "data" / "demo"
GRID = {
    "hygiene_question_similarity": [0.0, 0.1, 0.2, 0.3],
    "hygiene_pair_similarity": [0.4, 0.45, 0.5, 0.55, 0.6],
    "hygiene_question_weight": [0.2, 0.3, 0.4, 0.5],
    "hygiene_copied_share": [0.3, 0.5, 0.7],
    "hygiene_sentence_similarity": [0.0, 0.25, 0.5],
}
DENSE_GRID = [0.85, 0.9, 0.95, 0.98, 1.0]  # with --dense (1.0: the embedder joins only identical entries)


@dataclass
class HygieneBench:
    documents: list
    labels: list
    rules: object
    today: date


def load_bench(data: Path = DATA, kb: Path = DEMO_KB) -> HygieneBench:
    """The demo KB plus the planted rows, the labels, and the set's rules (retired terms, age, reference date)."""
    from eval.hygiene import load_labels
    from indexer.hygiene import HygieneRules
    from indexer.loaders import load_faq_csv, load_sources

    documents = load_sources(kb).documents + load_faq_csv(data / "planted.csv")
    spec = yaml.safe_load((data / "retired.yaml").read_text(encoding="utf-8")) or {}
    terms = tuple(str(t) for t in [*(spec.get("versions") or []), *(spec.get("menus") or []),
                                   *(spec.get("retired") or [])])
    rules = HygieneRules(int(spec.get("max_age_days", 730)), 180, terms)
    today = date.fromisoformat(str(spec.get("reference_date", date.today().isoformat())))
    return HygieneBench(documents, load_labels(data / "labels.jsonl"), rules, today)


def _vectors(bench: HygieneBench, settings: Settings):  # noqa: ANN202 - np.ndarray
    from erp_assist.domain import SourceType
    from indexer.embedding import Embedder

    embedder = Embedder(settings.embedder, settings.device, settings.embed_batch_size).load()
    qa = [d for d in bench.documents if d.source_type in (SourceType.FAQ, SourceType.CHAT)]
    vectors = embedder.encode([f"{d.title}\n{d.text}" for d in qa])
    import numpy as np

    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def all_pairs(bench: HygieneBench, processor, vectors=None) -> list:  # noqa: ANN001
    """Similarities of every pair of FAQ/chat entries, computed once for the grid."""
    from erp_assist.domain import SourceType
    from indexer.hygiene import score_pairs

    qa = [d for d in bench.documents if d.source_type in (SourceType.FAQ, SourceType.CHAT)]
    return score_pairs(qa, processor, floor=min(GRID["hygiene_question_similarity"]), entry_vectors=vectors,
                       dense_floor=0.0)


def run(bench: HygieneBench, settings: Settings, split: str, processor, vectors=None,  # noqa: ANN001
        pairs=None) -> dict[str, float]:  # noqa: ANN001
    """Metrics of the check with ``settings`` on one split's labels."""
    from eval.hygiene import score_report
    from indexer.hygiene import check_knowledge_base

    report = check_knowledge_base(bench.documents, settings, processor, rules=bench.rules, today=bench.today,
                                  entry_vectors=vectors, pairs=pairs)
    return score_report(report, [label for label in bench.labels if split == "all" or label.split == split])


def tune(bench: HygieneBench, base: Settings, processor, vectors=None) -> tuple[dict, dict]:  # noqa: ANN001
    """The grid point with the best dev macro F1 of duplicates and contradictions (ties: the earlier point)."""
    best: tuple[float, dict, dict] | None = None
    pairs = all_pairs(bench, processor, vectors)
    grid = GRID if vectors is None else {**GRID, "hygiene_dense_similarity": DENSE_GRID}
    for values in itertools.product(*grid.values()):
        choice = dict(zip(grid, values))
        metrics = run(bench, base.model_copy(update=choice), "dev", processor, vectors, pairs)
        score = (metrics["duplicate/f1"] + metrics["contradiction/f1"]) / 2
        if best is None or score > best[0]:
            best = (score, choice, metrics)
    assert best is not None
    return best[1], best[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--tune", action="store_true", help="choose thresholds on the dev split first")
    parser.add_argument("--dense", action="store_true", help="add the embedder's cosine of whole entries")
    parser.add_argument("--data", type=Path, default=DATA, help="labelled hygiene set directory")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.table import Table

    from indexer.text import TextProcessor

    settings = Settings()
    processor = TextProcessor.from_settings(settings)
    processor.warm_up()
    bench = load_bench(args.data)
    vectors = _vectors(bench, settings) if args.dense else None
    chosen: dict = {}
    if args.tune:
        chosen, dev = tune(bench, settings, processor, vectors)
        settings = settings.model_copy(update=chosen)
    started = time.perf_counter()
    metrics = {split: run(bench, settings, split, processor, vectors) for split in ("dev", args.split)}
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({"chosen": chosen, "metrics": metrics, "seconds_per_check": round(seconds / 2, 2),
                          "documents": len(bench.documents)}, ensure_ascii=False, indent=2))
        return 0
    console = Console()
    table = Table(title=f"KB hygiene on {args.data.name} ({len(bench.documents)} sources; "
                        f"{'lexical + dense' if args.dense else 'lexical'})")
    table.add_column("kind")
    for split in dict.fromkeys(("dev", args.split)):
        table.add_column(f"{split} P", justify="right")
        table.add_column(f"{split} R", justify="right")
        table.add_column(f"{split} n", justify="right")
    for kind in ("duplicate", "contradiction", "stale"):
        row = [kind]
        for split in dict.fromkeys(("dev", args.split)):
            m = metrics[split]
            row += [f"{m[f'{kind}/precision']:.2f}", f"{m[f'{kind}/recall']:.2f}", str(int(m[f'{kind}/n']))]
        table.add_row(*row)
    console.print(table)
    for split in dict.fromkeys(("dev", args.split)):
        console.print(f"{split}: clean near-misses flagged {int(metrics[split]['clean/false_alarms'])}/"
                      f"{int(metrics[split]['clean/n'])}")
    if chosen:
        console.print("chosen on dev: " + ", ".join(f"ERP_ASSIST_{k.upper()}={v}" for k, v in chosen.items()))
    console.print(f"one check: {seconds / 2:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
