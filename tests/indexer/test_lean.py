"""Lean by default: a build whose ranking gives vectors no weight computes none, and serving it never loads the
embedder — the served process maps no torch. Vectors come back as soon as something can use them."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from assistant.store import create_key, open_store
from indexer.build import build_index
from indexer.index import load_index
from tests.live_server import serve_cli


def _lean(settings, **overrides):  # noqa: ANN001, ANN003, ANN202
    return settings.model_copy(update={"dense_vectors": "auto", **overrides})


def test_default_build_computes_no_vectors_and_answers_from_bm25(settings, processor):
    settings = _lean(settings)
    report = build_index(settings, processor=processor)
    assert report.manifest["embedder"]["name"] is None
    assert "dense_weight" in report.manifest["embedder"]["reason"]
    assert not (report.path / "embeddings.npy").exists() and not (report.path / "dense.faiss").exists()
    index = load_index(report.path)
    assert not index.has_vectors and len(index.backend) == report.manifest["counts"]["chunks"]

    from assistant.service import Assistant

    assistant = Assistant(settings).load()
    result = assistant.suggest("月底结账的时候系统说还有凭正没过帐，咋整")
    assert result.suggestions[0].source.uri == "kb://faq/t-fin-1"
    assert assistant.serving.retriever.embedder is None
    assert assistant.embedder._model is None  # the weights were never read


@pytest.mark.parametrize("overrides", [{"dense_weight": 0.3}, {"dense_vectors": "always"}])
def test_vectors_are_computed_when_the_ranking_can_use_them(settings, processor, embedder, overrides):
    settings = _lean(settings, **overrides)
    report = build_index(settings, processor=processor, embedder=embedder)
    assert report.manifest["embedder"]["name"] == embedder.name
    assert load_index(report.path).has_vectors


def test_a_validation_set_asks_for_vectors_to_choose_the_dense_weight(settings, processor, embedder, tmp_path):
    validation = tmp_path / "validation.jsonl"
    validation.write_text('{"id": "v1", "question": "结账提示凭证没过账", "relevant": ["kb://faq/t-fin-1"]}\n',
                          encoding="utf-8")
    assert _lean(settings, validation_set=validation).builds_vectors
    assert not _lean(settings, validation_set=validation, dense_weight_grid=[0.0]).builds_vectors
    assert not _lean(settings, validation_set=validation, dense_vectors="never").builds_vectors


def test_never_says_vectors_are_switched_off(settings, processor):
    """The build records why it has no vectors: with ``never`` it is the setting, not the ranking's weights."""
    report = build_index(_lean(settings, dense_weight=0.3, dense_vectors="never"), processor=processor)
    reason = report.manifest["embedder"]["reason"]
    assert "switched off" in reason and "dense_weight" not in reason


def test_never_with_milvus_is_refused_with_the_reason(settings, processor):
    from indexer.errors import BuildRefusedError

    settings = _lean(settings, dense_vectors="never", vector_store="milvus", milvus_uri=str(settings.index_dir / "m.db"))
    with pytest.raises(BuildRefusedError, match="Milvus build stores vectors"):
        build_index(settings, processor=processor)


def test_the_served_process_maps_no_torch(settings, kb_copy, processor):
    """The real `erp-assist serve` over HTTP: after answering, its memory maps hold no libtorch."""
    settings = _lean(settings, data_dir=kb_copy)
    build_index(settings, processor=processor)
    key = create_key(open_store(settings.database_url), name="lean", role="asker")[1]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **{
        f"ERP_ASSIST_{name.upper()}": str(getattr(settings, name))
        for name in ("data_dir", "index_dir", "classifier_path", "gate_path", "database_url", "cache_dir")
    }}
    with serve_cli(env, timeout_s=120) as (base, server):
        answer = httpx.post(f"{base}/v1/suggest", json={"question": "出库的时候说库存不够，可是货架上明明有货"},
                            headers={"X-API-Key": key}, timeout=60)
        assert answer.status_code == 200 and answer.json()["suggestions"][0]["source"]["uri"] == "kb://faq/t-inv-1"
        maps = Path(f"/proc/{server.pid}/maps").read_text()
        assert "libtorch" not in maps
        assert "libfaiss" in maps or "_swigfaiss" in maps  # the check sees shared libraries at all


def test_a_large_kb_leaves_the_hygiene_check_to_kb_check(settings, kb_copy, processor):
    """The build's hygiene report is skipped, with the reason, above ERP_ASSIST_HYGIENE_BUILD_MAX_ENTRIES."""
    settings = _lean(settings, data_dir=kb_copy, hygiene_build_max_entries=3)
    report = build_index(settings, processor=processor)
    assert "erp-assist kb check" in report.manifest["hygiene"]["error"]
