"""``ErpLookups`` over the real Tryton: answers with facts and time, unknown and unreachable said plainly,
whitelist, personal data refused, per-asker rate limit, and the audit trail in the store."""

from __future__ import annotations

import re

import pytest

from assistant.erp import ErpConfigError, ErpLookups, LookupKind
from assistant.store import open_store
from assistant.store.erp import list_lookups
from tests.assistant.erp.conftest import erp_yaml, write_erp_config
from tests.conftest import make_settings
from tests.live_server import free_port


@pytest.fixture
def lookups(tryton, tmp_path):
    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp", erp_lookups_per_minute=50)
    write_erp_config(settings.erp_config_dir, "default", erp_yaml(tryton.url))
    store = open_store(settings.database_url)
    made = ErpLookups(settings, store)
    yield made
    made.close()


def ask(lookups, question, asker="王会计", channel="api"):  # noqa: ANN001, ANN201
    return lookups.answer(question, tenant="default", asker=asker, channel=channel)


def test_stock_question_is_answered_with_facts_and_time(lookups):
    answer = ask(lookups, "A-1002 还有多少库存")
    assert answer.outcome == "found" and answer.kind is LookupKind.STOCK
    assert re.match(r"截至 \d\d:\d\d，A-1002 六角螺栓 M8×30 在 主仓 可用 37 个", answer.text)
    assert "二号仓 可用 120 个" in answer.text and "合计 157 个" in answer.text


def test_document_status_and_typos(lookups):
    assert "待审批" in ask(lookups, "PO-2024-0316 批了没有？").text
    answer = ask(lookups, "po2024-0315到哪一步了")  # lower case, hyphen missing
    assert answer.outcome == "found" and "PO-2024-0315" in answer.text and "等待收货" in answer.text
    assert "已取消" in ask(lookups, "PO-2024-0318 什么情况").text


def test_party_orders_by_the_name_people_use(lookups):
    answer = ask(lookups, "华东五金还有哪些单子没到货")
    assert answer.kind is LookupKind.PARTY_ORDERS and "PO-2024-0315" in answer.text
    assert "PO-2024-0318" not in answer.text


def test_how_to_never_looks_anything_up(lookups):
    for question in ("采购订单怎么审批", "PO-2024-0315 怎么审批", "A-1002 的库存怎么盘点", "如何查询库存"):
        assert ask(lookups, question) is None, question
    assert list_lookups(lookups.store, tenant="default") == []


def test_unknown_code_says_so_and_never_guesses(lookups):
    answer = ask(lookups, "A-1001 还有多少库存")
    assert answer.outcome == "not_found"
    assert "没有编号为 A-1001" in answer.text and "A-1002" not in answer.text


def test_unreachable_erp_says_so(tmp_path, tryton):
    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp")
    write_erp_config(settings.erp_config_dir, "default", erp_yaml(f"http://127.0.0.1:{free_port()}/"))
    lookups = ErpLookups(settings, open_store(settings.database_url))
    answer = ask(lookups, "A-1002 还有多少库存")
    assert answer.outcome == "unreachable" and "连不上 ERP" in answer.text and "37" not in answer.text


def test_every_lookup_is_audited_with_what_was_read(lookups):
    ask(lookups, "A-1002 还有多少库存", asker="王会计", channel="feishu")
    ask(lookups, "SO-2024-0101 发货了吗", asker="李工", channel="ui")
    trail = list_lookups(lookups.store, tenant="default")
    assert [(r.asker, r.channel, r.kind, r.target, r.outcome) for r in trail] == [
        ("李工", "ui", "document", "SO-2024-0101", "found"), ("王会计", "feishu", "stock", "A-1002", "found")]
    assert "quantity" in trail[1].reads["product.product"]
    assert trail[1].connector == "tryton" and trail[1].latency_ms > 0


def test_rate_limit_per_asker(tryton, tmp_path):
    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp", erp_lookups_per_minute=2)
    write_erp_config(settings.erp_config_dir, "default", erp_yaml(tryton.url))
    lookups = ErpLookups(settings, open_store(settings.database_url))
    outcomes = [ask(lookups, "A-1002 还有多少库存", asker="张三").outcome for _ in range(3)]
    assert outcomes == ["found", "found", "rate_limited"]
    assert ask(lookups, "A-1002 还有多少库存", asker="李四").outcome == "found"  # another asker is not held back
    assert [r.outcome for r in list_lookups(lookups.store, tenant="default")][0] == "found"


def test_whitelist_limits_what_is_looked_up(tryton, tmp_path):
    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp")
    only_stock = {"product.product": ["code", "name", "default_uom", "default_uom.symbol", "quantity",
                                      "forecast_quantity"],
                  "product.uom": ["symbol"], "stock.location": ["code", "name", "type"]}
    write_erp_config(settings.erp_config_dir, "default", erp_yaml(tryton.url, whitelist=only_stock))
    lookups = ErpLookups(settings, open_store(settings.database_url))
    assert ask(lookups, "A-1002 还有多少库存").outcome == "found"
    refused = ask(lookups, "PO-2024-0315 到哪一步了")
    assert refused.outcome == "not_allowed" and "PO-2024-0315" not in refused.text.split("（")[0]
    assert list_lookups(lookups.store, tenant="default")[0].reads == {}  # nothing was read


def test_personal_data_cannot_be_whitelisted(tryton, tmp_path):
    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp")
    write_erp_config(settings.erp_config_dir, "default",
                     erp_yaml(tryton.url, whitelist={"party.party": ["name", "contact_mechanisms", "addresses"]}))
    lookups = ErpLookups(settings, open_store(settings.database_url))
    with pytest.raises(ErpConfigError, match="personal data.*party.party.contact_mechanisms"):
        ask(lookups, "A-1002 还有多少库存")


def test_tenant_without_erp_config_has_no_lookups(tmp_path):
    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp")
    assert ErpLookups(settings, open_store(settings.database_url)).answer(
        "A-1002 还有多少库存", tenant="default", asker="x", channel="api") is None


def test_a_down_erp_is_not_asked_for_party_names_on_every_question(tmp_path):
    from assistant.erp.tryton import TrytonConnector

    class Counting(TrytonConnector):
        party_calls = 0

        def parties(self):  # noqa: ANN202
            Counting.party_calls += 1
            return super().parties()

    settings = make_settings(tmp_path, erp_config_dir=tmp_path / "erp", erp_party_retry_seconds=60)
    write_erp_config(settings.erp_config_dir, "default", erp_yaml(f"http://127.0.0.1:{free_port()}/"))
    lookups = ErpLookups(settings, open_store(settings.database_url),
                         connector_factory=lambda c: Counting(c.connection))
    assert ask(lookups, "A-1002 还有多少库存").outcome == "unreachable"
    assert Counting.party_calls == 0  # a code needs no party names
    for _ in range(3):
        assert ask(lookups, "华东五金还有哪些单子没到货") is None  # no names known: nothing to look up
    assert Counting.party_calls == 1
