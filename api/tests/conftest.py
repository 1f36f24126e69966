"""API fixtures: console users of each role, a token of each scope made the way the
console makes them (``api_token_create``), and a client that sends one."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import User
from accounts.tests.factories import UserFactory
from api.models import ApiToken
from api.scopes import Scope
from api.services import api_token_create

# The console group whose members get a token of each scope (docs/console.md): read-only
# tokens belong to support staff, who can view everything.
SCOPE_GROUP = {Scope.READ_ONLY: "support", Scope.SUPPORT: "support", Scope.OPERATORS: "operators"}


def member(username: str, group: str) -> User:
    user = UserFactory(username=username)  # staff
    user.groups.add(Group.objects.get(name=group))
    return user


@dataclass
class Issued:
    token: ApiToken
    raw: str

    @property
    def owner(self) -> User:
        return self.token.owner


@pytest.fixture
def issue(db, superuser):
    """``issue(scope, owner=None, **fields)``: a token made by a superuser in the console."""

    def make(scope: str, owner: User | None = None, **fields) -> Issued:
        owner = owner or member(f"{scope}-owner-{User.objects.count()}", SCOPE_GROUP[scope])
        token, raw = api_token_create(
            owner=owner,
            scope=scope,
            name=fields.pop("name", f"{scope} token"),
            actor=superuser,
            **fields,
        )
        return Issued(token=token, raw=raw)

    return make


@pytest.fixture
def tokens(issue) -> dict[str, Issued]:
    """One token of each scope, each owned by a member of the matching console group."""
    return {scope: issue(scope) for scope in Scope.values}


class ApiClient:
    """Django's test client speaking JSON with an optional Bearer token."""

    def __init__(self, client: Client):
        self.client = client

    def call(self, method: str, path: str, raw: str | None = None, data=None, **extra):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"} if raw is not None else {}
        if method == "get":
            return self.client.get(path, data or {}, **headers, **extra)
        return getattr(self.client, method)(
            path,
            json.dumps(data) if data is not None else "",
            content_type="application/json",
            **headers,
            **extra,
        )

    def get(self, path: str, raw: str | None = None, data=None, **extra):
        return self.call("get", path, raw, data, **extra)

    def post(self, path: str, raw: str | None = None, data=None, **extra):
        return self.call("post", path, raw, data, **extra)


@pytest.fixture
def api(client) -> ApiClient:
    return ApiClient(client)


def assert_error(response, status: int, code: str) -> dict:
    """The answer is an error of the API's one shape, with this status and code."""
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    assert isinstance(body["fields"], dict)
    return body
