"""The console's theme (django-unfold) in a real browser: headless Debian Chromium through
Playwright against pytest-django's live server.

- No console page logs a Content-Security-Policy violation (the console's policy is exactly
  what unfold needs: settings SECURE_CSP_CONSOLE) and every request goes to our own server
  (no CDN).
- On a phone (390x844) the page body never scrolls sideways; wide tables scroll inside their
  own container. On a desktop (1440x900) every column header of the customer, subscription and
  payment lists can be seen: in the viewport or inside the table's own scroll container; and
  at that size each of those lists fits: every header ends inside the viewport, in English
  and in Russian.
- The language follows the browser, and the operator's choice in the account menu switches it.
- Screenshots in English and Russian go to var/test-artifacts/ (theme-*.png).
"""

from datetime import timedelta
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from accounts.models import User
from accounts.tests.factories import CustomerFactory
from billing.models import PaymentStatus
from billing.tests.factories import PaymentFactory
from nodes.models import Node, NodeHealth
from nodes.tests.factories import NodeClientFactory, NodeFactory
from subscriptions.tests.factories import SubscriptionFactory, TariffFactory
from tests.browser import ARTIFACTS, CHROMIUM, console_log_in

PASSWORD = "browser-pass-123"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1440, "height": 900}
LOCALES = {"en": "en-US", "ru": "ru-RU"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]
sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright from PyPI")

# Collects what the page's Content-Security-Policy refused, before any page script runs.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    event.violatedDirective + " " + (event.blockedURI || "inline") + " "
      + (event.sample || "") + " @" + event.sourceFile + ":" + event.lineNumber
  );
});
"""


@pytest.fixture
def operator(transactional_db, monkeypatch):
    monkeypatch.setattr("notifications.services.outbox_send_task.delay", lambda *a: None)
    monkeypatch.setattr("notifications.tasks.outbox_send_task.apply_async", lambda *a, **k: None)
    monkeypatch.setattr(
        "subscriptions.tasks.subscription_keys_converge_task.delay", lambda *a: None
    )
    monkeypatch.setattr("nodes.tasks.node_keys_push_task.delay", lambda *a: None)
    return User.objects.create_superuser("chief", "chief@example.com", PASSWORD)


@pytest.fixture
def filled(operator):
    """Customers with long names, subscriptions, payments and nodes: the lists are wide."""
    tariff = TariffFactory(name="Month, 3 devices, unlimited traffic", price=Decimal("299.00"))
    subscriptions = [
        SubscriptionFactory(
            customer=CustomerFactory(
                username=f"a_rather_long_telegram_username_{i}",
                first_name="Konstantin-Alexander",
                last_name="Vasilyev-Rimsky-Korsakov",
            ),
            tariff=tariff,
            expires_at=timezone.now() + timedelta(days=2 + i * 10),
        )
        for i in range(3)
    ]
    for i, subscription in enumerate(subscriptions):
        PaymentFactory(
            customer=subscription.customer,
            tariff=tariff,
            subscription=subscription,
            amount=Decimal("299.00"),
            status=PaymentStatus.PAID,
            paid_at=timezone.now() - timedelta(days=i),
            days_credited=30,
            provider="robokassa",
        )
    NodeFactory(name="fra-1", health=NodeHealth.UP, latency_ms=37, max_clients=500)
    NodeFactory(name="ams-2", health=NodeHealth.DOWN, last_error="connection refused")
    return {"subscriptions": subscriptions}


class Console:
    """A logged-in page that records CSP violations, console errors and every request's host."""

    def __init__(self, browser, base: str, *, language: str = "en", viewport=DESKTOP):
        self.base = base
        self.context = browser.new_context(locale=LOCALES[language], viewport=viewport)
        self.context.add_init_script(RECORD_VIOLATIONS)
        self.page = self.context.new_page()
        self.page.set_default_timeout(15000)
        self.console_csp: list[str] = []
        self.hosts: set[str] = set()
        self.page.on("console", self._on_console)
        self.page.on("request", lambda request: self.hosts.add(urlsplit(request.url).netloc))
        console_log_in(self.page, base, "chief", PASSWORD)
        self.page.wait_for_url(f"{base}/admin/")

    def _on_console(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.console_csp.append(message.text)

    def open(self, path: str):
        self.page.goto(f"{self.base}{path}")
        self.page.wait_for_load_state("networkidle")
        return self.page

    def violations(self) -> list[str]:
        return [*self.console_csp, *self.page.evaluate("window.__cspViolations || []")]


def body_scrolls_sideways(page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth + 1"
    )


# For every column header: is it in the viewport, or can its own scroll container (an
# ancestor that scrolls sideways, inside the viewport) bring it into view?
HEADERS_REACHABLE = """
(selector) => {
  const viewport = document.documentElement.clientWidth;
  const scroller = (el) => {
    for (let node = el.parentElement; node; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (["auto", "scroll"].includes(style.overflowX) && node.scrollWidth > node.clientWidth) {
        return node;
      }
    }
    return null;
  };
  return [...document.querySelectorAll(selector)].filter((th) => th.offsetParent).map((th) => {
    const rect = th.getBoundingClientRect();
    const box = scroller(th);
    const inViewport = rect.left >= -1 && rect.right <= viewport + 1 && rect.width > 0;
    let inScroller = false;
    if (box) {
      const outer = box.getBoundingClientRect();
      const left = rect.left - outer.left + box.scrollLeft;
      inScroller = outer.right <= viewport + 1 && left >= -1
        && left + rect.width <= box.scrollWidth + 1;
    }
    return {text: th.innerText.trim(), visible: inViewport || inScroller};
  });
}
"""


def test_console_pages_log_no_csp_violation_and_load_only_our_files(live_server, filled, browser):
    console = Console(browser, live_server.url)
    subscription = filled["subscriptions"][0]
    paths = [
        "/admin/",
        "/admin/accounts/customer/",
        f"/admin/accounts/customer/{subscription.customer_id}/change/",
        "/admin/subscriptions/subscription/",
        f"/admin/subscriptions/subscription/{subscription.pk}/change/",
        "/admin/billing/payment/",
        "/admin/billing/payment/manual/",
        "/admin/nodes/node/add/",
        "/admin/constance/config/",
        "/admin/accounts/user/",
        "/admin/auth/group/add/",
        "/admin/core/auditlog/",
        "/admin/accounts/customer/export/",
    ]
    for path in paths:
        page = console.open(path)
        assert page.locator("#nav-sidebar-apps").count() == 1, path
        assert console.violations() == [], (path, console.violations())
    # The intermediate page of an action (a form of ours inside the theme).
    page = console.open("/admin/subscriptions/subscription/")
    page.check(f"input[name=_selected_action][value='{subscription.pk}']")
    page.select_option("select[name=action]", "extend_selected")
    page.click("button[name=index]")
    page.wait_for_load_state("networkidle")
    assert page.locator("#console-action-form").is_visible()
    assert console.violations() == []
    # Alpine.js runs (it needs the console's 'unsafe-eval'): the account menu opens.
    assert page.evaluate("typeof window.Alpine") == "object"
    assert console.hosts == {urlsplit(live_server.url).netloc}
    console.context.close()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_phone_dashboard_lists_and_a_customer_page_never_scroll_sideways(
    live_server, filled, browser, language
):
    console = Console(browser, live_server.url, language=language, viewport=PHONE)
    customer_id = filled["subscriptions"][0].customer_id
    pages = {
        "dashboard": "/admin/",
        "customers": "/admin/accounts/customer/",
        "customer": f"/admin/accounts/customer/{customer_id}/change/",
    }
    for name, path in pages.items():
        page = console.open(path)
        assert not body_scrolls_sideways(page), name
        page.screenshot(path=str(ARTIFACTS / f"theme-phone-{name}-{language}.png"), full_page=True)
    # On a phone unfold shows each row as a card (the headers become each cell's label):
    # every cell can be seen, in the viewport or inside its own scroll container.
    page = console.open("/admin/accounts/customer/")
    headers = page.evaluate(HEADERS_REACHABLE, "#result_list tbody td")
    assert headers
    assert all(h["visible"] for h in headers), headers
    assert console.violations() == []
    console.context.close()


@pytest.mark.parametrize(
    "path",
    ["/admin/accounts/customer/", "/admin/subscriptions/subscription/", "/admin/billing/payment/"],
)
def test_desktop_lists_show_every_column_header(live_server, filled, browser, path):
    console = Console(browser, live_server.url, viewport=DESKTOP)
    page = console.open(path)
    headers = page.evaluate(HEADERS_REACHABLE, "#result_list thead th")
    assert len(headers) >= 4
    assert all(h["visible"] for h in headers), headers
    assert not body_scrolls_sideways(page)
    console.context.close()


# Each header's box against the viewport, the page not scrolled: fits when it ends inside,
# on one line (a header or a short value cut in two lines "fits" only by being unreadable).
HEADERS_FIT = """
(selector) => {
  const viewport = document.documentElement.clientWidth;
  const lines = (el) => {  // distinct line boxes of its visible text
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    const tops = new Set();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const parent = node.parentElement;  // icons (sort arrows) are ligatures, not text
      if (!node.textContent.trim() || !parent.offsetParent
          || parent.closest(".material-symbols-outlined")) continue;
      const range = document.createRange();
      range.selectNodeContents(node);
      for (const r of range.getClientRects()) if (r.width > 0) tops.add(Math.round(r.bottom));
    }
    return tops.size;
  };
  return [...document.querySelectorAll(selector)].filter((el) => el.offsetParent).map((el) => {
    const rect = el.getBoundingClientRect();
    return {text: el.innerText.split("\\n")[0].trim(), right: Math.round(rect.right), viewport,
            lines: lines(el),
            fits: rect.left >= -1 && rect.right <= viewport + 1 && rect.width > 0};
  });
}
"""
# Values that must never wrap: ids, badges, money, days left.
SHORT_CELLS = ", ".join(
    f"#result_list td.field-{name}"
    for name in ("id", "telegram_id", "state", "status_label", "amount_shown", "days_left")
)


@pytest.mark.parametrize("language", ["en", "ru"])
@pytest.mark.parametrize(
    "path",
    ["/admin/accounts/customer/", "/admin/subscriptions/subscription/", "/admin/billing/payment/"],
)
def test_desktop_lists_fit_without_scrolling(live_server, filled, browser, path, language):
    """At 1440x900 every column header ends inside the viewport: nothing to scroll to."""
    node = Node.objects.get(name="fra-1")
    for subscription in filled["subscriptions"]:  # the nodes column with a key each
        NodeClientFactory(subscription=subscription, node=node)
    console = Console(browser, live_server.url, language=language, viewport=DESKTOP)
    page = console.open(path)
    headers = page.evaluate(HEADERS_FIT, "#result_list thead th")
    assert len(headers) >= 6
    assert [h for h in headers if not h["fits"]] == []
    assert [h for h in headers if h["lines"] > 1] == []
    cells = page.evaluate(HEADERS_FIT, SHORT_CELLS)
    assert len(cells) >= 3
    assert [c for c in cells if c["lines"] != 1] == []
    name = path.strip("/").rsplit("/", 1)[-1]
    page.screenshot(path=str(ARTIFACTS / f"theme-fit-{name}-{language}.png"))
    console.context.close()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_screenshots_of_the_dashboard_a_list_and_an_object_page(
    live_server, filled, browser, language
):
    console = Console(browser, live_server.url, language=language)
    subscription = filled["subscriptions"][1]
    shots = {
        "dashboard-filled": "/admin/",
        "subscriptions": "/admin/subscriptions/subscription/",
        "subscription": f"/admin/subscriptions/subscription/{subscription.pk}/change/",
    }
    for name, path in shots.items():
        page = console.open(path)
        target = ARTIFACTS / f"theme-{name}-{language}.png"
        page.screenshot(path=str(target), full_page=True)
        assert target.stat().st_size > 10_000
    console.context.close()


@pytest.mark.parametrize("language", ["en", "ru"])
def test_screenshot_of_an_empty_dashboard(live_server, operator, browser, settings, language):
    settings.TELEGRAM_BOT_TOKEN = ""
    console = Console(browser, live_server.url, language=language)
    page = console.open("/admin/")
    assert page.locator("#onboarding").is_visible()
    assert not body_scrolls_sideways(page)
    target = ARTIFACTS / f"theme-dashboard-empty-{language}.png"
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
    assert console.violations() == []
    console.context.close()


def test_the_console_follows_the_browser_then_the_operators_choice(live_server, operator, browser):
    console = Console(browser, live_server.url, language="en")
    page = console.open("/admin/")
    sidebar = page.locator("#nav-sidebar-apps")
    assert "Subscribers" in sidebar.inner_text()
    assert page.locator("html").get_attribute("lang") == "en"
    # The account menu's language switch (unfold's SHOW_LANGUAGES -> Django's set_language).
    page.locator("[x-on\\:click='openUserLinks = !openUserLinks']").click()
    page.locator("form[action='/i18n/setlang/'] button", has_text="Русский").click()
    page.wait_for_url(f"{live_server.url}/admin/")
    page.wait_for_load_state("networkidle")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert "Подписчики" in page.locator("#nav-sidebar-apps").inner_text()
    assert "Первые шаги" in page.locator("#onboarding h2").inner_text()
    # It sticks on the next page.
    page = console.open("/admin/accounts/customer/")
    assert page.locator("html").get_attribute("lang") == "ru"
    assert console.violations() == []
    console.context.close()
