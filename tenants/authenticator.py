"""The tenants' side of `soc.core.deps.Authenticator`: tokens and ingest keys to principals."""

from __future__ import annotations

from sqlalchemy.orm import Session

from soc.core.db import Database
from soc.core.principal import Principal
from tenants import api_keys, api_tokens, login
from tenants.security import API_KEY_PREFIX


class TenantAuthenticator:
    api_key_prefix = API_KEY_PREFIX
    api_token_prefix = api_tokens.TOKEN_PREFIX

    def principal_from_token(self, session: Session, token: str) -> Principal:
        return login.principal_from_token(session, token)

    def principal_from_api_token(self, session: Session, token: str) -> Principal:
        return api_tokens.principal_from_api_token(session, token)

    def api_token_used(self, db: Database, token_id: int) -> None:
        api_tokens.record_use(db, token_id)

    def principal_from_api_key(self, session: Session, key: str) -> Principal:
        return api_keys.principal_from_api_key(session, key)
