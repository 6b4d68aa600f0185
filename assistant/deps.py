"""FastAPI dependencies: the tenants' assistants, the store and the caller's API key live on ``app.state``.

The caller's key carries its tenant; ``AssistantDep`` is that tenant's assistant, and routes pass ``key.tenant``
to every store function, so no route can reach another tenant's knowledge base or questions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy import Engine

from assistant.auth import allows
from assistant.service import Assistant
from assistant.store import ApiKey, find_key
from assistant.tenants import TenantPool
from models.taxonomy import Taxonomy

__all__ = [
    "AssistantDep", "StoreDep", "TenantsDep", "TaxonomyDep", "AskerKey", "ExpertKey", "AdminKey",
    "get_assistant", "get_taxonomy", "require",
]


def get_store(request: Request) -> Engine:
    return request.app.state.store


def get_tenants(request: Request) -> TenantPool:
    return request.app.state.tenants


def get_taxonomy(request: Request) -> Taxonomy:
    """The taxonomy the loaded classifier was trained for (read once at start-up, shared by every tenant)."""
    return get_tenants(request).models.classifier.taxonomy


def _caller(
    request: Request,
    x_api_key: Annotated[str | None, Header(description="API key (or Authorization: Bearer <key>)")] = None,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> ApiKey:
    plain = x_api_key or (authorization[7:] if authorization and authorization.lower().startswith("bearer ") else None)
    if not plain:
        raise HTTPException(status_code=401, detail="missing API key: send it in the X-API-Key header",
                            headers={"WWW-Authenticate": "Bearer"})
    key = find_key(request.app.state.store, plain=plain)
    if key is None:
        raise HTTPException(status_code=401, detail="unknown or revoked API key", headers={"WWW-Authenticate": "Bearer"})
    if not request.app.state.rate_limiter.allow(key.id):
        raise HTTPException(status_code=429, detail="too many requests for this key; retry in a minute",
                            headers={"Retry-After": "60"})
    request.state.key = key
    return key


def get_assistant(request: Request, key: Annotated[ApiKey, Depends(_caller)]) -> Assistant:
    """The assistant of the caller's tenant (``TenantNotReadyError``, a 503, while it has no published index)."""
    return get_tenants(request).get(key.tenant)


def require(role: str):  # noqa: ANN201 - a FastAPI dependency
    def check(key: Annotated[ApiKey, Depends(_caller)]) -> ApiKey:
        if not allows(key.role, role):
            raise HTTPException(status_code=403, detail=f"this needs a {role} key; yours is {key.role}")
        return key

    return check


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
StoreDep = Annotated[Engine, Depends(get_store)]
TenantsDep = Annotated[TenantPool, Depends(get_tenants)]
TaxonomyDep = Annotated[Taxonomy, Depends(get_taxonomy)]
AskerKey = Annotated[ApiKey, Depends(require("asker"))]
ExpertKey = Annotated[ApiKey, Depends(require("expert"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
