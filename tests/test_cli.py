from typer.testing import CliRunner

from erp_assist.cli import app

runner = CliRunner()


def _env(settings):
    return {
        "ERP_ASSIST_DATA_DIR": str(settings.data_dir),
        "ERP_ASSIST_INDEX_DIR": str(settings.index_dir),
        "ERP_ASSIST_CLASSIFIER_PATH": str(settings.classifier_path),
        "HF_HUB_OFFLINE": "1",
    }


def test_index_then_ask_prints_sources(settings):
    env = _env(settings)
    built = runner.invoke(app, ["index"], env=env)
    assert built.exit_code == 0, built.output
    assert "chunks 合计" in built.output
    asked = runner.invoke(app, ["ask", "账号被锁了登录不上去"], env=env)
    assert asked.exit_code == 0, asked.output
    assert "kb://faq/t-sys-1" in asked.output
    as_json = runner.invoke(app, ["ask", "--json", "账号被锁了登录不上去"], env=env)
    assert '"uri": "kb://faq/t-sys-1"' in as_json.output


def test_ask_without_index_is_a_clear_error(settings):
    result = runner.invoke(app, ["ask", "凭证过账"], env=_env(settings))
    assert result.exit_code == 1
    assert "erp-assist index" in result.output


def test_classify_rejects_empty_with_exit_2(settings):
    result = runner.invoke(app, ["classify", "   "], env=_env(settings))
    assert result.exit_code == 2
    assert "empty" in result.output


def test_classify_prints_module(settings):
    result = runner.invoke(app, ["classify", "仓库发不了货，车在门口等"], env=_env(settings))
    assert result.exit_code == 0
    assert "紧急度 P1" in result.output
