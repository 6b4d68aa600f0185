"""A worker at capacity answers 503 with Retry-After at once, instead of queueing every request behind the
others; what it admits is answered as usual, and health checks are never refused."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx

from assistant.app import create_app
from assistant.store import create_key, open_store
from tests.live_server import serve_in_thread


def test_requests_past_the_in_flight_limit_are_refused_with_retry_after(session_settings, assistant, tmp_path):
    settings = session_settings.model_copy(update={"max_in_flight": 1, "rate_limit_per_minute": 10_000,
                                                   "database_url": f"sqlite:///{tmp_path / 'shed.db'}"})
    _, key = create_key(open_store(settings.database_url), name="张敏", role="asker")
    with serve_in_thread(create_app(settings, assistant=assistant)) as base:
        def ask(n: int) -> httpx.Response:
            return httpx.post(f"{base}/v1/suggest", json={"question": f"出库单保存提示库存不足（{n}）"},
                              headers={"X-API-Key": key}, timeout=30)

        with ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(ask, range(36)))
        statuses = Counter(a.status_code for a in answers)
        assert set(statuses) == {200, 503} and statuses[200] >= 1, statuses
        assert all(a.headers["retry-after"] == "1" for a in answers if a.status_code == 503)
        assert httpx.get(f"{base}/healthz").status_code == 200
        shed = [line for line in httpx.get(f"{base}/metrics").text.splitlines()
                if line.startswith("erp_assist_shed_total ")]
        assert shed and float(shed[0].split()[1]) == statuses[503]
