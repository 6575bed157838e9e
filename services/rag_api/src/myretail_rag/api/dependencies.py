"""FastAPI dependencies: the app's parts for a request, and the admin-token check.

:func:`get_components` is the one place that reads the app's state; routes declare what
they need (``ComponentsDep``, ``SettingsDep``) as typed parameters.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from myretail_common.errors import UnauthorizedError
from myretail_rag.api.components import Components
from myretail_rag.settings import RagSettings

bearer = HTTPBearer(auto_error=False, description="ADMIN_TOKEN, when the service sets one")


async def get_components(request: Request) -> Components:
    """The parts ``create_app`` built for this app. (Dependencies are ``async``: FastAPI
    runs a plain ``def`` one in its thread pool, a thread hop per request for nothing.)"""
    components: Components = request.app.state.components
    return components


ComponentsDep = Annotated[Components, Depends(get_components)]


async def get_settings(components: ComponentsDep) -> RagSettings:
    return components.settings


SettingsDep = Annotated[RagSettings, Depends(get_settings)]


async def require_admin(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> None:
    """The Bearer token must be ``ADMIN_TOKEN`` when the service sets one."""
    token = settings.admin_token
    if token is None:
        return
    supplied = credentials.credentials if credentials else ""
    if not hmac.compare_digest(supplied.encode(), token.get_secret_value().encode()):
        raise UnauthorizedError()
