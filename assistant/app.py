"""``create_app(settings)``: the FastAPI shell around ``Assistant``, which is loaded once at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from assistant.routes import health, sources, suggest
from assistant.service import Assistant
from erp_assist import __version__
from erp_assist.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, assistant: Assistant | None = None) -> FastAPI:
    """A new app; pass an already loaded ``assistant`` to share one across apps (tests)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.assistant = assistant or Assistant(settings).load()
        yield

    app = FastAPI(title="erp-assist", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.include_router(health.router)
    app.include_router(suggest.router)
    app.include_router(sources.router)
    return app
