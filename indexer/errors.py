"""Errors raised while reading sources and building indexes."""

from __future__ import annotations

from erp_assist.errors import ErpAssistError, IndexCorruptError, IndexNotFoundError

__all__ = ["SourceFormatError", "IndexCorruptError", "IndexNotFoundError", "BuildRefusedError", "PackError"]


class SourceFormatError(ErpAssistError, ValueError):
    """A source file cannot be read; the message names the file and what is wrong."""


class BuildRefusedError(ErpAssistError):
    """A build finished but failed verification, so it was not published."""


class PackError(ErpAssistError, ValueError):
    """An ERP vocabulary pack cannot be used; the message names the file, the line and what is wrong."""
