"""`erp-assist tenants create|list` and the `--tenant` option, through the real CLI, store and indexer."""

from typer.testing import CliRunner

from assistant.store import create_key, open_store, record_question
from erp_assist.cli import app
from erp_assist.domain import Classification, SuggestResult, Urgency
from tests.conftest import DATA

runner = CliRunner()


def _env(settings, tmp_path):
    return {
        "ERP_ASSIST_DATA_DIR": str(settings.data_dir),
        "ERP_ASSIST_INDEX_DIR": str(settings.index_dir),
        "ERP_ASSIST_CLASSIFIER_PATH": str(settings.classifier_path),
        "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "ERP_ASSIST_TENANTS_DIR": str(tmp_path / "tenants"),
        "HF_HUB_OFFLINE": "1",
        "COLUMNS": "200",
    }


def test_tenants_create_list_and_the_tenant_option(settings, tmp_path):
    env = _env(settings, tmp_path)
    created = runner.invoke(app, ["tenants", "create", "acme", "--name", "蓝海机械",
                                        "--from-dir", str(DATA / "tenants" / "a")], env=env)
    assert created.exit_code == 0, created.output
    assert "erp-assist index --tenant acme" in created.output
    copied = tmp_path / "tenants" / "acme" / "data" / "faq.csv"
    assert copied.read_bytes() == (DATA / "tenants" / "a" / "faq.csv").read_bytes()

    empty = runner.invoke(app, ["tenants", "create", "beta"], env=env)
    assert empty.exit_code == 0, empty.output
    skeleton = tmp_path / "tenants" / "beta" / "data"
    assert (skeleton / "faq.csv").read_text(encoding="utf-8") == "id,question,answer,module,tags,updated_at\n"
    assert (skeleton / "sops").is_dir() and (skeleton / "chats").is_dir()

    again = runner.invoke(app, ["tenants", "create", "acme"], env=env)
    assert again.exit_code == 1 and "already exists" in again.output
    assert runner.invoke(app, ["tenants", "create", "Acme-Co"], env=env).exit_code == 2
    assert runner.invoke(app, ["tenants", "create", "gamma", "--from-dir", str(tmp_path / "nope")],
                         env=env).exit_code == 2

    key = runner.invoke(app, ["keys", "create", "--tenant", "acme", "--role", "expert", "--name", "王海"], env=env)
    assert key.exit_code == 0 and "tenant acme" in key.output
    unknown = runner.invoke(app, ["keys", "create", "--tenant", "nope", "--role", "asker"], env=env)
    assert unknown.exit_code == 1 and "erp-assist tenants create nope" in unknown.output

    built = runner.invoke(app, ["index", "--tenant", "acme"], env=env)
    assert built.exit_code == 0, built.output
    assert (tmp_path / "tenants" / "acme" / "index" / "current").is_file()
    asked = runner.invoke(app, ["ask", "--tenant", "acme", "二号仓扫码枪扫不出批次号"], env=env)
    assert asked.exit_code == 0, asked.output
    assert "kb://faq/a-inv-1" in asked.output
    assert runner.invoke(app, ["ask", "--tenant", "nope", "凭证过账"], env=env).exit_code == 1

    store = open_store(env["ERP_ASSIST_DATABASE_URL"])
    result = SuggestResult("蓝海二号仓扫码枪坏了", Classification("inventory", Urgency.P2, 0.9, 0.9), [], True)
    qid = record_question(store, tenant="acme", result=result)
    create_key(store, name="default asker", role="asker")
    store.dispose()
    assert "扫码枪坏了" in runner.invoke(app, ["review", "list", "--tenant", "acme"], env=env).output
    assert "扫码枪坏了" not in runner.invoke(app, ["review", "list"], env=env).output
    wrong = runner.invoke(app, ["review", "reject", str(qid)], env=env)  # the default tenant's queue
    assert wrong.exit_code == 1 and f"no question {qid}" in wrong.output
    assert runner.invoke(app, ["review", "reject", str(qid), "--tenant", "acme"], env=env).exit_code == 0
    report = runner.invoke(app, ["report", "daily", "--tenant", "acme", "--date", "2025-03-03"], env=env)
    assert report.exit_code == 0, report.output

    listed = runner.invoke(app, ["tenants", "list"], env=env)
    assert listed.exit_code == 0, listed.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in listed.output.splitlines() if line.count("│") > 5}
    assert rows["acme"][:4] == ["蓝海机械", "1", "1", "0"]  # name, keys, questions, open
    assert rows["acme"][4] == (tmp_path / "tenants" / "acme" / "index" / "current").read_text(encoding="utf-8").strip()
    assert rows["acme"][5] == "4"  # chunks: the four FAQ entries
    assert rows["beta"][:4] == ["beta", "0", "0", "0"] and "erp-assist index --tenant beta" in rows["beta"][4]
    assert rows["default"][1] == "1"



def test_index_list_and_rollback_of_a_tenant_on_milvus(settings, tmp_path):
    env = {**_env(settings, tmp_path), "ERP_ASSIST_VECTOR_STORE": "milvus",
           "ERP_ASSIST_MILVUS_URI": str(tmp_path / "milvus.db")}
    assert runner.invoke(app, ["tenants", "create", "acme", "--from-dir", str(DATA / "tenants" / "a")],
                         env=env).exit_code == 0
    for _ in range(2):
        built = runner.invoke(app, ["index", "--tenant", "acme"], env=env)
        assert built.exit_code == 0, built.output
    builds = sorted((tmp_path / "tenants" / "acme" / "index" / "builds").iterdir())
    listed = runner.invoke(app, ["index", "list", "--tenant", "acme"], env=env)
    assert listed.exit_code == 0, listed.output
    assert "erp_assist__acme__b" in listed.output and builds[0].name in listed.output

    rolled = runner.invoke(app, ["index", "rollback", "--tenant", "acme"], env=env)
    assert rolled.exit_code == 0, rolled.output
    assert f"now published: {builds[0].name}" in rolled.output
    assert runner.invoke(app, ["ask", "--tenant", "acme", "二号仓扫码枪扫不出批次号"], env=env).exit_code == 0


def test_nightly_gate_of_a_tenant_without_a_golden_set_says_it_published_ungated(settings, tmp_path):
    env = _env(settings, tmp_path)
    assert runner.invoke(app, ["tenants", "create", "acme", "--from-dir", str(DATA / "tenants" / "a")],
                         env=env).exit_code == 0
    gated = runner.invoke(app, ["index", "--tenant", "acme", "--gate"], env=env)
    assert gated.exit_code == 0, gated.output
    assert "without the quality gate" in gated.output and "golden.jsonl" in gated.output
    assert (tmp_path / "tenants" / "acme" / "index" / "current").is_file()
