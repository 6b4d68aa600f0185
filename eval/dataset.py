"""Golden-format JSONL: {id, question, relevant: [source uri], module, urgency}. Bad lines are reported, not fatal."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GoldenQuestion", "Dataset", "load_dataset", "load_second_annotator", "second_annotator_path"]


@dataclass(frozen=True)
class GoldenQuestion:
    id: str
    question: str
    relevant: tuple[str, ...]
    module: str | None = None
    urgency: str | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.relevant)


@dataclass
class Dataset:
    path: Path
    questions: list[GoldenQuestion]
    problems: list[str] = field(default_factory=list)
    sha256: str = ""


def load_dataset(path: Path, known_sources: set[str] | None = None) -> Dataset:
    """Parse a dataset; lines with missing fields or unknown source ids are skipped and listed in ``problems``."""
    if not path.is_file():
        raise FileNotFoundError(f"dataset {path} does not exist")
    raw = path.read_bytes()
    questions: list[GoldenQuestion] = []
    problems: list[str] = []
    for line_no, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            question = str(record["question"]).strip()
            relevant = tuple(record["relevant"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            problems.append(f"{path}:{line_no}: skipped, missing or malformed field ({exc})")
            continue
        if not question:
            problems.append(f"{path}:{line_no}: skipped, empty question")
            continue
        unknown = [r for r in relevant if known_sources is not None and r.split("#")[0] not in known_sources]
        if unknown:
            problems.append(f"{path}:{line_no}: skipped, unknown source id(s) {', '.join(unknown)}")
            continue
        questions.append(
            GoldenQuestion(str(record.get("id", line_no)), question, relevant, record.get("module"), record.get("urgency"))
        )
    return Dataset(path, questions, problems, hashlib.sha256(raw).hexdigest())


def second_annotator_path(dataset_path: Path) -> Path:
    """Where a second, independent annotator's labels for a dataset live: ``golden.jsonl`` →
    ``golden.annotator2.jsonl``, one ``{"id", "urgency"?, "module"?}`` per line."""
    return dataset_path.with_name(f"{dataset_path.stem}.annotator2.jsonl")


def load_second_annotator(dataset_path: Path) -> dict[str, dict[str, str]]:
    """The second annotator's labels by question id (empty when there is no such file). How often two people
    applying the same rules agree is the ceiling a classifier can be held to on these labels."""
    path = second_annotator_path(dataset_path)
    if not path.is_file():
        return {}
    labels: dict[str, dict[str, str]] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            labels[str(record["id"])] = {k: str(record[k]) for k in ("module", "urgency") if record.get(k)}
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{line_no}: malformed second-annotator line ({exc})") from exc
    return labels
