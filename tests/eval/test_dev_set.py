"""The abstention dev set is a tuning set: it must stay apart from the golden set the product is judged on."""

import json

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from eval.dataset import load_dataset
from eval.tuning import MIN_PER_SIDE
from tests.conftest import ROOT

DEV = ROOT / "eval" / "dev" / "abstain_dev.jsonl"
GOLDEN = ROOT / "eval" / "data" / "golden.jsonl"


def test_dev_set_has_both_sides_and_no_paraphrase_of_a_golden_question():
    dev = load_dataset(DEV)
    assert not dev.problems
    answerable = [q for q in dev.questions if q.answerable]
    unanswerable = [q for q in dev.questions if not q.answerable]
    assert len(answerable) >= 10 * MIN_PER_SIDE and len(unanswerable) >= 10 * MIN_PER_SIDE
    golden = [json.loads(line)["question"] for line in GOLDEN.read_text(encoding="utf-8").splitlines() if line.strip()]
    texts = [q.question for q in dev.questions]
    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(2, 3)).fit(texts + golden)
    closest = cosine_similarity(vectorizer.transform(texts), vectorizer.transform(golden)).max(axis=1)
    assert closest.max() <= 0.6, texts[int(closest.argmax())]
