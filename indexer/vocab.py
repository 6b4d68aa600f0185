"""ERP vocabulary packs (issue #19): each vendor's names for shared concepts, read, checked and compiled.

A pack (``indexer/dicts/vendors/<vendor>.yaml``, format in PACKS.md) maps a vendor's T-codes, menu and document
names to concept ids of the catalogue in ``models/taxonomy.yaml``; it also lists words the tokenizer must keep
whole and regexes for the vendor's error/message codes. A tenant may keep its own pack in ``<data_dir>/vocab.yaml``
(same format, ``vendor: tenant``), which can also choose the tenant's vendors (``erp_vendors: [kingdee, sap]``).

``load_vocabulary`` turns the chosen packs into one ``Vocabulary``: what ``TextProcessor`` needs to keep terms and
codes whole and to add a concept token (``~<concept id>``) wherever a name of a concept occurs, so that a question
in SAP words and a source in 金蝶 words share a token. The vocabulary is stored beside each index build, so
questions are always read with the vocabulary their build was read with.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from erp_assist.yamlio import load_yaml, load_yaml_with_nodes
from indexer.errors import PackError
from indexer.text import DICT_DIR, normalize
from models.taxonomy import Concept, Taxonomy, load_taxonomy

__all__ = [
    "CONCEPT_PREFIX",
    "CodePattern",
    "Concept",
    "PackError",
    "TENANT_PACK",
    "VENDOR_DIR",
    "VOCABULARY",
    "VendorPack",
    "Vocabulary",
    "available_vendors",
    "load_pack",
    "compile_vocabulary",
    "load_vocabulary",
    "packs_for_settings",
    "parse_vendor_list",
    "shipped_new_concepts",
    "vocabulary_for_settings",
]

VENDOR_DIR = DICT_DIR / "vendors"
TENANT_PACK = "vocab.yaml"
VOCABULARY = "vocabulary.json"  # the compiled vocabulary beside an index build
# Concept tokens start with a character the tokenizer never emits on its own, so they cannot collide with text.
CONCEPT_PREFIX = "~"
# PACKS.md asks writers for ≤ 20 characters; English UI names run longer, so the loader refuses only what
# cannot be a name.
MAX_TERM_CHARS = 40
_ASCII_BOUNDARY = r"(?:(?<![A-Za-z0-9])(?=[A-Za-z0-9])|(?<=[A-Za-z0-9])(?![A-Za-z0-9]))"
# ``\b`` not preceded by a backslash: in Python every CJK character is a word character, so "用MIGO收货" has no
# \b around MIGO; pack patterns mean the edge of a code, which is an ASCII-alphanumeric edge.
_WORD_BOUNDARY = re.compile(r"(?<!\\)\\b")
_PACK_KEYS = {"vendor", "title", "sources", "words", "code_patterns", "concepts", "new_concepts", "erp_vendors"}


@dataclass(frozen=True)
class TermMatch:
    start: int
    end: int
    term: str


def _is_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


@dataclass(frozen=True)
class CodePattern:
    """A regex for one vendor's codes (message numbers, T-codes) recognised as one token."""

    vendor: str
    name: str
    pattern: str
    examples: tuple[str, ...] = ()

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(_WORD_BOUNDARY.sub(lambda _: _ASCII_BOUNDARY, self.pattern), re.IGNORECASE)


@dataclass(frozen=True)
class VendorPack:
    """One vendor's (or one tenant's) vocabulary, as read from its YAML file."""

    vendor: str
    title: str
    path: Path
    sources: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    code_patterns: tuple[CodePattern, ...] = ()
    concepts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    new_concepts: tuple[Concept, ...] = ()
    erp_vendors: tuple[str, ...] | None = None  # a tenant's pack may choose the tenant's vendors

    def term_count(self) -> int:
        return len(self.words) + sum(map(len, self.concepts.values()))


# ---------------------------------------------------------------------------------------------------------------
# Reading one pack, with line numbers for every error


def _lines(node: yaml.Node, path: tuple[Any, ...] = (), out: dict[tuple[Any, ...], int] | None = None) -> dict:
    """Line (1-based) of every mapping key and list item, by its path of keys and indexes."""
    out = {} if out is None else out
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            child = (*path, key.value)
            _lines(value, child, out)
            out[child] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)
    return out


def _strings(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        value = [value]
    terms = []
    for item in value:
        if isinstance(item, (dict, list)) or item is None:
            raise PackError(f"{where}: expected a list of names, got {item!r}")
        text = str(item).strip()
        if text:
            terms.append(text)
    return tuple(terms)


def load_pack(path: Path, taxonomy: Taxonomy, shared_concepts: dict[str, Concept] | None = None) -> VendorPack:
    """Read and check one pack file. ``PackError`` names the file and line of the first problem: an unknown
    module, a regex that does not compile (or misses its own examples), a concept neither in the catalogue nor
    in the pack's ``new_concepts`` (nor in ``shared_concepts``: other shipped packs' new concepts), a term
    longer than 40 characters."""
    try:
        text = path.read_text(encoding="utf-8")
        data, root = load_yaml_with_nodes(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise PackError(f"{path}: cannot be read ({exc})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise PackError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    if not isinstance(data, dict) or root is None:
        raise PackError(f"{path}:1: a pack is a mapping with vendor, concepts, ... (see PACKS.md)")
    lines = _lines(root)

    def at(*keys: Any) -> str:  # noqa: ANN401 - keys and indexes
        for end in range(len(keys), -1, -1):
            if keys[:end] in lines:
                return f"{path}:{lines[keys[:end]]}"
        return str(path)

    unknown = sorted(set(data) - _PACK_KEYS)
    if unknown:
        raise PackError(f"{at(unknown[0])}: unknown key {unknown[0]!r}; a pack has {', '.join(sorted(_PACK_KEYS))}")
    vendor = str(data.get("vendor") or "").strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9_]*", vendor):
        raise PackError(f"{at('vendor')}: 'vendor' must be a lowercase id like sap or kingdee, got {vendor!r}")
    module_ids = taxonomy.module_ids

    new_concepts: list[Concept] = []
    for i, item in enumerate(data.get("new_concepts") or []):
        if not isinstance(item, dict) or not {"id", "module"} <= item.keys():
            raise PackError(f"{at('new_concepts', i)}: a new concept needs id, module and zh, got {item!r}")
        concept_id, module = str(item["id"]), str(item["module"])
        if not re.fullmatch(r"[a-z][a-z0-9_]*", concept_id):
            raise PackError(f"{at('new_concepts', i, 'id')}: concept id {concept_id!r} must be snake_case")
        if module not in module_ids:
            raise PackError(f"{at('new_concepts', i, 'module')}: concept {concept_id!r} has unknown module "
                            f"{module!r}; choose one of {', '.join(module_ids)}")
        new_concepts.append(Concept(concept_id, module, _strings(item.get("zh"), at("new_concepts", i, "zh"))))
    known = {c.id for c in taxonomy.concepts} | {c.id for c in new_concepts} | set(shared_concepts or {})

    concepts: dict[str, tuple[str, ...]] = {}
    raw_concepts = data.get("concepts") or {}
    if not isinstance(raw_concepts, dict):
        raise PackError(f"{at('concepts')}: 'concepts' maps a concept id to a list of this vendor's names")
    for concept_id, names in raw_concepts.items():
        concept_id = str(concept_id)
        if concept_id not in known:
            raise PackError(f"{at('concepts', concept_id)}: unknown concept {concept_id!r}; use an id of the "
                            "catalogue in models/taxonomy.yaml or add it under new_concepts with its module")
        concepts[concept_id] = _strings(names, at("concepts", concept_id))

    patterns: list[CodePattern] = []
    for i, item in enumerate(data.get("code_patterns") or []):
        if not isinstance(item, dict) or "pattern" not in item:
            raise PackError(f"{at('code_patterns', i)}: a code pattern needs name and pattern, got {item!r}")
        pattern = CodePattern(vendor, str(item.get("name") or f"pattern_{i}"), str(item["pattern"]),
                              _strings(item.get("examples"), at("code_patterns", i, "examples")))
        try:
            regex = pattern.regex
        except re.error as exc:
            raise PackError(f"{at('code_patterns', i, 'pattern')}: code pattern {pattern.name!r} is not a valid "
                            f"Python regex ({exc})") from exc
        if regex.search("") is not None:
            raise PackError(f"{at('code_patterns', i, 'pattern')}: code pattern {pattern.name!r} matches empty text")
        missed = [e for e in pattern.examples if not regex.fullmatch(normalize(e))]
        if missed:
            raise PackError(f"{at('code_patterns', i, 'examples')}: code pattern {pattern.name!r} does not match "
                            f"its own example {missed[0]!r}")
        patterns.append(pattern)

    words = _strings(data.get("words"), at("words"))
    for key, terms in [("words", words), *(((("concepts", c)), t) for c, t in concepts.items())]:
        for term in terms:
            if len(term) > MAX_TERM_CHARS:
                where = at(*key) if isinstance(key, tuple) else at(key)
                raise PackError(f"{where}: term {term!r} is longer than {MAX_TERM_CHARS} characters")
    erp_vendors = None
    if "erp_vendors" in data:
        erp_vendors = tuple(v.lower() for v in _strings(data["erp_vendors"], at("erp_vendors")))
    return VendorPack(
        vendor=vendor,
        title=str(data.get("title") or vendor),
        path=path,
        sources=_strings(data.get("sources"), at("sources")),
        words=words,
        code_patterns=tuple(patterns),
        concepts=concepts,
        new_concepts=tuple(new_concepts),
        erp_vendors=erp_vendors,
    )


# ---------------------------------------------------------------------------------------------------------------
# The compiled vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """The chosen packs compiled for the tokenizer: words kept whole, code patterns, term → concepts.

    Terms are normalized like text (NFKC, lower case, 帐→账), so ME21N and me21n are one term."""

    vendors: tuple[str, ...]
    concepts: dict[str, Concept]
    term_concepts: dict[str, tuple[str, ...]]
    words: tuple[str, ...]
    code_patterns: tuple[CodePattern, ...]
    # Terms only vendor packs give (T-codes, vendors' document and menu names), not the catalogue's generic words:
    # the module evidence counts these alone (the classifier already reads 采购订单 as purchasing).
    named_terms: frozenset[str] = frozenset()

    @cached_property
    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_record(), ensure_ascii=False, sort_keys=True).encode()).hexdigest()[:16]

    @cached_property
    def _terms_by_first_char(self) -> dict[str, tuple[str, ...]]:
        """Terms grouped by their first character, longest first (采购入库单 before 入库单 is decided where both
        start; 入库单 inside 采购入库单 is never reached because the scan jumps past a match)."""
        groups: dict[str, list[str]] = {}
        for term in self.term_concepts:
            groups.setdefault(term[0], []).append(term)
        return {ch: tuple(sorted(terms, key=lambda t: (-len(t), t))) for ch, terms in groups.items()}

    def term_matches(self, normalized: str) -> list[TermMatch]:
        """The terms in normalized text, leftmost-longest, not overlapping; an ASCII edge of a term must not touch
        another ASCII letter or digit (MIGO in "用MIGO收货", not "po" in "report").

        A scan with a dict of first characters: a regex alternation of a few thousand terms took 30 ms per FAQ
        entry, this takes a few."""
        groups = self._terms_by_first_char
        found: list[TermMatch] = []
        i, n = 0, len(normalized)
        while i < n:
            candidates = groups.get(normalized[i])
            matched = None
            if candidates is not None and not (_is_alnum(normalized[i]) and i > 0 and _is_alnum(normalized[i - 1])):
                for term in candidates:
                    end = i + len(term)
                    if normalized.startswith(term, i) and not (
                            _is_alnum(term[-1]) and end < n and _is_alnum(normalized[end])):
                        matched = TermMatch(i, end, term)
                        break
            if matched is None:
                i += 1
            else:
                found.append(matched)
                i = matched.end
        return found

    def concepts_in(self, normalized: str) -> list[str]:
        """Concept ids of the terms in normalized text, once per occurrence, in text order."""
        return self.concepts_of(self.term_matches(normalized))

    def concepts_of(self, matches: list[TermMatch]) -> list[str]:
        """Concept ids of ``term_matches``' result, once per occurrence, in text order."""
        return [c for m in matches for c in self.term_concepts[m.term]]

    def terms_in(self, normalized: str) -> list[str]:
        return [m.term for m in self.term_matches(normalized)]

    def code_spans(self, normalized: str) -> list[tuple[int, int]]:
        """Non-overlapping spans of the vendors' codes in normalized text (earliest, then longest)."""
        spans = [m.span() for p in self.code_patterns for m in p.regex.finditer(normalized) if m.end() > m.start()]
        chosen: list[tuple[int, int]] = []
        for start, end in sorted(spans, key=lambda s: (s[0], -s[1])):
            if not chosen or start >= chosen[-1][1]:
                chosen.append((start, end))
        return chosen

    def module_evidence(self, text: str) -> dict[str, float]:
        """Module → share of the concept names in ``text`` that belong to it (empty when none): a T-code or a
        document name says which part of the ERP a question is about."""
        counts: dict[str, float] = {}
        for term in self.terms_in(normalize(text)):
            if term not in self.named_terms:
                continue
            modules = {self.concepts[c].module for c in self.term_concepts[term] if c in self.concepts}
            for module in modules:  # a name shared by modules splits its vote
                counts[module] = counts.get(module, 0.0) + 1.0 / len(modules)
        total = sum(counts.values())
        return {m: n / total for m, n in counts.items()} if total else {}

    def to_record(self) -> dict[str, Any]:
        return {
            "vendors": list(self.vendors),
            "concepts": [{"id": c.id, "module": c.module, "zh": list(c.zh)} for c in self.concepts.values()],
            "term_concepts": {t: list(c) for t, c in sorted(self.term_concepts.items())},
            "words": list(self.words),
            "named_terms": sorted(self.named_terms),
            "code_patterns": [{"vendor": p.vendor, "name": p.name, "pattern": p.pattern, "examples": list(p.examples)}
                              for p in self.code_patterns],
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Vocabulary:
        return cls(
            vendors=tuple(record["vendors"]),
            concepts={c["id"]: Concept(c["id"], c["module"], tuple(c["zh"])) for c in record["concepts"]},
            term_concepts={t: tuple(c) for t, c in record["term_concepts"].items()},
            words=tuple(record["words"]),
            named_terms=frozenset(record.get("named_terms", ())),
            code_patterns=tuple(CodePattern(p["vendor"], p["name"], p["pattern"], tuple(p["examples"]))
                                for p in record["code_patterns"]),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_record(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls.from_record(json.loads(path.read_text(encoding="utf-8")))


def available_vendors(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """The vendors with a pack file in ``vendor_dir``."""
    return sorted(p.stem for p in vendor_dir.glob("*.yaml")) if vendor_dir.is_dir() else []


def parse_vendor_list(value: str | list[str] | tuple[str, ...], vendor_dir: Path = VENDOR_DIR) -> tuple[str, ...]:
    """``all`` (every pack in ``vendor_dir``), ``none`` / empty (no packs), or a comma list of vendor ids; an
    unknown vendor is a ``PackError`` listing the choices."""
    items = [v.strip().lower() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    available = available_vendors(vendor_dir)
    if items == ["all"]:
        return tuple(available)
    if not items or items == ["none"]:
        return ()
    unknown = [v for v in items if v not in available]
    if unknown:
        raise PackError(f"unknown ERP vendor {unknown[0]!r} in ERP_ASSIST_ERP_VENDORS; choose all, none or from "
                        f"{', '.join(available) or '(no packs in ' + str(vendor_dir) + ')'}")
    return tuple(dict.fromkeys(items))


def load_vocabulary(taxonomy: Taxonomy, vendors: tuple[str, ...], *, vendor_dir: Path = VENDOR_DIR,
                    tenant_pack: Path | None = None) -> Vocabulary | None:
    """The chosen vendors' packs (and the tenant's own pack when the file exists) with the catalogue's generic
    words, compiled; None when no pack is chosen (packs off)."""
    shared = shipped_new_concepts(vendor_dir, taxonomy)
    packs = [load_pack(vendor_dir / f"{v}.yaml", taxonomy, shared) for v in vendors]
    if tenant_pack is not None and tenant_pack.is_file():
        packs.append(load_pack(tenant_pack, taxonomy, shared))
    return compile_vocabulary(taxonomy, packs, shared)


def compile_vocabulary(taxonomy: Taxonomy, packs: list[VendorPack], shared: dict[str, Concept]) -> Vocabulary | None:
    """Loaded packs with the catalogue's generic words, compiled; ``shared``: the shipped packs' new concepts
    (``shipped_new_concepts``). None when there is no pack."""
    if not packs:
        return None
    concepts = {c.id: c for c in taxonomy.concepts}
    for pack in packs:
        for concept in pack.new_concepts:
            concepts.setdefault(concept.id, concept)
    # A pack may name a concept another shipped pack introduced; it is known even when that pack is not chosen.
    used = {c for pack in packs for c in pack.concepts}
    for concept_id in sorted(used - set(concepts)):
        concepts[concept_id] = shared[concept_id]
    term_concepts: dict[str, list[str]] = {}

    def add(term: str, concept_id: str) -> None:
        key = normalize(term)
        if key and concept_id not in term_concepts.setdefault(key, []):
            term_concepts[key].append(concept_id)

    for concept in concepts.values():
        for term in concept.zh:
            add(term, concept.id)
    generic = set(term_concepts)
    for pack in packs:
        for concept_id, terms in pack.concepts.items():
            for term in terms:
                add(term, concept_id)
    words = {normalize(w) for pack in packs for w in pack.words} | set(term_concepts)
    return Vocabulary(
        vendors=tuple(p.vendor for p in packs),
        concepts=concepts,
        term_concepts={t: tuple(c) for t, c in term_concepts.items()},
        words=tuple(sorted(w for w in words if w)),
        code_patterns=tuple(p for pack in packs for p in pack.code_patterns),
        named_terms=frozenset(set(term_concepts) - generic),
    )


def shipped_new_concepts(vendor_dir: Path, taxonomy: Taxonomy) -> dict[str, Concept]:
    """The ``new_concepts`` of every pack in ``vendor_dir`` (first definition wins), each checked for a known
    module; packs may use each other's new concepts."""
    shared: dict[str, Concept] = {}
    module_ids = set(taxonomy.module_ids)
    for path in sorted(vendor_dir.glob("*.yaml")) if vendor_dir.is_dir() else []:
        try:
            data = load_yaml(path.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue  # reported with its line when the pack itself is loaded
        items = data.get("new_concepts") or [] if isinstance(data, dict) else []
        for item in items:
            if isinstance(item, dict) and str(item.get("module")) in module_ids and item.get("id"):
                shared.setdefault(str(item["id"]), Concept(str(item["id"]), str(item["module"]),
                                                           _strings(item.get("zh"), str(path))))
    return shared


def packs_for_settings(settings: Any) -> tuple[Taxonomy, list[VendorPack], dict[str, Concept]]:  # noqa: ANN401
    """The taxonomy, the packs a tenant's settings choose (its own pack's ``erp_vendors`` if it names them, else
    ``ERP_ASSIST_ERP_VENDORS``; the tenant's own pack ``<data_dir>/vocab.yaml`` last) and the shipped packs' new
    concepts. Each pack file is read once; the tenant's with the concepts any shipped pack introduces (as
    `vocab suggest` checks it)."""
    taxonomy = load_taxonomy(settings.taxonomy_path)
    vendor_dir = Path(settings.vendor_packs_dir)
    tenant_pack = Path(settings.data_dir) / TENANT_PACK
    if not tenant_pack.is_file() and not parse_vendor_list(settings.erp_vendors, vendor_dir):
        return taxonomy, [], {}  # packs off: no pack file is read
    shared = shipped_new_concepts(vendor_dir, taxonomy)
    own = load_pack(tenant_pack, taxonomy, shared) if tenant_pack.is_file() else None
    choice = own.erp_vendors if own is not None and own.erp_vendors is not None else settings.erp_vendors
    packs = [load_pack(vendor_dir / f"{v}.yaml", taxonomy, shared) for v in parse_vendor_list(choice, vendor_dir)]
    return taxonomy, [*packs, *([own] if own is not None else [])], shared


# Compiled vocabularies by the content of everything they are made from: every rebuild asks for its tenant's
# (reading and checking a dozen YAML files took a third of a small rebuild), and the answer only changes with a file.
_COMPILED: dict[str, Vocabulary | None] = {}
_COMPILED_KEPT = 16


def vocabulary_for_settings(settings: Any) -> Vocabulary | None:  # noqa: ANN401 - erp_assist.settings.Settings
    """The vocabulary a tenant's settings choose (``packs_for_settings``), compiled; None without packs. The same
    files and choice give the same vocabulary object (compiled once per process)."""
    key = _sources_digest(settings)
    if key in _COMPILED:
        return _COMPILED[key]
    taxonomy, packs, shared = packs_for_settings(settings)
    vocabulary = compile_vocabulary(taxonomy, packs, shared)
    while len(_COMPILED) >= _COMPILED_KEPT:
        _COMPILED.pop(next(iter(_COMPILED)), None)
    _COMPILED[key] = vocabulary
    return vocabulary


def _sources_digest(settings: Any) -> str:  # noqa: ANN401
    """A hash of what ``packs_for_settings`` reads: the vendor choice, the taxonomy, every shipped pack, the
    tenant's own pack."""
    vendor_dir = Path(settings.vendor_packs_dir)
    files = [Path(settings.taxonomy_path), *(sorted(vendor_dir.glob("*.yaml")) if vendor_dir.is_dir() else []),
             Path(settings.data_dir) / TENANT_PACK]
    digest = hashlib.sha256(repr((settings.erp_vendors, str(vendor_dir))).encode("utf-8"))
    for path in files:
        digest.update(f"\x00{path}\x00".encode())
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"\x00missing")
    return digest.hexdigest()
