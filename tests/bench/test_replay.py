"""The replay benchmark on hand-written pairs: a real store, the real assistant, the real nightly rebuild."""

from __future__ import annotations

import json

import pytest

from bench.replay import Arm, Ask, Plan, load_afqmc_pairs, load_pairs, main, plan_weeks, run_replay
from tests.conftest import DATA, TINY_KB, requires_shared

PAIRS = DATA / "replay_pairs.jsonl"


@pytest.fixture
def models(settings, embedder, processor):
    from assistant.service import load_or_train_classifier
    from assistant.tenants import SharedModels

    return SharedModels(processor, embedder, load_or_train_classifier(settings))


def _two_weeks(pairs):
    """Week 1: every first wording; week 2: every paraphrase."""
    return Plan([[Ask(p, p.first, False) for p in pairs], [Ask(p, p.paraphrase, True) for p in pairs]], [])


def test_plan_asks_every_paraphrase_after_its_first_wording():
    pairs = load_pairs(PAIRS)
    plan = plan_weeks(pairs, 4, seed_share=0.25, max_gap=2, seed=3)
    assert plan == plan_weeks(pairs, 4, seed_share=0.25, max_gap=2, seed=3)
    weeks = {(a.pair.id, a.text): w for w, asks in enumerate(plan.weeks) for a in asks}
    seeded = {p.id for p in plan.seeded}
    assert len(seeded) == 2
    for pair in pairs:
        if pair.id in seeded:
            # The first wording is in the FAQ from day one; only the paraphrase is asked.
            assert (pair.id, pair.first) not in weeks and (pair.id, pair.paraphrase) in weeks
        elif weeks[pair.id, pair.first] < 3:
            assert 1 <= weeks[pair.id, pair.paraphrase] - weeks[pair.id, pair.first] <= 2
        else:  # first asked in the last week: it returns after the replay
            assert (pair.id, pair.paraphrase) not in weeks
    assert all(a.repeat == (a.text == a.pair.paraphrase) for asks in plan.weeks for a in asks)


def test_plan_refuses_a_single_week():
    with pytest.raises(ValueError, match="weeks=1"):
        plan_weeks(load_pairs(PAIRS), 1)


def test_the_loop_raises_recall_after_a_rebuild(settings, models, tmp_path):
    pairs = load_pairs(PAIRS)
    arms = [Arm("loop"), Arm("no loop", loop=False)]
    results = run_replay(_two_weeks(pairs), settings, models, arms, tmp_path / "replay", kb=TINY_KB)
    loop, still = results["loop"], results["no loop"]
    assert [(w.new, w.repeats) for w in loop] == [(8, 0), (0, 8)] == [(w.new, w.repeats) for w in still]
    # Week 1: nothing to find, so the expert writes every answer; both arms alike.
    assert loop[0].edited == still[0].edited == 8 and loop[0].hits == still[0].hits == 0
    # The nightly rebuild turned the 8 answers into learned FAQ entries; without it paraphrases find nothing.
    assert loop[1].learned_entries == 8 and still[1].learned_entries == 0
    assert still[1].metrics()["recall@5"] == 0.0
    assert loop[1].metrics()["recall@5"] >= 0.75
    assert loop[1].accepted == loop[1].hits  # the expert accepted the found entries instead of rewriting them
    assert loop[1].abstained_repeats < still[1].abstained_repeats
    assert loop[1].metrics()["recall@5_in_kb"] == loop[1].metrics()["recall@5"]
    assert still[1].in_kb == 0  # nothing seeded: without the loop no answer ever reaches the index


def test_static_embedding_goes_through_the_real_build(settings, processor, tmp_path):
    from assistant.service import Assistant, load_or_train_classifier
    from bench.static_embedding import StaticEmbedder, char_tokenizer, train_static_embedding
    from indexer.build import build_index

    tokenizer = char_tokenizer(["花呗还款 ERP"])
    assert tokenizer.encode("花呗 ERP", add_special_tokens=False).tokens == ["花", "呗", "erp"]
    pairs = [(p.first, p.paraphrase) for p in load_pairs(PAIRS)]
    corpus = [text for pair in pairs for text in pair]
    path = train_static_embedding(pairs, corpus, tmp_path / "static", dim=32, epochs=5)
    embedder = StaticEmbedder(str(path)).load()
    assert embedder.dimension == 32
    # 4 known characters and one unknown run of symbols
    assert embedder.unknown_token_rate(["销售订单", "☃☃"]) == pytest.approx(1 / 5)
    settings = settings.model_copy(update={"dense_weight": 0.5})
    report = build_index(settings, embedder=embedder, processor=processor)
    assert report.manifest["embedder"]["dimension"] == 32
    assistant = Assistant(settings, processor=processor, embedder=embedder,
                          classifier=load_or_train_classifier(settings)).load()
    assert assistant.suggest("采购订单审批后还能修改数量吗").suggestions[0].source.id == "t-pur-1"


def test_accepted_pairs_come_from_the_store(settings, models, tmp_path):
    from assistant.store import open_store
    from bench.static_embedding import accepted_pairs, linked_pairs

    pairs = load_pairs(PAIRS)
    run_replay(_two_weeks(pairs), settings, models, [Arm("loop")], tmp_path, kb=TINY_KB)
    engine = open_store(f"sqlite:///{tmp_path / 'loop' / 'store.db'}")
    accepted = accepted_pairs(engine, tenant="default")
    by_first = {p.first: p.paraphrase for p in pairs}
    # Every accepted pair links a paraphrase to its own topic's first wording (the learned entry's question).
    assert accepted and all(by_first[title] == question for question, title in accepted)
    linked = linked_pairs(engine, tenant="default")
    assert set(accepted) <= set(linked) and len(linked) == len(pairs)


def test_main_skips_without_afqmc(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr("bench.replay.AFQMC", tmp_path / "absent.jsonl")
    assert main(["--plot", str(tmp_path / "r.png")]) == 0
    assert "replay skipped" in capsys.readouterr().out


@pytest.mark.shared_data
def test_afqmc_pairs_are_disjoint_topics():
    pairs = load_afqmc_pairs(requires_shared("afqmc", "dev.jsonl"), limit=200)
    sentences = [s for p in pairs for s in (p.first, p.paraphrase)]
    assert len(pairs) == 200 and len(set(sentences)) == len(sentences)
    assert json.dumps(pairs[0].answer, ensure_ascii=False) == f'"答案{pairs[0].id}"'
