"""FastAPI dependencies: the loaded assistant lives on ``app.state``, never in a module global."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from assistant.service import Assistant

__all__ = ["AssistantDep", "get_assistant"]


def get_assistant(request: Request) -> Assistant:
    assistant: Assistant = request.app.state.assistant
    assistant.refresh()
    return assistant


AssistantDep = Annotated[Assistant, Depends(get_assistant)]
