"""The browser playground: `create_app()` (a FastAPI app) and `serve(host, port)` (`mlplab serve`)."""

from .app import create_app, serve

__all__ = ["create_app", "serve"]
