import json

import pytest

from indexer.build import build_index, publish_build
from indexer.errors import IndexCorruptError, IndexNotFoundError
from indexer.index import current_build_dir, load_index


def test_build_writes_manifest_and_publishes(built_index, session_settings):
    manifest = built_index.manifest
    assert manifest["counts"]["chunks"] == len(load_index(built_index.path).chunks)
    assert manifest["counts"]["by_source"]["faq"] == 12
    assert manifest["counts"]["chat_threads_resolved"] == 2
    assert manifest["counts"]["chat_threads_unresolved"] == 1
    assert manifest["embedder"]["dimension"] == 384
    assert manifest["embedder"]["unknown_token_rate"] > 0.2  # MiniLM cannot read Chinese, and says so
    assert current_build_dir(session_settings.index_dir) == built_index.path


def test_no_index_is_a_clear_error(tmp_path):
    with pytest.raises(IndexNotFoundError, match="erp-assist index"):
        current_build_dir(tmp_path)


def test_rebuild_reuses_embeddings_of_unchanged_chunks(settings, kb_copy, embedder, processor):
    settings = settings.model_copy(update={"data_dir": kb_copy})
    first = build_index(settings, embedder=embedder, processor=processor)
    assert first.reused_embeddings == 0
    faq = kb_copy / "faq.csv"
    faq.write_text(faq.read_text(encoding="utf-8") + "t-new,新问题：如何导出科目余额表？,在【总账】→【账簿】→【科目余额表】中点击导出。,finance,报表,2024-12-02\n",
                   encoding="utf-8")
    second = build_index(settings, embedder=embedder, processor=processor)
    assert second.manifest["counts"]["chunks"] == first.manifest["counts"]["chunks"] + 1
    assert second.reused_embeddings == first.manifest["counts"]["chunks"]
    assert current_build_dir(settings.index_dir).name == second.build_id


def test_corrupt_build_is_refused_and_never_published(settings, embedder, processor):
    report = build_index(settings, embedder=embedder, processor=processor)
    chunks = report.path / "chunks.jsonl"
    lines = chunks.read_text(encoding="utf-8").splitlines()
    chunks.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="manifest says"):
        load_index(report.path)
    manifest = json.loads((report.path / "manifest.json").read_text(encoding="utf-8"))
    with pytest.raises(IndexCorruptError, match="dimension 384"):
        chunks.write_text("\n".join(lines) + "\n", encoding="utf-8")
        load_index(report.path, expected_dimension=768)
    assert manifest["build_id"] == report.build_id
    with pytest.raises(IndexCorruptError, match="no finished build"):
        publish_build(settings, "does-not-exist")


def test_a_build_leaves_the_cycle_collector_on_even_when_it_fails(settings, kb_copy, processor, tmp_path):
    """Builds run with Python's cycle collector off (it walked their objects for nothing); a serving process that
    rebuilds must get it back, whether the build succeeded or was refused."""
    import gc

    from indexer.errors import BuildRefusedError

    assert gc.isenabled()
    build_index(settings.model_copy(update={"data_dir": kb_copy, "dense_vectors": "auto"}), processor=processor)
    assert gc.isenabled()
    (tmp_path / "empty").mkdir()
    with pytest.raises(BuildRefusedError):
        build_index(settings.model_copy(update={"data_dir": tmp_path / "empty", "dense_vectors": "auto"}),
                    processor=processor)
    assert gc.isenabled()
