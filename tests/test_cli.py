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


def test_keys_and_review_commands(settings, tmp_path):
    from assistant.service import Assistant
    from assistant.store import open_store, record_question

    env = {**_env(settings), "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    created = runner.invoke(app, ["keys", "create", "--role", "expert", "--name", "李工"], env=env)
    assert created.exit_code == 0 and "ea_" in created.output
    assert runner.invoke(app, ["keys", "create", "--role", "boss"], env=env).exit_code == 2

    assert runner.invoke(app, ["index"], env=env).exit_code == 0
    run_settings = settings.model_copy(update={"database_url": env["ERP_ASSIST_DATABASE_URL"]})
    result = Assistant(run_settings).load().suggest("账号被锁了登录不上去")
    qid = record_question(open_store(run_settings.database_url), tenant="default", result=result)
    listed = runner.invoke(app, ["review", "list"], env=env)
    assert listed.exit_code == 0 and "账号被锁" in listed.output
    accepted = runner.invoke(app, ["review", "accept", str(qid), "--rank", "1", "--reviewer", "李工"], env=env)
    assert accepted.exit_code == 0, accepted.output
    again = runner.invoke(app, ["review", "reject", str(qid)], env=env)
    assert again.exit_code == 1 and "reopen" in again.output


def test_retag_then_export_labels_for_training(settings, tmp_path):
    from assistant.store import open_store, record_question
    from erp_assist.domain import Classification, SuggestResult, Urgency
    from models.classifier import load_labelled
    from models.taxonomy import load_taxonomy

    env = {**_env(settings), "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "ERP_ASSIST_CLASSIFIER_DATA_DIR": str(tmp_path / "train")}
    store = open_store(env["ERP_ASSIST_DATABASE_URL"])
    tags = Classification("unknown", Urgency.P3, 0.2, 0.6)
    qid = record_question(store, tenant="default",
                          result=SuggestResult("仓库三号门的扫码枪今天都连不上ERP", tags, [], True))
    empty = runner.invoke(app, ["labels", "export"], env=env)
    assert empty.exit_code == 1 and "no questions with expert-set tags" in empty.output

    urgency_only = runner.invoke(app, ["review", "retag", str(qid), "--urgency", "P1", "--reviewer", "李工"],
                                 env=env)
    assert urgency_only.exit_code == 0 and "unknown/P3 → unknown/P1" in urgency_only.output
    # the module is still unknown: nothing to learn
    skipped = runner.invoke(app, ["labels", "export"], env=env)
    assert skipped.exit_code == 1
    assert runner.invoke(app, ["review", "retag", str(qid), "--module", "quality"], env=env).exit_code == 2
    assert runner.invoke(app, ["review", "retag", str(qid + 1), "--module", "system"], env=env).exit_code == 1
    assert runner.invoke(app, ["review", "retag", str(qid), "--module", "system"], env=env).exit_code == 0

    exported = runner.invoke(app, ["labels", "export"], env=env)
    assert exported.exit_code == 0, exported.output
    [item] = load_labelled(tmp_path / "train", load_taxonomy(settings.taxonomy_path))
    assert (item.text, item.module, item.urgency, item.source) == (
        "仓库三号门的扫码枪今天都连不上ERP", "system", "P1", "reviewed_default.jsonl:1")


def test_chatter_marked_by_experts_becomes_gate_training_data(settings, tmp_path):
    from dataclasses import replace

    from assistant.store import get_question, list_queue, open_store, record_question
    from erp_assist.domain import Classification, SuggestResult, Urgency
    from models.classifier import load_labelled
    from models.gate import load_chatter
    from models.taxonomy import load_taxonomy

    env = {**_env(settings), "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "ERP_ASSIST_CLASSIFIER_DATA_DIR": str(tmp_path / "train"),
           "ERP_ASSIST_OFFTOPIC_DATA_DIR": str(tmp_path / "offtopic")}
    store = open_store(env["ERP_ASSIST_DATABASE_URL"])
    tags = Classification("inventory", Urgency.P3, 0.6, 0.6)
    let_through = record_question(store, tenant="default", result=SuggestResult("周五下午大家去团建吗", tags, [], True))
    turned_away = record_question(store, tenant="default", result=replace(
        SuggestResult("扫码枪入库一直提示条码不存在", tags, [], False), off_topic=True))
    assert [q.id for q in list_queue(store, tenant="default")] == [let_through]

    marked = runner.invoke(app, ["review", "retag", str(let_through), "--off-topic", "--reviewer", "李工"], env=env)
    assert marked.exit_code == 0 and "off-topic" in marked.output
    back = runner.invoke(app, ["review", "retag", str(turned_away), "--on-topic", "--reviewer", "李工"], env=env)
    assert back.exit_code == 0 and "an ERP question" in back.output
    assert [q.id for q in list_queue(store, tenant="default")] == [turned_away]
    assert not get_question(store, tenant="default", question_id=turned_away).off_topic

    exported = runner.invoke(app, ["labels", "export"], env=env)
    assert exported.exit_code == 0, exported.output
    assert load_chatter(tmp_path / "offtopic") == ["周五下午大家去团建吗"]
    [item] = load_labelled(tmp_path / "train", load_taxonomy(settings.taxonomy_path))
    assert item.text == "扫码枪入库一直提示条码不存在"


def test_report_daily_prints_the_digest(settings, tmp_path):
    env = {**_env(settings), "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp_path / 'report.db'}"}
    result = runner.invoke(app, ["report", "daily", "--date", "2025-03-03"], env=env)
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["report", "daily", "--date", "03/03"], env=env).exit_code == 2


def test_train_classifier_trains_the_configured_approach_without_comparing(tmp_path):
    model = tmp_path / "models" / "classifier.joblib"
    env = {"ERP_ASSIST_CLASSIFIER_PATH": str(model), "ERP_ASSIST_CLASSIFIER_REPORT_DIR": str(tmp_path / "report"),
           "ERP_ASSIST_OFF_TOPIC_GATE": "false", "HF_HUB_OFFLINE": "1"}
    result = runner.invoke(app, ["train-classifier"], env=env)
    assert result.exit_code == 0, result.output
    assert "trained char+words-svm on" in result.output and "--compare" in result.output
    assert model.is_file() and not (tmp_path / "report").exists()  # no cross-validation, no report
    classified = runner.invoke(app, ["classify", "仓库发不了货，急"], env=env)
    assert classified.exit_code == 0 and "inventory" in classified.output


def test_train_classifier_refuses_two_approaches_without_compare(tmp_path):
    env = {"ERP_ASSIST_CLASSIFIER_PATH": str(tmp_path / "c.joblib"), "HF_HUB_OFFLINE": "1"}
    result = runner.invoke(app, ["train-classifier", "--approach", "char-svm", "--approach", "char+words-svm"], env=env)
    assert result.exit_code == 2 and "--compare" in result.output


def test_channels_listen_needs_a_long_connection_mode(settings):
    result = runner.invoke(app, ["channels", "listen"], env=_env(settings))
    assert result.exit_code == 2
    assert "ERP_ASSIST_FEISHU_MODE=websocket" in result.output.replace("\n", "")
    unconfigured = runner.invoke(app, ["channels", "listen"],
                                 env=_env(settings) | {"ERP_ASSIST_DINGTALK_MODE": "stream"})
    assert unconfigured.exit_code == 1 and "dingtalk_app_key" in unconfigured.output.replace("\n", "")


def test_channels_listen_warns_once_that_links_will_not_be_clickable_without_a_public_url(settings, caplog):
    import logging

    env = _env(settings) | {"ERP_ASSIST_DINGTALK_MODE": "stream", "ERP_ASSIST_DINGTALK_APP_SECRET": "ding-secret"}
    for public_url, expected in ((None, 1), ("https://erp-assist.example.com", 0)):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            extra = {"ERP_ASSIST_CHANNEL_PUBLIC_URL": public_url} if public_url else {}
            result = runner.invoke(app, ["channels", "listen"], env=env | extra)
        assert result.exit_code == 1  # no DingTalk app key: it stops before opening the websocket
        warned = [r.getMessage() for r in caplog.records if "links in chat will not be clickable" in r.getMessage()]
        assert len(warned) == expected, warned
