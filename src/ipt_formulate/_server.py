"""``ipt-formulate serve``: a CDS Hooks service on Starlette and uvicorn (the ``[server]`` extra).

``GET /cds-services`` lists the service; ``POST /cds-services/ipt-formulation`` formulates the
QuestionnaireResponse of the request and answers with cards. Errors are JSON
(``{"error": {"code", "message", "path"}}``) with 400, 404, 412 or 413, never a traceback. The
body is read up to ``max_body`` bytes; the formulation runs in a bounded thread pool, off the
event loop.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .fhir._cds import SERVICE_ID, CdsError, handle_hook, service_definition
from .rulepack import RulePack

__all__ = ["DEFAULT_MAX_BODY", "create_app", "serve"]

DEFAULT_MAX_BODY = 2_000_000
"""Bytes of a hook request body (a QuestionnaireResponse is a few times the inventory)."""

_log = logging.getLogger("ipt_formulate.server")


def _error(exc: CdsError) -> JSONResponse:
    return JSONResponse({"error": exc.to_dict()}, status_code=exc.status)


async def _read_body(request: Request, max_body: int) -> bytes:
    declared = request.headers.get("content-length")
    too_large = CdsError(413, "request.too_large", f"request body over {max_body:,} bytes", "$")
    if declared is not None and declared.isdigit() and int(declared) > max_body:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(pack: RulePack, *, max_body: int = DEFAULT_MAX_BODY, workers: int = 4) -> Starlette:
    """The ASGI application for one rule pack."""
    limiter = anyio.CapacityLimiter(workers)

    async def discovery(request: Request) -> JSONResponse:
        return JSONResponse({"services": [service_definition()]})

    async def hook(request: Request) -> JSONResponse:
        try:
            if request.path_params["service"] != SERVICE_ID:
                raise CdsError(404, "cds.unknown_service", "no such service", "$")
            raw = await _read_body(request, max_body)
            try:
                body = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                msg = f"request body is not valid JSON: {str(exc)[:200]}"
                raise CdsError(400, "request.malformed_json", msg, "$") from None
            result = await anyio.to_thread.run_sync(handle_hook, body, pack, limiter=limiter)
            return JSONResponse(result)
        except CdsError as exc:
            return _error(exc)
        except Exception:  # a bug: logged here, never a traceback to the client
            _log.exception("internal error in %s", SERVICE_ID)
            return _error(CdsError(500, "server.internal", "internal error", "$"))

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        return _error(CdsError(404, "http.not_found", "no such endpoint", "$"))

    async def not_allowed(request: Request, exc: Exception) -> JSONResponse:
        return _error(CdsError(405, "http.method_not_allowed", "method not allowed", "$"))

    return Starlette(
        routes=[
            Route("/cds-services", discovery, methods=["GET"]),
            Route("/cds-services/{service}", hook, methods=["POST"]),
        ],
        exception_handlers={404: not_found, 405: not_allowed},
    )


def serve(pack: RulePack, host: str = "127.0.0.1", port: int = 8080, **options: Any) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(pack, **options), host=host, port=port, log_level="info")
