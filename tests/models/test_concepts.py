"""The concept catalogue in models/taxonomy.yaml (issue #19): loaded, checked, and left out of the model hash."""

import pytest

from models.taxonomy import load_taxonomy
from tests.conftest import ROOT

TAXONOMY = ROOT / "models" / "taxonomy.yaml"


def _without_concepts(text: str) -> str:
    return text[: text.index("\n# Concepts shared")]


def test_catalogue_covers_every_module_with_chinese_words():
    taxonomy = load_taxonomy(TAXONOMY)
    assert len(taxonomy.concepts) >= 120
    assert {c.module for c in taxonomy.concepts} == set(taxonomy.module_ids)
    assert all(c.zh for c in taxonomy.concepts)
    assert taxonomy.concept("purchase_receipt").module == "inventory"
    assert "采购入库" in taxonomy.concept("purchase_receipt").zh


def test_concepts_do_not_change_the_hash_a_classifier_is_trained_for(tmp_path):
    """A classifier trained before the catalogue existed (same modules and urgency) still loads."""
    text = TAXONOMY.read_text(encoding="utf-8")
    bare = tmp_path / "bare.yaml"
    bare.write_text(_without_concepts(text), encoding="utf-8")
    edited = tmp_path / "edited.yaml"
    edited.write_text(text.replace("zh: [采购订单]", "zh: [采购订单, 订购单]"), encoding="utf-8")
    assert load_taxonomy(bare).hash == load_taxonomy(TAXONOMY).hash == load_taxonomy(edited).hash
    assert load_taxonomy(bare).concepts == ()


def test_a_changed_module_still_changes_the_hash(tmp_path):
    text = TAXONOMY.read_text(encoding="utf-8")
    changed = tmp_path / "changed.yaml"
    changed.write_text(text.replace("label: 采购\n", "label: 采购管理\n"), encoding="utf-8")
    assert load_taxonomy(changed).hash != load_taxonomy(TAXONOMY).hash


def test_concept_with_an_unknown_module_is_refused(tmp_path):
    text = TAXONOMY.read_text(encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("{id: purchase_order, module: purchasing", "{id: purchase_order, module: buying"),
                   encoding="utf-8")
    with pytest.raises(ValueError, match=r"purchase_order.*unknown module 'buying'"):
        load_taxonomy(bad)
