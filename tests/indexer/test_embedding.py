import pytest

from indexer.build import build_index
from indexer.embedding import Embedder
from indexer.retrieval import FusionConfig


def test_any_local_sentence_transformers_directory_works_as_embedder(settings, embedder, processor, tmp_path):
    local = tmp_path / "my-embedder"
    embedder.model.save(str(local))
    settings = settings.model_copy(update={"embedder": str(local), "dense_weight": 0.3})
    own = Embedder(settings.embedder).load()
    report = build_index(settings, embedder=own, processor=processor)
    assert report.manifest["embedder"]["name"] == str(local)
    assert report.manifest["embedder"]["dimension"] == 384

    from assistant.service import Assistant

    result = Assistant(settings).load().suggest("账号被锁了登不上")
    assert result.suggestions[0].source.uri == "kb://faq/t-sys-1"
    # Unchanged chunks and the same embedder: the next build reuses every vector.
    assert build_index(settings, embedder=own, processor=processor).reused_embeddings == report.manifest["counts"]["chunks"]


def test_unloadable_embedder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="cannot load embedder"):
        Embedder(str(tmp_path / "nope")).load()


def test_unknown_token_rate_shows_minilm_cannot_read_chinese(embedder):
    assert embedder.unknown_token_rate(["月结时提示凭证未过账怎么办"]) > 0.5
    assert embedder.unknown_token_rate(["how do I post a journal entry"]) == 0.0


def test_embeddings_are_normalized(embedder):
    import numpy as np

    vectors = embedder.encode(["凭证过账", "posting"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert FusionConfig().dense_weight == 0.0
