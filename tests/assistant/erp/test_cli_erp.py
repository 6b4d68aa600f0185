"""``erp-assist alerts run`` and ``erp-assist erp ask`` against the real Tryton."""

from __future__ import annotations

from typer.testing import CliRunner

from erp_assist.cli import app
from tests.assistant.erp.conftest import CHECKS, erp_yaml, write_erp_config
from tests.assistant.erp.test_alerts import webhook

runner = CliRunner()


def _env(tmp_path) -> dict[str, str]:
    return {"ERP_ASSIST_ERP_CONFIG_DIR": str(tmp_path / "erp"),
            "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}", "HF_HUB_OFFLINE": "1"}


def test_alerts_run_posts_once_then_nothing(fresh_tryton, tmp_path):
    with webhook() as (hook, received):
        write_erp_config(tmp_path / "erp", "default",
                         erp_yaml(fresh_tryton.url, alerts={"target": {"webhook": hook}, "checks": CHECKS}))
        first = runner.invoke(app, ["alerts", "run"], env=_env(tmp_path))
        assert first.exit_code == 0, first.output
        assert len(received) == 4 and "default" in first.output
        second = runner.invoke(app, ["alerts", "run", "--tenant", "default"], env=_env(tmp_path))
        assert second.exit_code == 0 and len(received) == 4


def test_alerts_run_without_any_configuration_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["alerts", "run"], env=_env(tmp_path))
    assert result.exit_code == 2 and "no tenant has an ERP configuration" in result.output


def test_erp_ask(tryton, tmp_path):
    write_erp_config(tmp_path / "erp", "default", erp_yaml(tryton.url))
    found = runner.invoke(app, ["erp", "ask", "D-3005 库存多少"], env=_env(tmp_path))
    assert found.exit_code == 0, found.output
    assert "主仓 可用 64 个" in found.output
    how_to = runner.invoke(app, ["erp", "ask", "库存怎么盘点"], env=_env(tmp_path))
    assert how_to.exit_code == 0 and "nothing looked up" in how_to.output
    assert "tryton" in runner.invoke(app, ["erp", "connectors"], env=_env(tmp_path)).output
