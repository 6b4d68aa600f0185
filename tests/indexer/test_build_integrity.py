"""A build changed on disk after it was verified is refused, and a running service keeps the build it has."""

import json
import logging
import shutil

import pytest
from fastapi.testclient import TestClient

from indexer.build import build_index
from indexer.errors import IndexCorruptError
from indexer.index import load_index

QUESTION = "账号被锁了登不上"


@pytest.fixture
def build_copy(built_index, tmp_path):
    """A private copy of the session's build, free to damage."""
    return shutil.copytree(built_index.path, tmp_path / "builds" / built_index.build_id)


def _files(build):
    return sorted(p.relative_to(build).as_posix() for p in build.rglob("*") if p.is_file())


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _add_faq(kb, row):
    (kb / "faq.csv").write_text((kb / "faq.csv").read_text(encoding="utf-8") + row + "\n", encoding="utf-8")


def _strip_checksums(build):
    manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
    for key in ("build_files", "manifest_sha256"):
        manifest.pop(key, None)
    (build / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")


def test_manifest_records_every_build_file(built_index):
    recorded = built_index.manifest["build_files"]
    assert sorted(recorded) == [f for f in _files(built_index.path) if f != "manifest.json"]
    assert {"chunks.jsonl", "embeddings.npy", "dense.faiss", "lexical.json"} <= set(recorded)
    assert any(name.startswith("bm25/") for name in recorded)


@pytest.mark.parametrize("checksums", [True, False], ids=["sealed", "before-checksums"])
def test_empty_npy_is_a_corrupt_build(build_copy, checksums):
    if not checksums:
        _strip_checksums(build_copy)
    (build_copy / "embeddings.npy").write_bytes(b"")
    with pytest.raises(IndexCorruptError, match="embeddings.npy" if checksums else "cannot be read") as raised:
        load_index(build_copy)
    assert build_copy.name in str(raised.value)
    assert str(build_copy.parent) not in str(raised.value)


def test_one_flipped_byte_in_any_build_file_is_refused_naming_it(build_copy):
    files = _files(build_copy)
    assert len(files) >= 10
    for name in files:
        path = build_copy / name
        original = path.read_bytes()
        for offset in {0, len(original) // 2, len(original) - 1}:
            _flip(path, offset)
            with pytest.raises(IndexCorruptError, match=name) as raised:
                load_index(build_copy)
            assert "rollback" in str(raised.value) and str(build_copy.parent) not in str(raised.value)
            path.write_bytes(original)
    load_index(build_copy)


def test_no_byte_of_the_manifest_can_change_unnoticed(build_copy):
    path = build_copy / "manifest.json"
    original = path.read_bytes()
    for offset in range(len(original)):
        _flip(path, offset)
        with pytest.raises(IndexCorruptError, match="manifest.json"):
            load_index(build_copy)
        path.write_bytes(original)
    load_index(build_copy)


def test_missing_and_unlisted_files_are_refused(build_copy):
    (build_copy / "bm25" / "nonoccurrence_array.index.npy").write_bytes(b"\x93NUMPY")
    with pytest.raises(IndexCorruptError, match="nonoccurrence_array.index.npy is not listed"):
        load_index(build_copy)
    (build_copy / "bm25" / "nonoccurrence_array.index.npy").unlink()
    (build_copy / "dense.faiss").unlink()
    with pytest.raises(IndexCorruptError, match="dense.faiss is missing"):
        load_index(build_copy)


def test_unreadable_manifest_is_a_corrupt_build(build_copy):
    (build_copy / "manifest.json").write_text('{"format_version": 1, "build_id": ', encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="manifest.json is unreadable"):
        load_index(build_copy)


def test_build_from_before_checksums_loads_with_one_warning(build_copy, caplog):
    _strip_checksums(build_copy)
    with caplog.at_level(logging.WARNING, logger="indexer.index"):
        first = load_index(build_copy)
        load_index(build_copy)
    assert len(first.chunks) == first.manifest["counts"]["chunks"]
    warnings = [r for r in caplog.records if r.name == "indexer.index" and build_copy.name in r.getMessage()]
    assert len(warnings) == 1 and "checksums" in warnings[0].getMessage()


def test_service_keeps_its_build_when_current_moves_to_a_corrupt_one(settings, kb_copy, embedder, processor,
                                                                     caplog, monkeypatch):
    import assistant.service as service

    settings = settings.model_copy(update={"data_dir": kb_copy})
    a = build_index(settings, embedder=embedder, processor=processor)
    assistant = service.Assistant(settings, processor=processor, embedder=embedder).load()
    _add_faq(kb_copy, "t-b,第二版问题？,第二版答案。,finance,,2024-12-03")
    b = build_index(settings, embedder=embedder, processor=processor)
    vectors = b.path / "embeddings.npy"
    _flip(vectors, vectors.stat().st_size - 3)  # numpy and FAISS would read it silently

    opened = []
    monkeypatch.setattr(service, "load_index", lambda path, **kw: opened.append(path.name) or load_index(path, **kw))
    with caplog.at_level(logging.ERROR, logger="assistant.service"):
        for _ in range(3):
            assert assistant.refresh() is False
            assert assistant.suggest(QUESTION).build_id == a.build_id
    assert opened == [b.build_id]  # refused once, not reopened on every request
    errors = [r.getMessage() for r in caplog.records if r.name == "assistant.service"]
    assert len(errors) == 1 and b.build_id in errors[0] and "embeddings.npy" in errors[0]

    _add_faq(kb_copy, "t-c,第三版问题？,第三版答案。,finance,,2024-12-04")
    c = build_index(settings, embedder=embedder, processor=processor)
    assert assistant.refresh() is True
    assert assistant.suggest(QUESTION).build_id == c.build_id


def _client(settings, assistant):
    from assistant.app import create_app
    from assistant.store import create_key, open_store

    key = create_key(open_store(settings.database_url), name="integrity", role="asker")[1]
    return TestClient(create_app(settings, assistant=assistant), headers={"X-API-Key": key})


def test_http_service_answers_with_its_old_build_when_the_new_one_is_corrupt(settings, kb_copy, embedder, processor):
    from assistant.service import Assistant

    settings = settings.model_copy(update={"data_dir": kb_copy})
    a = build_index(settings, embedder=embedder, processor=processor)
    with _client(settings, Assistant(settings, processor=processor, embedder=embedder).load()) as client:
        assert client.post("/v1/suggest", json={"question": QUESTION}).json()["build_id"] == a.build_id
        _add_faq(kb_copy, "t-b,第二版问题？,第二版答案。,finance,,2024-12-03")
        b = build_index(settings, embedder=embedder, processor=processor)
        (b.path / "embeddings.npy").write_bytes(b"")
        for _ in range(2):
            response = client.post("/v1/suggest", json={"question": QUESTION})
            assert response.status_code == 200
            assert response.json()["build_id"] == a.build_id
        assert client.get("/readyz").json()["build_id"] == a.build_id


def test_corrupt_build_at_start_up_is_a_clear_503(settings, embedder, processor):
    from assistant.app import create_app
    from assistant.store import create_key, open_store

    report = build_index(settings, embedder=embedder, processor=processor)
    (report.path / "embeddings.npy").write_bytes(b"")
    key = create_key(open_store(settings.database_url), name="integrity", role="asker")[1]
    with TestClient(create_app(settings), headers={"X-API-Key": key}) as client:
        response = client.post("/v1/suggest", json={"question": QUESTION})
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert report.build_id in detail and "embeddings.npy" in detail
    assert str(settings.index_dir) not in detail
