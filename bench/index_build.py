"""Index build speed through the real pipeline (load, chunk, tokenize, BM25, vectors when the settings ask for
them, verify, publish): a full build of the demo KB (+ the 207 Odoo pages when ../shared is there) and an
incremental rebuild after changing one file, then a full build of a synthetic KB written as a FAQ file.

Run: .venv/bin/python bench/index_build.py [--synthetic 50000] [--vectors auto|always]
``--vectors always`` embeds every chunk with ERP_ASSIST_EMBEDDER (what every build did before vectors became
opt-in); ``auto`` (the default) computes none unless the ranking can use them.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import cpu_note, demo_sentences, synthetic_chunks  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402
from indexer.build import build_index  # noqa: E402
from indexer.text import TextProcessor  # noqa: E402


def _write_synthetic_faq(path: Path, size: int) -> None:
    """``size`` FAQ entries recombined from the demo's sentences (bench/synthetic.py), as a tenant would upload."""
    path.mkdir(parents=True)
    with (path / "faq.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer", "module"])
        for chunk in synthetic_chunks(size, demo_sentences(ROOT / "data" / "demo")):
            writer.writerow([chunk.source_id, chunk.title, chunk.text, chunk.module])


def _edit_middle_entry(faq: Path) -> None:
    """Change the answer of the entry halfway down the file: its chunk's row moves in no matrix, unlike an append."""
    with faq.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    rows[len(rows) // 2][2] += "（已更新：审批后同步通知财务。）"
    with faq.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)


def _nightly(settings: Settings, tmp: Path, sop: Path) -> None:
    """What `erp-assist index` and the admin rebuild run (``rebuild_knowledge_base``): the build plus the
    classifier labelling chat threads that have no module, the learned FAQ and the hygiene resolutions. A first
    rebuild in a directory of its own warms up what it imports; then a full one and one after an SOP edit."""
    from assistant.rebuild import rebuild_knowledge_base
    from assistant.tenants import SharedModels

    def timed(name: str) -> tuple[object, float]:
        run = settings.model_copy(update={"index_dir": tmp / f"index-{name}", "cache_dir": tmp / f"cache-{name}",
                                          "database_url": f"sqlite:///{tmp / 'store.db'}"})
        started = time.perf_counter()
        report = rebuild_knowledge_base(run, models=models)
        return report, time.perf_counter() - started

    models = SharedModels.load(settings.model_copy(update={"database_url": f"sqlite:///{tmp / 'store.db'}"}))
    timed("warm-up")
    full, full_s = timed("nightly")
    sop.write_text(sop.read_text(encoding="utf-8") + "\n\n## 夜间补充\n结账后请导出试算平衡表留档。\n", encoding="utf-8")
    again, again_s = timed("nightly")
    print(f"nightly rebuild (rebuild_knowledge_base: classifier labels chat threads): full {full_s:.2f} s, "
          f"one SOP edited {again_s:.2f} s, ratio {again_s / full_s:.3f}")
    for name, report in (("full", full), ("incremental", again)):
        print(f"  {name:<11} " + "  ".join(f"{stage} {s:.2f}" for stage, s in report.stage_seconds.items()))


def _timed_build(settings: Settings, processor: TextProcessor):  # noqa: ANN202
    started = time.perf_counter()
    report = build_index(settings, processor=processor)
    return report, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic", type=int, default=50_000, help="chunks of the synthetic KB (0: skip it)")
    parser.add_argument("--vectors", choices=["auto", "always"], default="auto")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kb = Path(tmp) / "kb"
        shutil.copytree(ROOT / "data" / "demo", kb)
        odoo = Settings().shared_data_dir / "odoo16-zh-docs"
        if odoo.is_dir():
            shutil.copytree(odoo, kb / "sops" / "odoo")
        else:
            print(f"({odoo} absent: demo only)")
        settings = Settings(data_dir=kb, index_dir=Path(tmp) / "index", cache_dir=Path(tmp) / "cache",
                            dense_vectors=args.vectors)
        processor = TextProcessor.from_settings(settings)
        processor.warm_up()
        # Imported before timing, like the warm processor: otherwise the first (full) build pays scikit-learn's
        # import (~1 s, the hygiene check's TF-IDF) and the incremental one, in the same process, does not.
        import sklearn.feature_extraction.text  # noqa: F401

        full, full_s = _timed_build(settings, processor)
        chunks = full.manifest["counts"]["chunks"]
        sop = kb / "sops" / "sop-fin-month-end-close.md"
        sop.write_text(sop.read_text(encoding="utf-8") + "\n\n## 补充说明\n结账前请再次确认所有凭证已审核并过账。\n",
                       encoding="utf-8")
        incremental, incremental_s = _timed_build(settings, processor)
        # A new FAQ entry changes the Q&A entries, so the hygiene check scores its pairs again.
        faq = kb / "faq.csv"
        faq.write_text(faq.read_text(encoding="utf-8").rstrip("\n") + "\nbench-new-1,成本中心怎么停用？,"
                       "在【成本中心】里把状态改为停用，已有凭证的成本中心不能删除。,finance,,2024-12-02\n", encoding="utf-8")
        faq_change, faq_change_s = _timed_build(settings, processor)

        vectors = f"vectors: {full.manifest['embedder']['name'] or 'none'} (ERP_ASSIST_DENSE_VECTORS={args.vectors})"
        print(f"index build, {cpu_note()}, {vectors}")
        print(f"demo+odoo full build   {chunks:6d} chunks  {full_s:7.2f} s  {chunks / full_s:7.1f} chunks/s")
        print(f"incremental (1 file changed): {incremental.manifest['counts']['chunks']} chunks, "
              f"{incremental.reused_embeddings} vectors and {incremental.reused_tokens} chunks' tokens reused, "
              f"{incremental_s:.2f} s")
        print(f"ratio incremental/full: {incremental_s / full_s:.3f}")
        print(f"incremental (1 FAQ entry added to faq.csv): {faq_change.reused_tokens} chunks' tokens reused, "
              f"{faq_change_s:.2f} s, ratio {faq_change_s / full_s:.3f}")
        for name, report in (("full", full), ("incremental", incremental), ("faq-entry", faq_change)):
            print(f"  {name:<11} " + "  ".join(f"{stage} {s:.2f}" for stage, s in report.stage_seconds.items()))
        _nightly(settings, Path(tmp), sop)

        if args.synthetic:
            synthetic = Path(tmp) / "synthetic"
            _write_synthetic_faq(synthetic, args.synthetic)
            big_settings = settings.model_copy(update={
                "data_dir": synthetic, "index_dir": Path(tmp) / "index-synthetic", "cache_dir": Path(tmp) / "cache-synthetic",
            })
            big, big_s = _timed_build(big_settings, processor)
            n = big.manifest["counts"]["chunks"]
            print(f"synthetic full build {n:8d} chunks  {big_s:7.1f} s  {n / big_s:7.1f} chunks/s")
            with (synthetic / "faq.csv").open("a", encoding="utf-8") as handle:
                handle.write("bench-new-1,成本中心怎么停用？,在【成本中心】里把状态改为停用。,finance\n")
            added, added_s = _timed_build(big_settings, processor)
            print(f"synthetic incremental (1 FAQ entry added): {added_s:.2f} s, ratio {added_s / big_s:.3f}")
            _edit_middle_entry(synthetic / "faq.csv")
            edited, edited_s = _timed_build(big_settings, processor)
            print(f"synthetic incremental (1 FAQ entry edited mid-file): {edited_s:.2f} s, "
                  f"ratio {edited_s / big_s:.3f}")
            for name, report in (("full", big), ("added", added), ("edited", edited)):
                print(f"  {name:<11} " + "  ".join(f"{stage} {s:.2f}" for stage, s in report.stage_seconds.items()))


if __name__ == "__main__":
    main()
