"""The Milvus backend's build lifecycle: versioned collections, the alias swap, rollback, incremental upserts,
crash leftovers, a missing collection, and one collection set per tenant. Milvus Lite in a temporary file."""

import csv

import pytest

from indexer.build import build_index, rollback
from indexer.errors import IndexCorruptError
from indexer.index import current_build_dir, load_index
from indexer.milvus import MilvusStore
from indexer.retrieval import FusionConfig, Retriever


@pytest.fixture
def milvus(settings, kb_copy, tmp_path):
    return settings.model_copy(update={"vector_store": "milvus", "milvus_uri": str(tmp_path / "milvus.db"),
                                       "data_dir": kb_copy, "tenants_dir": tmp_path / "tenants"})


def _build(settings, embedder, processor):
    return build_index(settings, embedder=embedder, processor=processor)


def _faq_rows(kb):
    with (kb / "faq.csv").open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _write_faq(kb, rows):
    with (kb / "faq.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_publish_moves_the_alias_and_rollback_moves_it_back(milvus, embedder, processor):
    first = _build(milvus, embedder, processor)
    second = _build(milvus, embedder, processor)
    store = MilvusStore(milvus)
    assert store.aliased("default") == second.manifest["vector_store"]["collection"]
    assert current_build_dir(milvus.index_dir).name == second.build_id

    assert rollback(milvus) == first.build_id
    assert store.aliased("default") == first.manifest["vector_store"]["collection"]
    index = load_index(current_build_dir(milvus.index_dir), settings=milvus)
    assert Retriever(index, processor, embedder).lexical("30005", 1)[0].chunk.uri == "kb://chat/test-group/tg-2"


def test_incremental_build_upserts_changed_chunks_and_deletes_removed_ones(milvus, embedder, processor):
    milvus = milvus.model_copy(update={"keep_builds": 3})
    oldest = _build(milvus, embedder, processor)
    _build(milvus, embedder, processor)
    _build(milvus, embedder, processor)
    rows = _faq_rows(milvus.data_dir)
    changed, removed = rows[0], rows[1]
    changed[list(changed)[2]] = "新答案：先在总账里反过账，再用红字凭证冲销，最后重新月结。"
    _write_faq(milvus.data_dir, [r for r in rows if r is not removed])

    report = _build(milvus, embedder, processor)
    block = report.manifest["vector_store"]
    assert block["recycled_from"] == oldest.build_id
    assert (block["upserted"], block["deleted"]) == (1, 2)
    assert block["unchanged"] == report.manifest["counts"]["chunks"] - 1
    assert report.reused_embeddings == report.manifest["counts"]["chunks"] - 1
    assert not (milvus.index_dir / "builds" / oldest.build_id).exists()

    retriever = Retriever(load_index(report.path, settings=milvus), processor, embedder)
    assert "红字凭证冲销" in retriever.hybrid("反过账 红字凭证冲销", 1, FusionConfig())[0].chunk.text
    assert all(h.chunk.source_id != removed[list(removed)[0]] for h in retriever.lexical(removed[list(removed)[1]], 20))


def test_a_crashed_builds_collection_is_dropped_by_the_next_build(milvus, embedder, processor):
    store = MilvusStore(milvus)
    orphan = store.collection("default", "20990101T000000000000Z-deadbeef")
    store.create(orphan, embedder.dimension, k1=1.2, b=0.75, hnsw=False)
    report = _build(milvus, embedder, processor)
    assert store.tenant_collections("default") == [report.manifest["vector_store"]["collection"]]


def test_a_missing_collection_is_a_clear_error(milvus, embedder, processor):
    report = _build(milvus, embedder, processor)
    MilvusStore(milvus).drop(report.manifest["vector_store"]["collection"])
    with pytest.raises(IndexCorruptError, match="does not exist"):
        load_index(report.path, settings=milvus)
    with pytest.raises(IndexCorruptError, match="Milvus build"):
        load_index(report.path)


def test_each_tenant_has_its_own_collections_and_alias(milvus, embedder, processor, tmp_path):
    acme = milvus.for_tenant("acme")
    acme.data_dir.mkdir(parents=True)
    (acme.data_dir / "faq.csv").write_text(
        "id,question,answer,module\n"
        "acme-1,冷库温度报警后怎么暂停出库,在WMS里把冷库库位设为冻结，再通知质检复核。,inventory\n",
        encoding="utf-8",
    )
    ours = _build(milvus, embedder, processor)
    theirs = _build(acme, embedder, processor)
    store = MilvusStore(milvus)
    assert store.tenant_collections("acme") == [theirs.manifest["vector_store"]["collection"]]
    assert store.aliased("acme") != store.aliased("default") == ours.manifest["vector_store"]["collection"]
    index = load_index(theirs.path, settings=acme)
    hits = Retriever(index, processor, embedder).hybrid("月底结账的时候系统说还有凭证没过账", 5, FusionConfig())
    assert {h.chunk.uri for h in hits} <= {"kb://faq/acme-1"}


def test_a_milvus_lite_file_held_by_another_process_is_a_clear_error(milvus, embedder, processor):
    import subprocess
    import sys

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pymilvus import MilvusClient; "
         f"MilvusClient({milvus.milvus_uri!r}).list_collections(); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(IndexCorruptError, match="one process only"):
            _build(milvus, embedder, processor)
    finally:
        holder.kill()
        holder.wait()
