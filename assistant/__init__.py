"""The assistant service: suggestion core and its FastAPI shell."""

from assistant.service import Assistant

__all__ = ["Assistant", "create_app"]


def create_app(*args, **kwargs):  # noqa: ANN002, ANN003, ANN201 - re-export without importing FastAPI eagerly
    from assistant.app import create_app as _create_app

    return _create_app(*args, **kwargs)
