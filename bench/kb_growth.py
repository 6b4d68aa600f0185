"""A knowledge base grown by accepted reviews, checked and merged: how many entries the hygiene check merges, and
whether recall@5 on the golden set holds after merging.

Run: .venv/bin/python bench/kb_growth.py [--reviews 300] [--seed 0] [--json] [--workdir DIR]

Growth: ``--reviews`` ERP questions drawn (seeded) from the classifier's labelled training questions
(models/data/train: written by group members, never the golden wording) go through the real product —
``Assistant.suggest`` → ``record_question`` in a real SQLite store → a simulated expert **accepts the top draft**
with ``record_review`` as the store did before issue #20 (no merge at review time). An accepted FAQ draft teaches
an alternate question; an accepted SOP step or chat answer becomes a new ``kb://faq/learned-<id>`` entry. The
nightly ``rebuild_knowledge_base`` then publishes the grown KB (``--nightly-every N``: also after every N
reviews). ``--review-time-merge``: the product's review-time merge is on, so an accepted answer that repeats an
entry of the serving index becomes its alternate.

Check and merge: ``check_tenant`` over the grown KB; every duplicate group is resolved as a merge into the
suggested keeper (an expert taking every suggestion) with ``record_resolution``, and the KB is rebuilt.

Measured on eval/data/golden.jsonl (the demo KB's questions) for the demo KB as shipped, the grown KB and the
merged KB: recall@5 and MRR@10 of the served ranking; a hit on an entry's keeper counts for the entry merged into
it ("links redirect"), reported beside the plain number. Also: how many of the accepted reviews the review-time
merge (``assistant.kb_hygiene.learned_merge_target``, learn_as=auto) would have made alternates instead of new
entries.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from erp_assist.settings import Settings  # noqa: E402

TRAIN = ROOT / "models" / "data" / "train"
GOLDEN = ROOT / "eval" / "data" / "golden.jsonl"
EXPERT = "growth-expert"


def load_questions(n: int, seed: int) -> list[str]:
    """``n`` distinct ERP questions from the labelled training files, in a seeded random order."""
    texts = []
    for path in sorted(TRAIN.glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = sorted(set(texts))
    random.Random(seed).shuffle(texts)
    return texts[:n]


def golden_recall(assistant, redirects: dict[str, str]) -> dict[str, float]:  # noqa: ANN001
    """recall@5 and MRR@10 of the served ranking on the golden set; ``…+redirect`` also counts a hit on the
    keeper of a merged relevant entry."""
    from eval.dataset import load_dataset
    from eval.metrics import retrieval_metrics

    dataset = load_dataset(GOLDEN)
    plain, redirected = [], []
    for question in dataset.questions:
        ranked = list(dict.fromkeys(h.chunk.uri.split("#")[0] for h in assistant.rank(question.question).hits))
        relevant = {r.split("#")[0] for r in question.relevant}
        plain.append((ranked, relevant))
        redirected.append((ranked, relevant | {redirects[r] for r in relevant if r in redirects}))
    a, b = retrieval_metrics(plain), retrieval_metrics(redirected)
    return {"recall@5": round(a["recall@5"], 4), "mrr@10": round(a["mrr@10"], 4),
            "recall@5+redirect": round(b["recall@5"], 4), "mrr@10+redirect": round(b["mrr@10"], 4),
            "questions": len(dataset.questions)}


def run(reviews: int, seed: int, workdir: Path, review_time_merge: bool = False, nightly_every: int = 0) -> dict:
    from assistant.kb_hygiene import check_tenant, learned_merge_target
    from assistant.rebuild import rebuild_knowledge_base
    from assistant.service import Assistant
    from assistant.store import get_question, learned_documents, open_store, record_question, record_review
    from assistant.store import record_resolution
    from assistant.tenants import SharedModels
    from erp_assist.domain import Decision
    from indexer.hygiene import Action, FindingKind

    base = Settings()
    data = workdir / "kb"
    shutil.copytree(ROOT / "data" / "demo", data)
    settings = base.model_copy(update={
        "data_dir": data, "index_dir": workdir / "index", "database_url": f"sqlite:///{workdir / 'store.db'}",
        "off_topic_gate": False,
    })
    store = open_store(settings.database_url)
    models = SharedModels.load(settings)
    timings: dict[str, float] = {}
    out: dict = {"reviews": reviews, "seed": seed, "review_time_merge": review_time_merge,
                 "nightly_every": nightly_every}

    started = time.perf_counter()
    rebuild_knowledge_base(settings, models=models, store=store)
    assistant = Assistant(settings, processor=models.processor, embedder=models.embedder,
                          classifier=models.classifier).load()
    out["demo"] = golden_recall(assistant, {})
    timings["first build + golden"] = time.perf_counter() - started

    started = time.perf_counter()
    accepted = would_merge = 0
    for n, text in enumerate(load_questions(reviews, seed), start=1):
        if nightly_every and n % nightly_every == 0:  # a nightly build: what was learned becomes findable
            rebuild_knowledge_base(settings, models=models, store=store)
            assistant.refresh()
        result = assistant.suggest(text)
        question_id = record_question(store, tenant=settings.tenant, result=result, asker="群成员")
        if not result.suggestions:
            continue
        stored = get_question(store, tenant=settings.tenant, question_id=question_id)
        target = learned_merge_target(stored, decision=Decision.ACCEPT, suggestion_rank=1, edited_answer=None,
                                      learn_as="auto", chunks=assistant.index.chunks,
                                      processor=assistant.processor, settings=settings)
        would_merge += target is not None
        record_review(store, tenant=settings.tenant, question_id=question_id, decision=Decision.ACCEPT,
                      reviewer=EXPERT, suggestion_rank=1, merge_into=target if review_time_merge else None)
        accepted += 1
    documents, alternates = learned_documents(store, tenant=settings.tenant)
    out["growth"] = {"accepted": accepted, "learned_entries": len(documents),
                     "learned_alternates": sum(map(len, alternates.values())),
                     "review_time_merges": would_merge}
    timings["reviews"] = time.perf_counter() - started

    started = time.perf_counter()
    rebuild_knowledge_base(settings, models=models, store=store)
    assistant.refresh()
    out["grown"] = golden_recall(assistant, {})
    report = check_tenant(settings, store, processor=models.processor)
    out["check"] = report.counts | {"learned_in_duplicate_groups": sum(
        1 for g in report.duplicates for u in g.uris if "/learned-" in u)}
    for group in report.duplicates:
        record_resolution(store, tenant=settings.tenant, finding_id=group.id, kind=FindingKind.DUPLICATE,
                          action=Action.MERGE, uris=list(group.uris), target=group.keeper, reviewer=EXPERT)
    timings["grown build + check"] = time.perf_counter() - started

    started = time.perf_counter()
    merged = rebuild_knowledge_base(settings, models=models, store=store)
    assistant.refresh()
    redirects = merged.manifest["curation"]["redirects"]
    out["merged"] = golden_recall(assistant, redirects) | {"entries_merged": merged.manifest["curation"]["merged"],
                                                           "chunks": merged.manifest["counts"]["chunks"]}
    out["merged_demo_entries"] = sorted(u for u in redirects if "/learned-" not in u)
    timings["merged build + golden"] = time.perf_counter() - started
    out["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    store.dispose()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviews", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, help="keep the grown KB, store and index here (default: temp)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--review-time-merge", action="store_true",
                        help="merge answers that repeat an entry at review time (learn_as=auto), as the product does")
    parser.add_argument("--nightly-every", type=int, default=0,
                        help="rebuild after every N reviews (0: once, after all of them)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kb-growth-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        out = run(args.reviews, args.seed, workdir, args.review_time_merge, args.nightly_every)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"golden recall after {out['growth']['accepted']} accepted reviews, then merging duplicates")
    for column in ("KB", "recall@5", "MRR@10", "recall@5 (+redirect)", "MRR@10 (+redirect)"):
        table.add_column(column, justify="right" if column != "KB" else "left")
    for name in ("demo", "grown", "merged"):
        m = out[name]
        table.add_row(name, f"{m['recall@5']:.3f}", f"{m['mrr@10']:.3f}", f"{m['recall@5+redirect']:.3f}",
                      f"{m['mrr@10+redirect']:.3f}")
    console = Console()
    console.print(table)
    console.print(f"growth: {out['growth']}")
    console.print(f"check of the grown KB: {out['check']}")
    console.print(f"merged: {out['merged']['entries_merged']} entries into their keepers "
                  f"(demo entries merged away: {len(out['merged_demo_entries'])}) · seconds {out['seconds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
