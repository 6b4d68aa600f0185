import json

from eval.gate import BASELINE_FILE, gated_publish
from indexer.build import build_index
from indexer.index import current_build_dir


def test_nightly_gate_publishes_good_build_and_keeps_old_one_on_regression(settings, kb_copy, embedder, processor, tmp_path):
    golden = tmp_path / "golden.jsonl"
    rows = [
        {"question": "关账提示还有凭证没过账", "relevant": ["kb://faq/t-fin-1"], "module": "finance", "urgency": "P1"},
        {"question": "客户额度不够销售单审不了", "relevant": ["kb://faq/t-sal-1"], "module": "sales", "urgency": "P1"},
        {"question": "盘点盘亏了怎么处理", "relevant": ["kb://faq/t-inv-2"], "module": "inventory", "urgency": "P3"},
    ]
    golden.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    settings = settings.model_copy(update={"data_dir": kb_copy})

    first = build_index(settings, embedder=embedder, processor=processor, publish=False)
    result = gated_publish(settings, first.build_id, 0.02, dataset=golden)
    assert result.published and current_build_dir(settings.index_dir).name == first.build_id
    assert (settings.index_dir / BASELINE_FILE).is_file()

    # Tonight someone replaced the sales and inventory FAQ answers with text that no longer matches.
    faq = kb_copy / "faq.csv"
    lines = faq.read_text(encoding="utf-8").splitlines()
    kept = [line for line in lines if not line.startswith(("t-sal-1", "t-inv-2"))]
    kept += ["t-sal-1,销售相关,请联系销售内勤。,sales,,2024-12-01", "t-inv-2,仓库相关,请联系仓库。,inventory,,2024-12-01"]
    faq.write_text("\n".join(kept) + "\n", encoding="utf-8")
    second = build_index(settings, embedder=embedder, processor=processor, publish=False)
    result = gated_publish(settings, second.build_id, 0.02, dataset=golden)
    assert not result.published
    assert any("recall@5" in f or "mrr@10" in f for f in result.failures)
    assert current_build_dir(settings.index_dir).name == first.build_id


def test_each_tenant_is_gated_on_its_own_golden_set_or_published_ungated_without_one(settings, embedder, processor,
                                                                                     tmp_path):
    from eval.gate import gate_dataset
    from eval.runner import DEFAULT_DATASET
    from tests.conftest import DATA

    settings = settings.model_copy(update={"tenants_dir": tmp_path / "tenants",
                                           "validation_set": DEFAULT_DATASET})
    assert gate_dataset(settings) == DEFAULT_DATASET
    acme = settings.for_tenant("acme")
    assert gate_dataset(acme) is None  # the demo questions say nothing about acme's knowledge base
    assert acme.validation_set is None  # nor choose its dense weight
    (tmp_path / "tenants" / "acme").mkdir(parents=True)
    (tmp_path / "tenants" / "acme" / "validation.jsonl").write_text("", encoding="utf-8")
    assert settings.for_tenant("acme").validation_set == tmp_path / "tenants" / "acme" / "validation.jsonl"
    acme = acme.model_copy(update={"data_dir": DATA / "tenants" / "a"})
    first = build_index(acme, embedder=embedder, processor=processor, publish=False)
    result = gated_publish(acme, first.build_id, 0.02)
    assert result.published and result.dataset is None and not (acme.index_dir / BASELINE_FILE).exists()
    assert current_build_dir(acme.index_dir).name == first.build_id

    own = tmp_path / "tenants" / "acme" / "golden.jsonl"
    own.write_text(json.dumps({"question": "二号仓扫码枪扫不出批次号", "relevant": ["kb://faq/a-inv-1"]},
                              ensure_ascii=False) + "\n", encoding="utf-8")
    assert gate_dataset(acme) == own
    second = build_index(acme, embedder=embedder, processor=processor, publish=False)
    result = gated_publish(acme, second.build_id, 0.02)
    assert result.published and result.dataset == own
    assert result.report["datasets"]["golden"]["systems"]["hybrid"]["recall@5"] == 1.0
