"""ERP alerts in /metrics, and the optional alert loop inside ``serve``.

The alerts are counted from the store, not from process memory: ``erp-assist alerts run`` (cron) posts them
in another process, and every API worker must report the same totals."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from assistant.store.erp import alert_post_counts
from erp_assist.settings import Settings

__all__ = ["ErpCollector", "AlertLoop", "start_alert_loop", "configured_tenants"]

log = logging.getLogger(__name__)


class ErpCollector(Collector):
    """``erp_assist_erp_alerts_posted{tenant, urgency}``: ERP alerts delivered to the groups, all time."""

    def __init__(self, engine: Callable[[], Engine | None]) -> None:
        self._engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("erp_assist_erp_alerts_posted", "ERP alerts delivered to the groups (all time)",
                                   labels=["tenant", "urgency"])
        engine = self._engine()
        if engine is not None:
            for (tenant, urgency), count in sorted(alert_post_counts(engine).items()):
                family.add_metric([tenant, urgency], count)
        yield family


def configured_tenants(settings: Settings) -> list[str]:
    """Tenants with an erp.yaml."""
    directory = settings.erp_config_dir
    return sorted(p.stem for p in directory.glob("*.yaml")) if directory.is_dir() else []


class AlertLoop:
    """Runs every configured tenant's alerts every ``minutes`` in a daemon thread until ``stop()``."""

    def __init__(self, lookups, store: Engine, minutes: float) -> None:  # noqa: ANN001 - ErpLookups
        self.lookups = lookups
        self.store = store
        self.interval = minutes * 60
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="erp-alerts", daemon=True)

    def start(self) -> AlertLoop:
        self._thread.start()
        return self

    def _run(self) -> None:
        from assistant.erp.alerts import run_alerts

        while not self._stop.wait(self.interval):
            for tenant in configured_tenants(self.lookups.settings):
                try:
                    run = run_alerts(self.lookups, self.store, tenant)
                    log.info("ERP alerts for %s: %d posted, %d unchanged, %d resolved", tenant, len(run.posted),
                             len(run.unchanged), len(run.resolved))
                except Exception:  # noqa: BLE001 - one tenant's failure must not stop the others or the loop
                    log.exception("ERP alerts for %s failed", tenant)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def start_alert_loop(lookups, store: Engine, settings: Settings) -> AlertLoop | None:  # noqa: ANN001
    """The loop when ``erp_alerts_in_serve_minutes`` is set (else None: cron runs the alerts)."""
    if not settings.erp_alerts_in_serve_minutes:
        return None
    return AlertLoop(lookups, store, settings.erp_alerts_in_serve_minutes).start()
