"""`erp-assist serve --workers 2`: two real API processes sharing one store (SQLite file or PostgreSQL) and one
index. Questions asked at once are each stored once, experts deciding at once through different workers record
one decision per question, and both workers switch to a newly published build."""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import func, select

from assistant.store import create_key, open_store, questions, reviews
from indexer.build import build_index
from tests.live_server import serve_cli

NEW_FAQ = ("t-fa-1,固定资产卡片如何批量导入？,在【固定资产】→【卡片管理】下载导入模板，填好后点击【批量导入】。,"
           "finance,固定资产,2024-12-02\n")


@pytest.fixture
def workers(settings, kb_copy, embedder, processor, store_url):
    """Two workers serving a freshly built copy of the tiny KB; yields (base URL, settings, keys)."""
    settings = settings.model_copy(update={"data_dir": kb_copy, "database_url": store_url,
                                           "rate_limit_per_minute": 100_000})
    build_index(settings, embedder=embedder, processor=processor)
    store = open_store(store_url)
    keys = {role: create_key(store, name=f"{role}-{n}", role=role)[1]
            for n, role in enumerate(("asker", "expert"))}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **{
        f"ERP_ASSIST_{name.upper()}": str(getattr(settings, name))
        for name in ("data_dir", "index_dir", "classifier_path", "database_url", "cache_dir", "rate_limit_per_minute")
    }}
    with serve_cli(env, workers=2) as (base, _):
        yield base, settings, keys


def _post(base: str, key: str, path: str, body: dict) -> httpx.Response:
    # A new connection per request, so the kernel spreads them over both workers.
    return httpx.post(f"{base}{path}", json=body, headers={"X-API-Key": key}, timeout=60)


def test_two_workers_share_the_store_and_switch_builds_together(workers, embedder, processor):
    base, settings, keys = workers
    asked = [f"月结时提示凭证未过账怎么办（第{n}次）" for n in range(40)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda q: _post(base, keys["asker"], "/v1/suggest", {"question": q}), asked))
    assert [a.status_code for a in answers] == [200] * 40
    ids = [a.json()["question_id"] for a in answers]
    store = open_store(settings.database_url)
    with store.connect() as conn:
        stored = Counter(conn.execute(select(questions.c.text)).scalars())
    assert len(set(ids)) == 40 and all(stored[q] == 1 for q in asked)
    # Any worker's /metrics adds up the counters of both.
    scrape = httpx.get(f"{base}/metrics", timeout=10).text
    served = sum(float(line.rsplit(" ", 1)[1]) for line in scrape.splitlines()
                 if line.startswith("erp_assist_requests_total{") and 'route="/v1/suggest"' in line)
    assert served == 40

    # Twenty experts' decisions on five questions at once, spread over both workers: one wins per question.
    decisions = [(q, n) for q in ids[:5] for n in range(20)]
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda d: _post(base, keys["expert"], f"/v1/questions/{d[0]}/review",
                                                {"decision": "reject", "note": f"专家{d[1]}"}), decisions))
    statuses = Counter(r.status_code for r in results)
    # A worker at capacity may refuse some at once (503 + Retry-After); none is a second decision.
    assert statuses[200] == 5 and set(statuses) <= {200, 409, 503}, statuses
    assert all(r.headers.get("retry-after") for r in results if r.status_code == 503)
    with store.connect() as conn:
        trail = Counter(conn.execute(select(reviews.c.question_id)).scalars())
        assert conn.execute(select(func.count()).select_from(questions)).scalar() == 40
    assert trail == Counter(ids[:5])

    faq = settings.data_dir / "faq.csv"
    faq.write_text(faq.read_text(encoding="utf-8") + NEW_FAQ, encoding="utf-8")
    new = build_index(settings, embedder=embedder, processor=processor)
    with ThreadPoolExecutor(4) as pool:
        after = list(pool.map(lambda _: _post(base, keys["asker"], "/v1/suggest",
                                              {"question": "固定资产卡片怎么批量导入"}).json(), range(20)))
    assert {a["build_id"] for a in after} == {new.build_id}
    assert {a["suggestions"][0]["source"]["uri"] for a in after} == {"kb://faq/t-fa-1"}
