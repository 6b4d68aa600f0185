"""Shared fixtures: a tiny real Chinese KB, the real packaged embedder, a real built index, real classifier."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from erp_assist.settings import Settings  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
TINY_KB = DATA / "kb"
ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


def make_settings(tmp: Path, **overrides) -> Settings:  # noqa: ANN003
    values = {
        "data_dir": TINY_KB,
        "index_dir": tmp / "index",
        "classifier_path": tmp / "models" / "classifier.joblib",
        "gate_path": tmp / "models" / "gate.joblib",
        "database_url": f"sqlite:///{tmp / 'erp.db'}",
        "cache_dir": tmp / "cache",
        "link_secret_path": tmp / "link-secret",  # the signed chat links' key, never the checkout's var/
        # The tests exercise FAISS and the real embedder; a product build computes vectors only when its ranking
        # can use them (tests/indexer/test_lean.py covers that default).
        "dense_vectors": "always",
    }
    values.update(overrides)
    if "classifier_path" in overrides and "gate_path" not in overrides:
        values["gate_path"] = Path(overrides["classifier_path"]).with_name("gate.joblib")  # trained beside it
    return Settings(**values)


@pytest.fixture(scope="session")
def embedder():
    """The real packaged all-MiniLM-L6-v2, loaded once per session."""
    from indexer.embedding import Embedder

    return Embedder("all-MiniLM-L6-v2").load()


@pytest.fixture(scope="session")
def processor():
    from indexer.text import TextProcessor

    tp = TextProcessor()
    tp.warm_up()
    return tp


@pytest.fixture(scope="session")
def trained_classifier_path(tmp_path_factory) -> Path:
    """A classifier trained once on the real labelled data in models/data/train, and beside it the off-topic
    gate trained once on that data and models/data/offtopic."""
    from assistant.service import load_or_train_classifier, load_or_train_gate

    tmp = tmp_path_factory.mktemp("classifier")
    settings = make_settings(tmp)
    load_or_train_classifier(settings)
    load_or_train_gate(settings)
    return settings.classifier_path


@pytest.fixture(scope="session")
def session_settings(tmp_path_factory, trained_classifier_path) -> Settings:
    tmp = tmp_path_factory.mktemp("session")
    return make_settings(tmp, classifier_path=trained_classifier_path)


@pytest.fixture(scope="session")
def built_index(session_settings, embedder, processor):
    """The tiny KB built and published once with the real model, FAISS and BM25."""
    from indexer.build import build_index

    return build_index(session_settings, embedder=embedder, processor=processor)


@pytest.fixture(scope="session")
def milvus_settings(tmp_path_factory, trained_classifier_path) -> Settings:
    """Session settings with the Milvus backend: Milvus Lite in a temporary file."""
    tmp = tmp_path_factory.mktemp("milvus")
    return make_settings(tmp, classifier_path=trained_classifier_path, vector_store="milvus",
                         milvus_uri=str(tmp / "milvus.db"))


@pytest.fixture(scope="session")
def milvus_built_index(milvus_settings, embedder, processor):
    """The tiny KB built and published once into Milvus Lite."""
    from indexer.build import build_index

    return build_index(milvus_settings, embedder=embedder, processor=processor)


@pytest.fixture(scope="session", params=["faiss", "milvus"])
def search_index(request, processor):
    """The tiny KB's published index, loaded through each search backend in turn."""
    from indexer.index import load_index

    if request.param == "faiss":
        return load_index(request.getfixturevalue("built_index").path)
    report = request.getfixturevalue("milvus_built_index")
    return load_index(report.path, settings=request.getfixturevalue("milvus_settings"))


@pytest.fixture(scope="session")
def assistant(session_settings, built_index):
    from assistant.service import Assistant

    return Assistant(session_settings).load()


@pytest.fixture
def settings(tmp_path, trained_classifier_path) -> Settings:
    """Fresh directories per test, with the session's trained classifier copied in."""
    target = tmp_path / "models" / "classifier.joblib"
    target.parent.mkdir(parents=True)
    shutil.copy(trained_classifier_path, target)
    shutil.copy(trained_classifier_path.with_name("gate.joblib"), target.with_name("gate.joblib"))
    return make_settings(tmp_path, classifier_path=target)


@pytest.fixture
def kb_copy(tmp_path) -> Path:
    """A writable copy of the tiny KB."""
    target = tmp_path / "kb"
    shutil.copytree(TINY_KB, target)
    return target


def requires_shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared/data ships only with the development workspace)")
    return path


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL server for the session (tests/pgcluster.py); skipped where none can be started."""
    from tests.pgcluster import TemporaryPostgres

    ok, why = TemporaryPostgres.available()
    if not ok:
        pytest.skip(why)
    with TemporaryPostgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The SQLAlchemy URL of a new, empty database on the session's PostgreSQL server."""
    import uuid

    return postgres_server.create_database(f"test_{uuid.uuid4().hex}")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path) -> str:
    """A fresh review-store URL on each backend in turn: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'erp.db'}"
    return request.getfixturevalue("postgres_url")
