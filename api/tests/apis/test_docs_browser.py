"""Swagger UI at /api/v1/docs/ in a real browser (Debian's headless Chromium): it renders the
operator API's operations from the project's own static files, under the project's Content
Security Policy, with nothing refused and no script error."""

import pytest

from accounts.models import User
from console.tests.admin.test_browser import (  # noqa: F401 - `page` is a fixture
    ARTIFACTS,
    CHROMIUM,
    PASSWORD,
    log_in,
    page,
    sync_api,
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


def test_swagger_ui_renders_the_operations_under_the_csp(live_server, transactional_db, page):  # noqa: F811
    User.objects.create_superuser("chief", "chief@example.com", PASSWORD)
    log_in(page, live_server.url)
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on(
        "requestfailed",
        lambda request: problems.append(f"{request.url}: {request.failure}"),
    )
    external: list[str] = []
    page.on(
        "request",
        lambda request: (
            not request.url.startswith(live_server.url)
            and not request.url.startswith("data:")
            and external.append(request.url)
        ),
    )
    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .opblock", timeout=20000)
    operations = page.locator(".swagger-ui .opblock-summary-path").all_inner_texts()
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=False)
    assert any("/api/v1/subscriptions/" in path for path in operations), operations
    assert any("/api/v1/payments/" in path for path in operations), operations
    assert problems == []
    assert external == []
