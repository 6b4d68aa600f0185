"""Domain errors shared by every stage; only the CLI and the HTTP routes translate them."""

from __future__ import annotations

__all__ = ["ErpAssistError", "InvalidQuestionError", "IndexNotFoundError", "IndexCorruptError", "ModelNotTrainedError",
           "StoreBusyError"]


class ErpAssistError(Exception):
    """Base of every error erp-assist raises on purpose."""


class InvalidQuestionError(ErpAssistError, ValueError):
    """The question is empty, too long, or has no readable text."""


class IndexNotFoundError(ErpAssistError):
    """No published index exists yet: run ``erp-assist index``."""


class IndexCorruptError(ErpAssistError):
    """An index build is incomplete or does not match its manifest."""


class ModelNotTrainedError(ErpAssistError):
    """The classifier file is missing or was trained for another taxonomy."""


class StoreBusyError(ErpAssistError):
    """The review store is momentarily busy (locked or out of connections); the caller may retry shortly.

    HTTP routes answer 503 with ``Retry-After``; nothing of the request was stored."""

    retry_after_seconds = 1
