"""The ERP package's domain errors; routes and the CLI turn them into answers and exit codes."""

from __future__ import annotations

from erp_assist.errors import ErpAssistError

__all__ = ["ErpError", "ErpUnreachableError", "LookupNotAllowedError", "ErpConfigError"]


class ErpError(ErpAssistError):
    """The ERP answered, but not with what was asked (an RPC error other than access)."""


class ErpUnreachableError(ErpError):
    """The ERP did not answer (network, timeout, login refused, server error): nothing was looked up."""


class LookupNotAllowedError(ErpError):
    """The tenant's whitelist does not let this lookup read what it needs (or the ERP refused the read)."""


class ErpConfigError(ErpAssistError, ValueError):
    """A tenant's ERP configuration (erp.yaml) is missing something or asks for what may not be read."""
