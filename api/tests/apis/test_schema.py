"""The OpenAPI schema: generated without a warning and valid (what CI checks), every
operation described with examples that match what the endpoints answer; the schema and
Swagger UI need a console session or a token, and the page is served from our own static
files under the site's Content-Security-Policy."""

import re

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS

from accounts.tests.factories import UserFactory
from api.scopes import Scope
from api.tests.conftest import assert_error
from core.middleware import csp_header_value

pytestmark = pytest.mark.django_db

SCHEMA = "/api/v1/schema/"
DOCS = "/api/v1/docs/"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory, django_db_blocker) -> dict:
    """`manage.py spectacular --validate --fail-on-warn`: any warning or invalid output fails."""
    out = tmp_path_factory.mktemp("schema") / "schema.yaml"
    GENERATOR_STATS.reset()
    with django_db_blocker.unblock():
        call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    return yaml.safe_load(out.read_text())


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def resolve(schema, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def test_the_schema_generates_without_warnings_and_validates(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "vpnsite operator API"
    assert schema["components"]["securitySchemes"]["ApiToken"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "vpnsite_<prefix>_<secret>",
        "description": schema["components"]["securitySchemes"]["ApiToken"]["description"],
    }


def test_only_the_operator_and_subscriber_apis_are_documented(schema):
    assert set(schema["paths"]) == {
        "/api/v1/customers/",
        "/api/v1/customers/{id}/",
        "/api/v1/subscriptions/",
        "/api/v1/subscriptions/{id}/",
        "/api/v1/subscriptions/{id}/extend/",
        "/api/v1/subscriptions/{id}/expire/",
        "/api/v1/subscriptions/{id}/reprovision/",
        "/api/v1/payments/",
        "/api/v1/payments/{id}/",
        "/api/v1/payments/{id}/refund/",
        "/api/v1/nodes/",
        "/api/v1/nodes/{id}/",
        "/api/v1/nodes/{id}/reconcile/",
        "/api/v1/tariffs/",
        "/api/v1/statistics/",
        "/api/app/v1/me/",
        "/api/app/v1/me/language/",
        "/api/app/v1/balance/",
        "/api/app/v1/promo/",
        "/api/app/v1/referral/",
        "/api/app/v1/subscriptions/",
        "/api/app/v1/subscriptions/{subscription_id}/",
        "/api/app/v1/subscriptions/{subscription_id}/devices/{device_id}/",
        "/api/app/v1/tariffs/",
        "/api/app/v1/checkout/",
        "/api/app/v1/checkout/free/",
        "/api/app/v1/payments/{payment_id}/",
        "/api/app/v1/payments/{payment_id}/pay-from-balance/",
    }
    assert schema["components"]["securitySchemes"]["TelegramInitData"]["name"] == "Authorization"


def test_every_operation_is_described_with_examples(schema):
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert len(operation.get("description", "")) > 40, where
        # The subscriber API (Mini App) is called with Telegram's initData, never a token.
        scheme = "TelegramInitData" if path.startswith("/api/app/v1/") else "ApiToken"
        assert operation["security"] == [{scheme: []}], where
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, where
        for code, response in operation["responses"].items():
            assert response.get("description"), f"{where} {code}"
            content = response["content"]["application/json"]
            assert content.get("examples"), f"{where} {code} has no example"
            if not code.startswith("2"):
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, where
        assert {"401", "403", "429"} <= set(operation["responses"]), where
        body = operation.get("requestBody")
        if body is not None:
            assert body["content"]["application/json"].get("examples"), f"{where} request"


def test_examples_have_exactly_the_fields_the_endpoints_answer(schema):
    """An example that drifts from its serializer fails here (nested objects included)."""

    def check(where, node, value):
        node = resolve(schema, node)
        if value is None:
            assert node.get("nullable") or "allOf" in node or "oneOf" in node, where
            return
        if node.get("type") == "array":
            assert isinstance(value, list), where
            for item in value:
                check(where, node["items"], item)
        elif "properties" in node:
            assert set(value) == set(node["properties"]), (
                f"{where}: {set(value) ^ set(node['properties'])}"
            )
            for name, item in value.items():
                check(f"{where}.{name}", node["properties"][name], item)

    for path, method, operation in operations(schema):
        for code, response in operation["responses"].items():
            content = response["content"]["application/json"]
            for name, example in content["examples"].items():
                check(f"{method.upper()} {path} {code} {name}", content["schema"], example["value"])
        body = operation.get("requestBody")
        if body is not None:
            content = body["content"]["application/json"]
            for name, example in content["examples"].items():
                check(
                    f"{method.upper()} {path} request {name}", content["schema"], example["value"]
                )


def test_the_schema_needs_a_token_or_a_console_session(client, api, tokens):
    assert_error(client.get(SCHEMA), 401, "not_authenticated")
    response = api.get(SCHEMA, tokens[Scope.READ_ONLY].raw)
    assert response.status_code == 200
    assert b"/api/v1/subscriptions/{id}/extend/" in response.content


def test_staff_signed_in_to_the_console_read_the_schema(client, superuser):
    client.force_login(superuser)
    response = client.get(SCHEMA, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "vpnsite operator API"


def test_a_signed_in_user_who_is_not_staff_is_refused(client):
    client.force_login(UserFactory(is_staff=False))
    assert_error(client.get(SCHEMA), 403, "permission_denied")


def test_anonymous_people_are_sent_to_the_console_login(client):
    response = client.get(DOCS)
    assert response.status_code == 302
    assert response["Location"].startswith(f"/{settings.ADMIN_URL}login/?next=")


def test_swagger_ui_comes_from_our_static_files_under_our_csp(client, superuser):
    client.force_login(superuser)
    page = client.get(DOCS)
    assert page.status_code == 200
    html = page.content.decode()
    assert page["Content-Security-Policy"] == csp_header_value(settings.SECURE_CSP)
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]
    assert "cdn" not in html.lower()
    assert "http://" not in html
    assert "https://" not in html
    # No inline code: every script has a src, no <style> element, no style attribute.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert "<style" not in html
    assert "style=" not in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in sources
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css" in sources
    assert "/static/api/docs.css" in sources
    for source in sources:
        if source.startswith("/static/"):
            assert finders.find(source.removeprefix("/static/")), source
    script = next(s for s in sources if "script" in s and s.startswith(DOCS))
    start = client.get(script)
    assert start.status_code == 200
    assert start["Content-Type"].startswith("application/javascript")
    assert b'url: "/api/v1/schema/"' in start.content
