"""Live ERP lookups, measured against a real Tryton with the scripted test company (tests/tryton_company.py).

Starts trytond on a copy of the cached test database (built on first use, ~1-2 min), asks every question of
eval/data/erp_lookup.jsonl through ``ErpLookups`` exactly as the API does (intent, whitelist, lookup, answer,
audit row), and prints intent precision/recall, answer correctness and lookup latency p50/p95. Also counts the
golden set's how-to questions (eval/data/golden.jsonl, written by others) that would trigger a lookup.

    python bench/erp_lookup.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.erp import ErpLookups  # noqa: E402
from assistant.erp.intent import detect_intent  # noqa: E402
from assistant.store import open_store  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402
from eval.erp_lookup import LookupResult, load_cases, score_lookups  # noqa: E402
from tests.assistant.erp.conftest import erp_yaml, write_erp_config  # noqa: E402
from tests.tryton_erp import TrytonServer, template_database, tryton_available  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "eval" / "data" / "erp_lookup.jsonl")
    parser.add_argument("--repeat", type=int, default=3, help="Times each question is asked (latency samples)")
    args = parser.parse_args()
    console = Console()
    reason = tryton_available()
    if reason:
        raise SystemExit(reason)
    cases = load_cases(args.data)
    cache = Path(os.environ.get("ERP_ASSIST_TRYTON_CACHE", Path(tempfile.gettempdir()) / "erp-assist-tryton"))
    with console.status("building / loading the Tryton test company…"):
        template = template_database(cache)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = TrytonServer.start(template, work / "tryton")
        try:
            settings = Settings(erp_config_dir=work / "erp", database_url=f"sqlite:///{work / 'store.db'}",
                                erp_lookups_per_minute=100_000)
            write_erp_config(settings.erp_config_dir, "default", erp_yaml(server.url))
            lookups = ErpLookups(settings, open_store(settings.database_url))
            lookups.answer("A-1002 还有多少库存", tenant="default", asker="warm-up", channel="bench")
            results: list[LookupResult] = []
            latencies: list[float] = []
            misses = []
            for case in cases:
                answer = None
                for _ in range(args.repeat):
                    answer = lookups.answer(case.question, tenant="default", asker="bench", channel="bench")
                    if answer is not None and answer.latency_ms is not None:
                        latencies.append(answer.latency_ms)
                results.append(LookupResult(answer.kind.value if answer else None,
                                            answer.outcome if answer else None, answer.text if answer else None,
                                            answer.latency_ms if answer else None))
                expected = (case.kind, case.outcome) if case.lookup else (None, None)
                got = (results[-1].kind, results[-1].outcome)
                if got != expected or not all(f in (results[-1].text or "") for f in case.facts):
                    misses.append((case.id, case.question, results[-1].text or "—"))
            lookups.close()
        finally:
            server.stop()
    scores = score_lookups(cases, results)
    scores["latency_p50_ms"] = sorted(latencies)[len(latencies) // 2]
    scores["latency_p95_ms"] = sorted(latencies)[int(len(latencies) * 0.95)]
    started = time.perf_counter()
    golden = [json.loads(line)["question"] for line in (ROOT / "eval" / "data" / "golden.jsonl").open(encoding="utf-8")]
    golden_fired = [q for q in golden if detect_intent(q) is not None]
    intent_ms = (time.perf_counter() - started) * 1000 / len(golden)

    table = Table(title=f"ERP lookups on {args.data.name} (real Tryton, {args.repeat}× each)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in ("live_questions", "how_to_questions", "intent_precision", "intent_recall", "how_to_triggered",
                 "answer_correct", "latency_p50_ms", "latency_p95_ms"):
        value = scores[name]
        table.add_row(name, f"{value:.3f}" if isinstance(value, float) else str(value))
    table.add_row("golden.jsonl questions that trigger a lookup", f"{len(golden_fired)} / {len(golden)}")
    table.add_row("intent detection per question (no ERP), ms", f"{intent_ms:.3f}")
    console.print(table)
    for case_id, question, text in misses:
        console.print(f"[yellow]miss[/] {case_id} {question} → {text}")
    for question in golden_fired:
        console.print(f"[yellow]golden question that looks something up:[/] {question[:70]}")


if __name__ == "__main__":
    main()
