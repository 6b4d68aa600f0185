"""`erp-assist kb check` over a real Chinese KB and store; and `index` prints the build's hygiene summary."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from erp_assist.cli import app
from tests.conftest import DATA

runner = CliRunner()


def _env(settings, data_dir):
    return {"ERP_ASSIST_DATA_DIR": str(data_dir), "ERP_ASSIST_INDEX_DIR": str(settings.index_dir),
            "ERP_ASSIST_CLASSIFIER_PATH": str(settings.classifier_path), "ERP_ASSIST_DATABASE_URL":
            settings.database_url, "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}


def test_kb_check_prints_duplicates_contradictions_and_stale_sources(settings, tmp_path):
    data = tmp_path / "kb"
    shutil.copytree(DATA / "hygiene_kb", data)
    env = _env(settings, data)
    result = runner.invoke(app, ["kb", "check"], env=env)
    assert result.exit_code == 0, result.output
    assert "重复 (1 组)" in result.output and "矛盾 (3 对)" in result.output and "过期 (2 条)" in result.output
    assert "kb://faq/h-fin-1b" in result.output and "能/不能" in result.output
    assert "12 sources checked: 1 duplicate groups (1 entries to merge), 3 contradictions, 2 stale" in result.output
    as_json = runner.invoke(app, ["kb", "check", "--json"], env=env)
    assert json.loads(as_json.output)["counts"]["contradictions"] == 3

    (data / "hygiene.yaml").write_text("max_age_days: 很久\n", encoding="utf-8")
    broken = runner.invoke(app, ["kb", "check"], env=env)
    assert broken.exit_code == 1 and "max_age_days and unused_days must be whole numbers" in broken.output


def test_index_reports_the_knowledge_base_check(settings, tmp_path):
    data = tmp_path / "kb"
    shutil.copytree(DATA / "hygiene_kb", data)
    built = runner.invoke(app, ["index"], env=_env(settings, data))
    assert built.exit_code == 0, built.output
    assert "知识库体检: 重复 1 组 · 矛盾 3 对 · 过期 2 条" in built.output
