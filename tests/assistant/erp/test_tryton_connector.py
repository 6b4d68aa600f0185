"""The Tryton connector against a real trytond serving the scripted company (tests/tryton_company.py)."""

from __future__ import annotations

import sys
import textwrap

import pytest

from assistant.erp import (
    ConnectorConfig,
    DeliveryState,
    DocumentKind,
    DocumentState,
    ErpConfigError,
    ErpConnector,
    ErpUnreachableError,
    LookupNotAllowedError,
    available_connectors,
    make_connector,
)
from assistant.erp.config import personal_reads
from assistant.erp.tryton import TrytonConnector
from tests.live_server import free_port
from tests.tryton_erp import DATABASE, READER_LOGIN, READER_PASSWORD


@pytest.fixture(scope="module")
def connector(tryton):
    made = make_connector("tryton", ConnectorConfig(url=tryton.url, database=DATABASE, login=READER_LOGIN,
                                                    password=READER_PASSWORD))
    yield made
    made.close()


def test_stock_per_warehouse(connector):
    stock = connector.item_stock("A-1002")
    assert stock.name == "六角螺栓 M8×30"
    assert {level.warehouse: level.on_hand for level in stock.levels} == {"主仓": 37, "二号仓": 120}
    assert stock.on_hand == 157
    assert stock.as_of.tzinfo is not None


def test_unknown_code_is_none_not_a_neighbour(connector):
    assert connector.item_stock("A-1001") is None
    assert connector.item_info("A-100") is None
    assert connector.document("PO-2024-9999") is None
    assert connector.party_orders("S999") is None


def test_documents_by_number(connector):
    po = connector.document("PO-2024-0315")
    assert (po.kind, po.state, po.erp_state, po.delivery) == (DocumentKind.PURCHASE, DocumentState.IN_PROGRESS,
                                                              "processing", DeliveryState.WAITING)
    assert po.party == "华东五金有限公司"
    assert [(line.code, line.quantity) for line in po.lines] == [("A-1002", 500), ("A-1003", 1000)]
    assert connector.document("PO-2024-0316").state is DocumentState.AWAITING_APPROVAL
    assert connector.document("PO-2024-0318").state is DocumentState.CANCELLED
    so = connector.document("SO-2024-0102")
    assert (so.kind, so.state, so.party) == (DocumentKind.SALE, DocumentState.AWAITING_APPROVAL, "上海远航贸易有限公司")
    shipment = connector.document("OUT-2024-0001")
    assert (shipment.kind, shipment.origin, shipment.state) == (DocumentKind.SHIPMENT_OUT, "SO-2024-0101",
                                                                DocumentState.CONFIRMED)


def test_party_orders_lists_only_open_ones(connector):
    orders = connector.party_orders("S001")
    assert orders.party.name == "华东五金有限公司"
    assert [d.number for d in orders.purchases] == ["PO-2024-0315"]  # 0318 is cancelled
    assert {p.code for p in connector.parties()} >= {"S001", "S002", "S003", "C001", "C002"}


def test_the_service_account_cannot_write(connector):
    party = connector.parties()[0]
    with pytest.raises(LookupNotAllowedError):
        connector._call("model.party.party.write", [1], {"name": party.name + " changed"}, {})
    with pytest.raises(LookupNotAllowedError):  # nor read what its group was not given
        connector._search_read("stock.inventory", [], ["location"])


def test_unreachable_erp_raises(tryton):
    down = TrytonConnector(ConnectorConfig(url=f"http://127.0.0.1:{free_port()}/", database=DATABASE,
                                           login=READER_LOGIN, password=READER_PASSWORD, timeout_seconds=2))
    with pytest.raises(ErpUnreachableError):
        down.item_stock("A-1002")
    wrong = TrytonConnector(ConnectorConfig(url=tryton.url, database=DATABASE, login=READER_LOGIN,
                                            password="not-the-password"))
    with pytest.raises(ErpUnreachableError, match="refused the login"):
        wrong.item_stock("A-1002")


def test_declared_reads_hold_no_personal_data():
    declared = {m: f for reads in TrytonConnector.READS.values() for m, f in reads.items()}
    assert personal_reads(declared) == []
    assert all(personal_reads(reads) == [] for reads in TrytonConnector.READS.values())
    assert personal_reads({"party.party": ("name", "addresses.street")}) == ["party.party.addresses.street"]


def test_a_connector_declaring_personal_reads_in_any_method_is_refused():
    """The check reads every method's declared fields: a personal field in one method is not hidden by another
    method reading the same model."""
    from assistant.erp.config import TenantErpConfig
    from assistant.erp.errors import ErpConfigError
    from assistant.erp.service import TenantErp

    class Leaky(TrytonConnector):
        READS = {**TrytonConnector.READS,
                 "parties": {"party.party": ("name", "addresses.street")},
                 "z_names": {"party.party": ("name",)}}

    config = TenantErpConfig(connector="tryton", connection=ConnectorConfig(
        url="http://127.0.0.1:9", database=DATABASE, login=READER_LOGIN, password="x"))
    with pytest.raises(ErpConfigError, match=r"personal data.*party\.party\.addresses\.street"):
        TenantErp("default", config, Leaky(config.connection), party_ttl_seconds=60)


def test_connectors_are_entry_point_plugins(tmp_path, monkeypatch):
    # A plugin installed the way pip installs one: a dist-info with an entry_points.txt, on sys.path.
    package = tmp_path / "acme_erp_plugin.py"
    package.write_text(textwrap.dedent("""
        from assistant.erp.tryton import TrytonConnector

        class AcmeConnector(TrytonConnector):
            name = "acme"
    """))
    dist = tmp_path / "acme_erp_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-erp-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[erp_assist.connectors]\nacme = acme_erp_plugin:AcmeConnector\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert {"acme", "tryton"} <= set(available_connectors())
    made = make_connector("acme", ConnectorConfig(url="http://127.0.0.1:1/", login="x", password="y"))
    assert isinstance(made, ErpConnector) and made.name == "acme"
    with pytest.raises(ErpConfigError, match="unknown ERP connector 'sap'.*acme.*tryton"):
        make_connector("sap", ConnectorConfig(url="http://127.0.0.1:1/", login="x", password="y"))
    sys.modules.pop("acme_erp_plugin", None)
