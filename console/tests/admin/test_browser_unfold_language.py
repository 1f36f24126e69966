"""unfold's own strings follow the browser's language: a Russian browser (locale ru-RU) opens
the customers' filter panel and reads it, the actions bar and the sidebar search in Russian,
an English one in English. Screenshots: var/test-artifacts/console-filters-<lang>.png.
"""

import pytest

from console.tests.admin.test_browser import (  # noqa: F401 - fixtures
    CHROMIUM,
    console_data,
    log_in,
    quiet_side_effects,
)
from console.tests.admin.test_browser_language import language, page  # noqa: F401 - fixtures
from console.tests.admin.test_unfold_translations import _unfold_english
from tests.browser import ARTIFACTS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]

EXPECTED = {
    "ru": {
        "filters": "Фильтры",
        "panel": "Показать счётчики",
        "search": "Поиск по разделам и моделям…",
        "actions": "Выберите действие",
    },
    "en": {
        "filters": "Filters",
        "panel": "Show counts",
        "search": "Search apps and models...",
        "actions": "Select action",
    },
}


def test_the_filter_panel_speaks_the_browsers_language(live_server, console_data, page, language):  # noqa: F811
    base = live_server.url
    log_in(page, base)
    expected = EXPECTED[language]
    page.goto(base + "/admin/accounts/customer/")
    assert page.locator("html").get_attribute("lang") == language
    page.locator("input.action-select").first.check()  # the actions bar shows for a selection
    panel = page.locator("#changelist-filter")
    assert not panel.is_visible()
    button = page.locator("a", has_text="filter_list")  # the panel's button and its icon
    assert expected["filters"] in button.inner_text()
    button.click()
    panel.wait_for(state="visible")
    assert expected["panel"] in panel.inner_text()
    sidebar_search = page.locator(f'[placeholder="{expected["search"]}"]')
    assert sidebar_search.count() == 1
    body = page.locator("body").inner_text()
    assert expected["actions"] in body
    if language == "ru":
        assert _unfold_english(body) == []
    else:
        assert {"Filters", "Select action"} <= set(_unfold_english(body))
    page.screenshot(path=str(ARTIFACTS / f"console-filters-{language}.png"), full_page=True)
