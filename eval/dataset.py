"""Golden-format JSONL: {id, question, relevant: [source uri], module, urgency}. Bad lines are reported, not fatal."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GoldenQuestion", "Dataset", "load_dataset"]


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
