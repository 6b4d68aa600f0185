"""Index build speed: a full build of the demo KB (+ the 207 Odoo pages when ../shared is there), then an
incremental rebuild after changing one file, in the same run.

Run: .venv/bin/python bench/index_build.py
Prints chunks/s for the full build and the incremental/full time ratio (unchanged chunks reuse their vectors).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.synthetic import cpu_note  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402
from indexer.build import build_index  # noqa: E402
from indexer.embedding import Embedder  # noqa: E402
from indexer.text import TextProcessor  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        kb = Path(tmp) / "kb"
        shutil.copytree(ROOT / "data" / "demo", kb)
        odoo = Settings().shared_data_dir / "odoo16-zh-docs"
        if odoo.is_dir():
            shutil.copytree(odoo, kb / "sops" / "odoo")
        else:
            print(f"({odoo} absent: demo only)")
        settings = Settings(data_dir=kb, index_dir=Path(tmp) / "index", cache_dir=Path(tmp) / "cache")
        embedder = Embedder(settings.embedder).load()
        processor = TextProcessor.from_settings(settings)
        processor.warm_up()

        started = time.perf_counter()
        full = build_index(settings, embedder=embedder, processor=processor)
        full_s = time.perf_counter() - started
        chunks = full.manifest["counts"]["chunks"]

        sop = kb / "sops" / "sop-fin-month-end-close.md"
        sop.write_text(sop.read_text(encoding="utf-8") + "\n\n## 补充说明\n结账前请再次确认所有凭证已审核并过账。\n",
                       encoding="utf-8")
        started = time.perf_counter()
        incremental = build_index(settings, embedder=embedder, processor=processor)
        incremental_s = time.perf_counter() - started

        print(f"index build, {cpu_note()}, embedder {settings.embedder}")
        print(f"full build        {chunks:6d} chunks  {full_s:7.1f} s  {chunks / full_s:7.1f} chunks/s")
        print(f"incremental (1 file changed): {incremental.manifest['counts']['chunks']} chunks, "
              f"{incremental.reused_embeddings} vectors reused, {incremental_s:.1f} s")
        print(f"ratio incremental/full: {incremental_s / full_s:.2f}")


if __name__ == "__main__":
    main()
