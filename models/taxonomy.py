"""The module/urgency taxonomy, read from a data file so a company can extend it without code changes."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["Label", "Taxonomy", "load_taxonomy"]

_TERM_SEPARATORS = re.compile(r"[、，,；;/\s]+")


@dataclass(frozen=True)
class Label:
    id: str
    label: str
    description: str


@dataclass(frozen=True)
class Taxonomy:
    modules: tuple[Label, ...]
    urgency: tuple[Label, ...]
    hash: str

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


def load_taxonomy(path: Path) -> Taxonomy:
    """Parse the taxonomy YAML; its content hash versions every model trained on it."""
    raw = path.read_bytes()
    data = yaml.safe_load(raw) or {}
    try:
        modules = tuple(Label(str(m["id"]), str(m["label"]), str(m.get("description", ""))) for m in data["modules"])
        urgency = tuple(Label(str(u["id"]), str(u["label"]), str(u.get("description", ""))) for u in data["urgency"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: taxonomy needs 'modules' and 'urgency' lists of {{id, label}} ({exc})") from exc
    if [u.id for u in urgency] != ["P1", "P2", "P3"]:
        raise ValueError(f"{path}: urgency levels must be P1, P2, P3 in that order")
    return Taxonomy(modules, urgency, hashlib.sha256(raw).hexdigest()[:16])
