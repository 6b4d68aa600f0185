"""ERP vocabulary packs (issue #19) measured: retrieval and module tagging with the packs on and off.

Run: .venv/bin/python bench/vocab_packs.py [--cross eval/data/cross_vendor.jsonl] [--json out.json]

1. Two real builds of the demo knowledge base (``build_index``, published into a temporary index directory):
   packs off (``ERP_ASSIST_ERP_VENDORS=none``) and on (all packs). Questions go through ``Assistant.rank``, the
   path ``suggest`` serves (BM25 + dense as configured, classifier, module bonus).
2. Choosing (dev data only): the concept weight and the module-evidence weight are swept on the dev half of the
   cross-vendor set (odd-numbered ids) and eval/dev/abstain_dev.jsonl; the golden set is never used to choose.
3. Reporting: recall@1/5 and MRR@10 on the cross-vendor set (all, the held-out even half, per vendor), the
   golden set, AFQMC and the Odoo docs (BM25 over in-memory indexes, as ``erp-assist eval`` builds them), on vs
   off; module macro-F1 on the cross-vendor set with and without pack evidence.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from erp_assist.settings import Settings  # noqa: E402

CROSS = ROOT / "eval" / "data" / "cross_vendor.jsonl"
GOLDEN = ROOT / "eval" / "data" / "golden.jsonl"
DEV = ROOT / "eval" / "dev" / "abstain_dev.jsonl"
METRICS = ("recall@1", "recall@5", "mrr@10")
console = Console()


def _vendors(path: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {str(r["id"]): str(r.get("vendor", "?")) for r in rows}


def _is_dev(question_id: str) -> bool:
    digits = "".join(ch for ch in question_id if ch.isdigit())
    return bool(digits) and int(digits) % 2 == 1


def _served_runs(assistant, questions) -> tuple[list, list[str]]:  # noqa: ANN001
    from eval.systems import ranked_sources

    runs, modules = [], []
    for q in questions:
        ranking = assistant.rank(q.question)
        runs.append((ranked_sources(ranking.hits), {r.split("#")[0] for r in q.relevant}))
        modules.append(ranking.classification.module)
    return runs, modules


def _metrics(runs) -> dict[str, float]:  # noqa: ANN001
    from eval.metrics import retrieval_metrics

    m = retrieval_metrics(runs)
    return {k: round(m[k], 4) for k in METRICS}


def _module_f1(questions, predicted: list[str]) -> float:  # noqa: ANN001
    from eval.metrics import classification_metrics

    gold = [(q.module, p) for q, p in zip(questions, predicted) if q.module]
    return round(classification_metrics([g for g, _ in gold], [p for _, p in gold], "module")["module_macro_f1"], 4)


def _build(settings: Settings, embedder, classifier):  # noqa: ANN001
    from assistant.service import module_tagger
    from indexer.build import build_index
    from indexer.text import TextProcessor

    processor = TextProcessor.from_settings(settings)
    build_index(settings, embedder=embedder, processor=processor, module_tagger=module_tagger(classifier))


def _assistant(settings: Settings, embedder, classifier):  # noqa: ANN001
    from assistant.service import Assistant

    return Assistant(settings, embedder=embedder, classifier=classifier).load()


def _public(settings: Settings, vocabulary_on: bool) -> dict[str, dict[str, float]]:
    """BM25 on AFQMC and the Odoo docs with the packs on or off (dense weight 0, as served by default)."""
    from dataclasses import replace

    from eval.public import afqmc_benchmark, odoo_benchmark
    from eval.systems import ranked_sources
    from indexer.backends import LocalBackend
    from indexer.build import lexical_tokens
    from indexer.index import KnowledgeIndex
    from indexer.lexical import LexicalIndex
    from indexer.retrieval import Retriever
    from indexer.text import TextProcessor

    processor = TextProcessor.from_settings(settings, vocabulary=None if not vocabulary_on else True)
    shared = settings.shared_data_dir
    out = {}
    for name, bench in (("afqmc", afqmc_benchmark(shared / "afqmc" / "dev.jsonl")),
                        ("odoo", odoo_benchmark(shared / "odoo16-zh-docs", chunk_size=settings.chunk_size,
                                                chunk_overlap=settings.chunk_overlap))):
        if bench is None:
            continue
        lexical = LexicalIndex(concept_weight=settings.vocab_concept_weight).fit(
            [lexical_tokens(c, processor, settings.title_weight) for c in bench.chunks])
        index = KnowledgeIndex(Path("<memory>"), {"build_id": name}, bench.chunks, LocalBackend(lexical, None))
        retriever = Retriever(replace(index), processor, None)
        runs = [(ranked_sources(retriever.lexical(q.question, settings.candidate_k)),
                 {r.split("#")[0] for r in q.relevant}) for q in bench.questions]
        out[name] = _metrics(runs)
    return out


def tokenize_ms(settings: Settings, texts: list[str], vocabulary_on: bool, repeats: int = 3) -> float:
    """Milliseconds to tokenize one text, packs on or off (jieba and OpenCC loaded first)."""
    import time

    from indexer.text import TextProcessor

    processor = TextProcessor.from_settings(settings, vocabulary=True if vocabulary_on else None)
    processor.warm_up()
    started = time.perf_counter()
    for _ in range(repeats):
        for text in texts:
            processor.tokenize(text)
    return round((time.perf_counter() - started) * 1000 / (repeats * len(texts)), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cross", type=Path, default=CROSS)
    parser.add_argument("--concept-weights", default="0,0.25,0.5,1,2")
    parser.add_argument("--public-weights", default="", help="also AFQMC/Odoo at these concept weights (slow)")
    parser.add_argument("--evidence-weights", default="0,0.15,0.3,0.5")
    parser.add_argument("--no-public", action="store_true", help="skip AFQMC and Odoo")
    parser.add_argument("--json", type=Path, help="write every number here")
    args = parser.parse_args()

    from assistant.service import load_or_train_classifier
    from eval.dataset import load_dataset
    from indexer.embedding import Embedder

    base = Settings()
    embedder = Embedder(base.embedder, base.device, base.embed_batch_size).load()
    classifier = load_or_train_classifier(base)
    vendor_of = _vendors(args.cross)
    report: dict = {"settings": {"concept_weight": base.vocab_concept_weight,
                                 "module_evidence_weight": base.vocab_module_evidence_weight}}
    with tempfile.TemporaryDirectory() as tmp:
        variants = {}
        for name, vendors in (("off", "none"), ("on", "all")):
            settings = base.model_copy(update={"erp_vendors": vendors, "index_dir": Path(tmp) / name,
                                               "off_topic_gate": False})
            with console.status(f"building the demo index, packs {name}…"):
                _build(settings, embedder, classifier)
            variants[name] = settings
        probe = _assistant(variants["off"], embedder, classifier)
        known = {c.uri.split("#")[0] for c in probe.index.chunks}
        cross = load_dataset(args.cross, known_sources=known)
        golden = load_dataset(GOLDEN, known_sources=known).questions
        dev_answerable = [q for q in load_dataset(DEV, known_sources=known).questions if q.answerable]
        cross_dev = [q for q in cross.questions if _is_dev(q.id)]
        cross_test = [q for q in cross.questions if not _is_dev(q.id)]
        report["cross_vendor"] = {"n": len(cross.questions), "dev": len(cross_dev), "held_out": len(cross_test),
                                  "skipped": cross.problems}

        # 1. Choose the concept weight on dev data (served path, pack module evidence as configured).
        sweep = {}
        for weight in [float(w) for w in args.concept_weights.split(",")]:
            assistant = _assistant(variants["on"].model_copy(update={"vocab_concept_weight": weight}), embedder,
                                   classifier)
            sweep[weight] = {"cross_dev": _metrics(_served_runs(assistant, cross_dev)[0]),
                             "abstain_dev": _metrics(_served_runs(assistant, dev_answerable)[0])}
        off = _assistant(variants["off"], embedder, classifier)
        sweep_off = {"cross_dev": _metrics(_served_runs(off, cross_dev)[0]),
                     "abstain_dev": _metrics(_served_runs(off, dev_answerable)[0])}
        report["concept_weight_sweep"] = {"off": sweep_off, **{str(k): v for k, v in sweep.items()}}
        table = Table(title="concept weight, dev data only (served path): MRR@10 / recall@5")
        for col in ("concept weight", "cross-vendor dev half", "abstain_dev answerable"):
            table.add_column(col)
        table.add_row("packs off", f"{sweep_off['cross_dev']['mrr@10']:.3f} / {sweep_off['cross_dev']['recall@5']:.3f}",
                      f"{sweep_off['abstain_dev']['mrr@10']:.3f} / {sweep_off['abstain_dev']['recall@5']:.3f}")
        for weight, m in sweep.items():
            table.add_row(f"{weight:g}", f"{m['cross_dev']['mrr@10']:.3f} / {m['cross_dev']['recall@5']:.3f}",
                          f"{m['abstain_dev']['mrr@10']:.3f} / {m['abstain_dev']['recall@5']:.3f}")
        console.print(table)
        # The dev argmax, for the record: on the demo dev sets every weight from 0 to 2 lies within 0.007 MRR, so
        # the setting's default is kept in that flat region where the public sets do not drop (README).
        best_cw = max(sweep, key=lambda w: (sweep[w]["cross_dev"]["mrr@10"] + sweep[w]["abstain_dev"]["mrr@10"], -w))
        chosen_cw = base.vocab_concept_weight
        golden_by_weight = {}
        for weight in sweep:  # reported, never used to choose
            assistant = _assistant(variants["on"].model_copy(update={"vocab_concept_weight": weight}), embedder,
                                   classifier)
            golden_by_weight[str(weight)] = _metrics(_served_runs(assistant, golden)[0])
        report["golden_by_concept_weight_report_only"] = golden_by_weight
        console.print(f"dev argmax concept weight: {best_cw:g}; reported at the setting {chosen_cw:g}; "
                      f"golden by weight, for the record only: {golden_by_weight}")

        # 2. Module evidence weight on dev data.
        evidence = {}
        for weight in [float(w) for w in args.evidence_weights.split(",")]:
            assistant = _assistant(variants["on"].model_copy(update={"vocab_module_evidence_weight": weight}),
                                   embedder, classifier)
            evidence[str(weight)] = _module_f1(cross_dev, _served_runs(assistant, cross_dev)[1])
        report["module_evidence_sweep_cross_dev_f1"] = evidence
        best_ev = float(max(evidence, key=lambda w: (evidence[w], -float(w))))
        chosen_ev = base.vocab_module_evidence_weight
        console.print(f"module macro-F1 on the cross-vendor dev half by pack evidence weight: {evidence}; dev argmax "
                      f"{best_ev:g}; reported at the setting {chosen_ev:g}")
        report["chosen"] = {"concept_weight": chosen_cw, "module_evidence_weight": chosen_ev}

        # 3. Report at the settings' weights.
        variants["on"] = variants["on"].model_copy(update={"vocab_concept_weight": chosen_cw,
                                                           "vocab_module_evidence_weight": chosen_ev})
        on = _assistant(variants["on"], embedder, classifier)
        on_no_evidence = _assistant(variants["on"].model_copy(update={"vocab_module_evidence_weight": 0.0}),
                                    embedder, classifier)
        results: dict[str, dict] = {}
        for label, assistant in (("off", off), ("on", on)):
            runs, modules = _served_runs(assistant, cross.questions)
            by_vendor: dict[str, list] = defaultdict(list)
            for q, run in zip(cross.questions, runs):
                by_vendor[vendor_of.get(q.id, "?")].append(run)
            held = [run for q, run in zip(cross.questions, runs) if not _is_dev(q.id)]
            results[label] = {
                "cross_vendor": _metrics(runs), "cross_vendor_held_out": _metrics(held),
                "by_vendor": {v: {**_metrics(r), "n": len(r)} for v, r in sorted(by_vendor.items())},
                "golden": _metrics(_served_runs(assistant, golden)[0]),
                "module_macro_f1_cross": _module_f1(cross.questions, modules),
                "module_macro_f1_golden": _module_f1(golden, _served_runs(assistant, golden)[1]),
            }
        no_ev_modules = _served_runs(on_no_evidence, cross.questions)[1]
        results["on"]["module_macro_f1_cross_without_pack_evidence"] = _module_f1(cross.questions, no_ev_modules)
        own_off = [classifier.classify(q.question).module for q in cross.questions]
        results["classifier_alone_module_macro_f1_cross"] = _module_f1(cross.questions, own_off)
        vocabulary = on.serving.retriever.processor.vocabulary
        named = [classifier.with_evidence(classifier.classify(q.question), vocabulary.module_evidence(q.question),
                                          max(chosen_ev, 0.3)).module for q in cross.questions]
        results["pack_prior_weight_shown"] = max(chosen_ev, 0.3)
        results["on"]["module_macro_f1_golden_without_pack_evidence"] = _module_f1(
            golden, _served_runs(on_no_evidence, golden)[1])
        results["classifier_plus_pack_prior_module_macro_f1_cross"] = _module_f1(cross.questions, named)
        if not args.no_public:
            with console.status("AFQMC and Odoo, packs off and on…"):
                results["off"]["public"] = _public(variants["off"], False)
                results["on"]["public"] = _public(variants["on"], True)
        report["results"] = results
        for weight in [float(w) for w in args.public_weights.split(",") if w.strip()]:
            with console.status(f"AFQMC and Odoo at concept weight {weight:g}…"):
                report.setdefault("public_by_concept_weight", {})[str(weight)] = _public(
                    variants["on"].model_copy(update={"vocab_concept_weight": weight}), True)
        if "public_by_concept_weight" in report:
            console.print(f"AFQMC/Odoo BM25 by concept weight: {report['public_by_concept_weight']}")

    table = Table(title="packs off → on (served path; public sets BM25)")
    for col in ("set", *METRICS):
        table.add_column(col)
    rows = [("cross-vendor (all)", "cross_vendor"), ("cross-vendor held-out half", "cross_vendor_held_out"),
            ("golden", "golden")]
    for title, key in rows:
        table.add_row(title, *(f"{results['off'][key][m]:.3f} → {results['on'][key][m]:.3f}" for m in METRICS))
    for vendor in results["on"]["by_vendor"]:
        o, n = results["off"]["by_vendor"][vendor], results["on"]["by_vendor"][vendor]
        table.add_row(f"  {vendor} (n={n['n']})", *(f"{o[m]:.3f} → {n[m]:.3f}" for m in METRICS))
    for name in results["on"].get("public", {}):
        o, n = results["off"]["public"][name], results["on"]["public"][name]
        table.add_row(name, *(f"{o[m]:.3f} → {n[m]:.3f}" for m in METRICS))
    console.print(table)
    console.print(
        "module macro-F1, cross-vendor: classifier alone {a:.3f}, + pack prior (w={w:g}) {b:.3f}; served packs off {c:.3f}, "
        "packs on without pack evidence {d:.3f}, with {e:.3f}; golden served off {f:.3f} → on {g:.3f}".format(
            a=results["classifier_alone_module_macro_f1_cross"], w=results["pack_prior_weight_shown"],
            b=results["classifier_plus_pack_prior_module_macro_f1_cross"],
            c=results["off"]["module_macro_f1_cross"], d=results["on"]["module_macro_f1_cross_without_pack_evidence"],
            e=results["on"]["module_macro_f1_cross"], f=results["off"]["module_macro_f1_golden"],
            g=results["on"]["module_macro_f1_golden"]))
    faq = [f"{r['question']} {r['answer']}" for r in csv.DictReader((base.data_dir / "faq.csv").open(encoding="utf-8"))]
    report["tokenize_ms_per_faq_entry"] = {"off": tokenize_ms(base, faq, False), "on": tokenize_ms(base, faq, True)}
    console.print(f"tokenize one demo FAQ entry (question + answer): {report['tokenize_ms_per_faq_entry']} ms")
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
