"""A character-level static embedding trained on a group's own accepted question pairs (replay experiment).

Nothing is downloaded: the tokenizer is built with ``tokenizers`` from the group's own texts (every CJK
character is a token; Latin words and numbers stay whole), and ``sentence_transformers``' ``StaticEmbedding``
— one trained vector per token, mean-pooled — learns from pairs the group's experts linked: an asker's
question and the FAQ question whose draft they accepted. Training is the library's
``MultipleNegativesRankingLoss`` in a plain torch loop (its trainer needs the ``datasets`` package, which the
project does not install).

``StaticEmbedder`` is the project's ``Embedder`` for such a model: the served one reads an unknown-token rate
from a ``transformers`` tokenizer (``tokenizer.tokenize``, ``unk_token``) that a ``tokenizers.Tokenizer`` does
not have, so a static model cannot go through ``build_index`` without this override.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine, and_, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from erp_assist.settings import Settings  # noqa: E402
from indexer.embedding import Embedder  # noqa: E402

__all__ = ["StaticEmbedder", "accepted_pairs", "char_tokenizer", "golden_check", "linked_pairs",
           "train_static_embedding"]

UNK = "[UNK]"
_CJK = r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"


def _normalizer():  # noqa: ANN202 - tokenizers.normalizers.Normalizer
    from tokenizers import normalizers

    return normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])


def _pre_tokenizer():  # noqa: ANN202 - tokenizers.pre_tokenizers.PreTokenizer
    from tokenizers import Regex, pre_tokenizers

    # Whitespace keeps words and punctuation runs; the split then isolates every CJK character.
    return pre_tokenizers.Sequence([pre_tokenizers.Whitespace(),
                                    pre_tokenizers.Split(Regex(_CJK), behavior="isolated")])


def char_tokenizer(texts: Iterable[str], max_vocab: int = 30_000):  # noqa: ANN201 - tokenizers.Tokenizer
    """A word-level tokenizer: the tokens of ``texts`` (most frequent first) and ``[UNK]``."""
    from tokenizers import Tokenizer, models

    normalizer, pre = _normalizer(), _pre_tokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(piece for piece, _ in pre.pre_tokenize_str(normalizer.normalize_str(text)))
    vocab = {UNK: 0}
    for token, _ in counts.most_common(max_vocab - 1):
        vocab[token] = len(vocab)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = pre
    return tokenizer


def train_static_embedding(pairs: list[tuple[str, str]], corpus: Iterable[str], output: Path, *,
                           dim: int = 256, epochs: int = 10, batch_size: int = 64, lr: float = 0.05,
                           seed: int = 0) -> Path:
    """Train a char-level ``StaticEmbedding`` on ``pairs`` (question, the question it was matched to) and save
    a sentence-transformers directory at ``output``. Its vocabulary comes from ``corpus`` and the pairs."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.modules import StaticEmbedding

    if dim < 1 or epochs < 0 or batch_size < 2:
        raise ValueError(f"dim={dim}, epochs={epochs}, batch_size={batch_size}: "
                         "need dim ≥ 1, epochs ≥ 0, batch_size ≥ 2")
    torch.manual_seed(seed)
    texts = [*corpus, *(t for pair in pairs for t in pair)]
    static = StaticEmbedding(char_tokenizer(texts), embedding_dim=dim)
    model = SentenceTransformer(modules=[static], device="cpu")
    # Both directions: an asker's wording must find the FAQ question, and the FAQ question its other wordings.
    loss = MultipleNegativesRankingLoss(model, directions=("query_to_doc", "doc_to_query"))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = list(range(len(pairs)))
    rng = random.Random(seed)
    model.train()
    for _ in range(epochs if len(pairs) >= 2 else 0):
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [pairs[i] for i in order[start : start + batch_size]]
            if len(batch) < 2:  # one pair has no in-batch negative to learn from
                continue
            features = [model.preprocess([a for a, _ in batch]), model.preprocess([b for _, b in batch])]
            optimizer.zero_grad()
            loss(features, None).backward()
            optimizer.step()
    model.eval()
    output.mkdir(parents=True, exist_ok=True)
    model.save(str(output))
    return output


class StaticEmbedder(Embedder):
    """``Embedder`` over a saved static model; only the unknown-token rate differs (a ``tokenizers`` one)."""

    def unknown_token_rate(self, texts: list[str]) -> float:
        tokenizer = self.model.tokenizer
        unk = tokenizer.token_to_id(UNK)
        total = unknown = 0
        for encoding in tokenizer.encode_batch([t[:200] for t in texts], add_special_tokens=False):
            total += len(encoding.ids)
            unknown += sum(1 for i in encoding.ids if i == unk)
        return unknown / total if total else 0.0


def accepted_pairs(engine: Engine, *, tenant: str) -> list[tuple[str, str]]:
    """(asker's question, question of the accepted draft) for every accepted FAQ draft of ``tenant`` that is
    still answered: the pairs the group's experts confirmed, oldest first."""
    from assistant.store import questions, reviews, suggestions

    query = (
        select(questions.c.text, suggestions.c.title)
        .join(reviews, reviews.c.question_id == questions.c.id)
        .join(suggestions, and_(suggestions.c.question_id == questions.c.id,
                                suggestions.c.rank == reviews.c.suggestion_rank))
        .where(questions.c.tenant == tenant, questions.c.status == "answered", reviews.c.decision == "accept",
               suggestions.c.source_type == "faq")
        .order_by(reviews.c.id)
    )
    with engine.connect() as conn:
        return [(text, title) for text, title in conn.execute(query).all() if text != title]


def linked_pairs(engine: Engine, *, tenant: str) -> list[tuple[str, str]]:
    """``accepted_pairs`` plus questions an expert answered with word for word the answer of an earlier
    learned entry (the expert pasted the known answer; in the replay: the pair's synthetic answer)."""
    from assistant.store import learned, questions

    with engine.connect() as conn:
        rows = conn.execute(
            select(learned.c.question, learned.c.answer)
            .join(questions, questions.c.id == learned.c.question_id)
            .where(learned.c.tenant == tenant, learned.c.kind == "entry", questions.c.status == "answered")
            .order_by(learned.c.id)
        ).all()
    first: dict[str, str] = {}
    pairs = accepted_pairs(engine, tenant=tenant)
    for question, answer in rows:
        if answer in first and first[answer] != question:
            pairs.append((question, first[answer]))
        first.setdefault(answer, question)
    return pairs


DEMO_VALIDATION = ROOT / "eval" / "dev" / "abstain_dev.jsonl"


def golden_check(model: Path, weights: list[float], settings: Settings | None = None,
                 validation_set: Path | None = DEMO_VALIDATION) -> dict[str, dict]:
    """``erp-assist eval``'s golden evaluation of the configured knowledge base indexed with the static model
    at ``model``: hybrid retrieval metrics and abstention, one real build per row.

    With a validation set (default: the demo's, as the README configures it) every build chooses its
    abstention bar on it, as the nightly build does: row ``0`` is BM25 alone (what is served); row ``w``
    lets the build give the static embedding weight ``w`` if that does not lower validation MRR@10 (else 0:
    the row says which); ``tuned`` is the build's own rule over its whole grid. Without one, rows fuse at
    fixed weights with the fallback bar."""
    import tempfile

    from assistant.rebuild import rebuild_knowledge_base
    from assistant.service import Assistant, load_or_train_classifier
    from assistant.store import open_store
    from assistant.tenants import SharedModels
    from eval.runner import run_eval
    from indexer.text import TextProcessor

    settings = settings or Settings()
    embedder = StaticEmbedder(str(model)).load()
    processor = TextProcessor.from_settings(settings)
    processor.warm_up()
    models = SharedModels(processor, embedder, load_or_train_classifier(settings))
    rows: dict[str, dict] = {"0": {"dense_weight": 0.0, "dense_weight_grid": [0.0]}}
    for weight in weights:
        rows[f"{weight:g}"] = ({"dense_weight": None, "dense_weight_grid": [weight], "dense_min_gain": 0.0}
                               if validation_set else {"dense_weight": weight})
    if validation_set:
        rows["tuned"] = {"dense_weight": None}
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="erp-static-golden-") as tmp:
        for name, update in rows.items():
            row = settings.model_copy(update={
                **update, "validation_set": validation_set, "index_dir": Path(tmp) / name / "index",
                "database_url": f"sqlite:///{Path(tmp) / f'{name}.db'}",  # no reviews: the sources alone
            })
            engine = open_store(row.database_url)
            try:
                report = rebuild_knowledge_base(row, models=models, store=engine)
            finally:
                engine.dispose()
            assistant = Assistant(row, processor=processor, embedder=embedder,
                                  classifier=models.classifier).load(build=report.path)
            golden = run_eval(row, include_public=False, assistant=assistant).primary
            fusion = report.manifest.get("fusion") or {}
            out[name] = {"served_dense_weight": row.dense_weight if row.dense_weight is not None
                         else float(fusion.get("dense_weight", 0.0)),
                         "abstain_threshold": fusion.get("abstain_threshold"),
                         **{k: round(v, 4) for k, v in golden.systems["hybrid"].items()},
                         "dense_only_recall@5": round(golden.systems["dense"]["recall@5"], 4),
                         **{f"abstention_{k}": round(v, 4) for k, v in golden.abstention.items()}}
    return out


def main(argv: list[str] | None = None) -> int:
    """``python bench/static_embedding.py golden MODEL_DIR [--dense-weight 0.2 0.5]``: the golden check."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=golden_check.__doc__)
    parser.add_argument("command", choices=["golden"])
    parser.add_argument("model", type=Path, help="a static model directory (e.g. from a --static replay)")
    parser.add_argument("--dense-weight", type=float, nargs="+", default=[0.2, 0.5])
    parser.add_argument("--validation-set", type=Path, default=DEMO_VALIDATION,
                        help="abstention bar and dense weight chosen per build on it; 'none': fixed weights")
    args = parser.parse_args(argv)
    validation = None if str(args.validation_set).lower() == "none" else args.validation_set
    print(json.dumps(golden_check(args.model, args.dense_weight, validation_set=validation), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
