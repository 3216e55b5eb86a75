"""The status page in a real headless browser (Debian's Chromium, driven by Selenium) against
`aibtrigger dev` with the local backend: real builds, real logs, the page's own live updates.

Screenshots go to a pytest temporary folder (printed at the end of the session); set
AIBTRIGGER_SCREENSHOTS_TO=<folder> to also copy them there (the README's come from docs/img/).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from aibtrigger.domain.lineage import LineageGraph
from aibtrigger.domain.model import RunState

pytestmark = pytest.mark.e2e
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        message = "Chromium or its driver is missing: `make test` (or `make browser`) installs them"
        if os.environ.get("AIBTRIGGER_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = tmp_path_factory.mktemp("status-screenshots")
    copy_to = os.environ.get("AIBTRIGGER_SCREENSHOTS_TO")

    def save(driver, name: str) -> Path:
        path = folder / f"{name}.png"
        width, height = driver.execute_script(
            "return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        shot = driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {  # the whole page, not only the window
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": min(height, 2400), "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        if copy_to:
            shutil.copy(path, Path(copy_to) / path.name)
        return path

    yield save
    print(f"\nstatus page screenshots: {folder}")


def page_url(stack, path: str = "") -> str:
    return f"{stack.url}/api/status{path}"


def get_json(url: str):
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Content-Type"].startswith("application/json")
        return json.loads(response.read())


def css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def text(driver, selector: str) -> str:
    """The first match's text, "" when there is none (yet)."""
    found = css(driver, selector)
    return found[0].text if found else ""


def wait_for(stack, driver, predicate, what: str, timeout: float = 90):
    """Polls `predicate(driver)`; an element replaced or not there yet (the page reloading) means 'not yet'."""
    from selenium.common.exceptions import WebDriverException

    def check():
        try:
            return predicate(driver)
        except (WebDriverException, IndexError):
            return None

    return stack.wait(check, timeout=timeout, what=what)


def actions_on(driver) -> list:
    return css(driver, "form, button, input[type=submit]")


def test_overview_lists_the_catalog_and_offers_no_action(stack, browser, shots):
    browser.get(page_url(stack))
    names = [row.get_attribute("data-template") for row in css(browser, "tbody tr[data-template]")]
    assert names == [entry.name for entry in stack.deps.catalog.templates]
    assert browser.title == "Templates · aibtrigger"
    assert actions_on(browser) == []  # read-only view
    assert all(link.get_attribute("href") for link in css(browser, "tbody th a"))
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    ActionChains(browser).send_keys(Keys.TAB).perform()  # the keyboard's first stop skips to the content
    assert browser.execute_script("return document.activeElement.textContent") == "Skip to content"


def test_each_view_as_json_is_the_data_the_page_shows(stack, browser):
    stack.settle()
    overview = get_json(page_url(stack))
    browser.get(page_url(stack))
    shown = {
        row.get_attribute("data-template"): row.find_element("css selector", "[data-k=state_label]").text
        for row in css(browser, "tbody tr[data-template]")
    }
    assert shown == {t["name"]: t["state_label"] for t in overview["templates"]}

    lineage = get_json(page_url(stack, "/lineage"))
    browser.get(page_url(stack, "/lineage"))
    drawn = {p.get_attribute("data-edge") for p in css(browser, "path.edge")}
    assert drawn == {f"{e['parent']}>{e['child']}" for e in lineage["edges"]}
    assert {n.get_attribute("data-template") for n in css(browser, "a.node")} == {n["name"] for n in lineage["nodes"]}

    page = get_json(page_url(stack, "/templates/ubuntu-base"))
    browser.get(page_url(stack, "/templates/ubuntu-base"))
    timeline = [li.get_attribute("data-run") for li in css(browser, "ol.timeline li")]
    assert timeline == [r["run_id"] for r in page["runs"]]
    assert text(browser, "#state") == page["template"]["state_label"]
    assert page["verdict"]["action"] in ("build", "skip", "wait") and page["verdict"]["reasons"]


def test_a_failed_build_shows_its_excerpt(stack, browser, shots):
    result = stack.cli("request", "broken-example", "--wait", "--timeout", "120", check=False)
    assert result.returncode == 1, result.stdout
    browser.get(page_url(stack, "/templates/broken-example"))
    failure = text(browser, "#failure")
    assert "Unable to locate package nginx-extras-does-not-exist" in failure
    assert "exit status 100" in failure
    assert css(browser, "ol.timeline li")[0].get_attribute("class") == "r-Failed"
    shots(browser, "status-template-failed")


def test_the_lineage_draws_every_edge_and_links_each_node(stack, browser, shots):
    graph = LineageGraph.from_catalog(stack.deps.catalog)
    expected = {f"{parent}>{child}" for child in graph.names for parent in graph.parents(child)}
    browser.get(page_url(stack, "/lineage"))
    assert expected and {p.get_attribute("data-edge") for p in css(browser, "path.edge")} == expected
    nodes = {n.get_attribute("data-template"): n for n in css(browser, "a.node")}
    assert set(nodes) == set(graph.names)
    top = {name: float(node.find_element("css selector", "rect").get_attribute("y")) for name, node in nodes.items()}
    assert all(top[parent] < top[child] for child in graph.names for parent in graph.parents(child))
    assert actions_on(browser) == []  # read-only view
    shots(browser, "status-lineage")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    browser.execute_script("arguments[0].focus()", nodes["web-tier"])  # a node is a link: focusable, Enter follows
    assert browser.execute_script("return document.activeElement.getAttribute('data-template')") == "web-tier"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_for(stack, browser, lambda d: urlsplit(d.current_url).path.endswith("/templates/web-tier"), "the node's link")
    assert "ubuntu-base" in text(browser, "#facts")  # its parent


def test_request_a_build_from_the_template_page(stack, browser):
    from selenium.webdriver.common.keys import Keys

    browser.get(page_url(stack, "/templates/ubuntu-base"))
    field = css(browser, "input#reason")[0]
    assert css(browser, "label[for=reason]")  # labelled
    field.send_keys("asked from the browser", Keys.ENTER)  # keyboard only
    wait_for(stack, browser, lambda d: "queued" in d.current_url, "the redirect back to the page")
    request_id = parse_qs(urlsplit(browser.current_url).query)["queued"][0]
    assert request_id in text(browser, "[role=status]")
    run = stack.run_for("ubuntu-base", request_id)
    assert run.state is RunState.SUCCEEDED and "asked from the browser" in run.reasons
    # The page reloads itself as the build starts and ends: it ends up showing the finished run on top.
    wait_for(
        stack,
        browser,
        lambda d: css(d, "ol.timeline li")[0].get_attribute("data-run") == run.run_id and not css(d, "#current"),
        "the page to show the finished run",
    )
    assert css(browser, "ol.timeline li")[0].get_attribute("class") == "r-Succeeded"


def test_a_running_build_appears_live_with_its_sub_state_and_log_lines(stack, browser, shots):
    browser.get(page_url(stack))
    browser.execute_script("window.notReloaded = true")  # the live script updates in place
    stack.cli("request", "slow-example", "--reason", "status page e2e", "--force")
    try:
        row = css(browser, 'tr[data-template="slow-example"]')[0]
        wait_for(stack, browser, lambda d: "st-building" in row.get_attribute("class"), "the overview to show it")
        wait_for(
            stack,
            browser,
            lambda d: row.find_element("css selector", "[data-k=sub_state]").text in ("Building", "Customizing"),
            "its sub-state on the overview",
        )
        assert browser.execute_script("return window.notReloaded") is True
        shots(browser, "status-overview")
        browser.get(page_url(stack, "/templates/slow-example"))
        wait_for(stack, browser, lambda d: "working" in text(d, "#log"), "the live log to show 'working'")
        assert text(browser, "#current [data-k=sub_state]") in ("Building", "Customizing")
        assert text(browser, "#state") == "Building"
        shots(browser, "status-template-building")
        shown = css(browser, "#current")[0].get_attribute("data-run")
    finally:
        stack.cli("cancel", "slow-example", check=False)
    # The backend's own state at once (the run record learns it at its next poll: seconds without a
    # history, near the expected end with one); once recorded, the page reloads with the run ended.
    wait_for(
        stack,
        browser,
        lambda d: (
            text(d, "#current [data-k=state]") in ("Canceling", "Canceled")
            or css(d, f'ol.timeline li[data-run="{shown}"]')[0].get_attribute("class") == "r-Canceled"
        ),
        "the page to show the build canceling or canceled",
    )


def test_usable_at_phone_width(stack, browser, shots):
    browser.set_window_size(390, 844)
    try:
        for path in ("", "/lineage", "/templates/ubuntu-base"):
            browser.get(page_url(stack, path))
            overflow = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{path or '/'}: the page is {overflow}px wider than a phone"
        shots(browser, "status-template-phone")
    finally:
        browser.set_window_size(1280, 1000)
