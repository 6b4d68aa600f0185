"""The module/urgency taxonomy, read from a data file so a company can extend it without code changes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from erp_assist.yamlio import load_yaml

__all__ = ["Concept", "Label", "SHIPPED_TAXONOMY", "Taxonomy", "load_taxonomy"]

SHIPPED_TAXONOMY = Path(__file__).with_name("taxonomy.yaml")  # the default of ERP_ASSIST_TAXONOMY_PATH

_TERM_SEPARATORS = re.compile(r"[、，,；;/\s]+")
_CONCEPT_ID = re.compile(r"[a-z][a-z0-9_]*")
# A top-level key of the YAML file: the line that ends the `concepts:` block.
_TOP_LEVEL_KEY = re.compile(r"^[A-Za-z_][\w-]*\s*:")


@dataclass(frozen=True)
class Label:
    id: str
    label: str
    description: str


@dataclass(frozen=True)
class Concept:
    """A thing ERP users ask about under many vendors' names (issue #19): id, module, generic Chinese words."""

    id: str
    module: str
    zh: tuple[str, ...]


@dataclass(frozen=True)
class Taxonomy:
    modules: tuple[Label, ...]
    urgency: tuple[Label, ...]
    hash: str
    concepts: tuple[Concept, ...] = ()

    def concept(self, concept_id: str) -> Concept | None:
        return next((c for c in self.concepts if c.id == concept_id), None)

    @property
    def module_ids(self) -> list[str]:
        return [m.id for m in self.modules]

    @property
    def urgency_ids(self) -> list[str]:
        return [u.id for u in self.urgency]

    def module_label(self, module_id: str) -> str:
        return next((m.label for m in self.modules if m.id == module_id), module_id)

    def check_tags(self, module: str | None, urgency: str | None) -> None:
        """``ValueError`` naming the valid choices if a tag an expert gives is not in this taxonomy."""
        if module is not None and module not in self.module_ids:
            raise ValueError(f"unknown module {module!r}; choose one of {', '.join(self.module_ids)}")
        if urgency is not None and urgency not in self.urgency_ids:
            raise ValueError(f"unknown urgency {urgency!r}; choose one of {', '.join(self.urgency_ids)}")

    def module_terms(self) -> list[tuple[str, str]]:
        """(term, module id) for each module's label and each term of its description (split on 、).

        The classifier learns these as extra short examples: the taxonomy says in so many words that
        发票 is finance and 考勤 is hr, which helps most where a module has few labelled questions.
        """
        terms: list[tuple[str, str]] = []
        for module in self.modules:
            for term in [module.label, *_TERM_SEPARATORS.split(module.description)]:
                if term.strip():
                    terms.append((term.strip(), module.id))
        return terms


def _model_relevant_text(text: str) -> str:
    """The file without its ``concepts:`` block (and the comment lines just above it).

    Concepts feed the vocabulary packs and a prediction-time prior, not the classifier's training, so
    adding or renaming one must not make a trained classifier refuse to load; a file without the block
    hashes exactly as before the block existed."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if re.match(r"^concepts\s*:", line)), None)
    if start is None:
        return text
    end = next((i for i in range(start + 1, len(lines)) if _TOP_LEVEL_KEY.match(lines[i])), len(lines))
    while start > 0 and (not lines[start - 1].strip() or lines[start - 1].startswith("#")):
        start -= 1
    return "".join(lines[:start] + lines[end:])


def _concepts(path: Path, items: object, module_ids: list[str]) -> tuple[Concept, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise ValueError(f"{path}: 'concepts' must be a list of {{id, module, zh}}")
    concepts: list[Concept] = []
    seen: set[str] = set()
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or not {"id", "module", "zh"} <= item.keys():
            raise ValueError(f"{path}: concept #{n} needs id, module and zh (a list of Chinese words), got {item!r}")
        concept_id, module = str(item["id"]), str(item["module"])
        if not _CONCEPT_ID.fullmatch(concept_id):
            raise ValueError(f"{path}: concept id {concept_id!r} must be snake_case (a-z, 0-9, _)")
        if concept_id in seen:
            raise ValueError(f"{path}: concept {concept_id!r} is listed twice")
        if module not in module_ids:
            raise ValueError(
                f"{path}: concept {concept_id!r} has unknown module {module!r}; choose one of {', '.join(module_ids)}"
            )
        words = item["zh"] if isinstance(item["zh"], list) else [item["zh"]]
        seen.add(concept_id)
        concepts.append(Concept(concept_id, module, tuple(str(w).strip() for w in words if str(w).strip())))
    return tuple(concepts)


def load_taxonomy(path: Path) -> Taxonomy:
    """Parse the taxonomy YAML; the content hash of its modules and urgency levels versions every model
    trained on it (the ``concepts:`` block is left out of the hash)."""
    raw = path.read_bytes()
    data = load_yaml(raw) or {}
    try:
        modules = tuple(Label(str(m["id"]), str(m["label"]), str(m.get("description", ""))) for m in data["modules"])
        urgency = tuple(Label(str(u["id"]), str(u["label"]), str(u.get("description", ""))) for u in data["urgency"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: taxonomy needs 'modules' and 'urgency' lists of {{id, label}} ({exc})") from exc
    if [u.id for u in urgency] != ["P1", "P2", "P3"]:
        raise ValueError(f"{path}: urgency levels must be P1, P2, P3 in that order")
    concepts = _concepts(path, data.get("concepts"), [m.id for m in modules])
    digest = hashlib.sha256(_model_relevant_text(raw.decode("utf-8")).encode("utf-8")).hexdigest()[:16]
    return Taxonomy(modules, urgency, digest, concepts)
