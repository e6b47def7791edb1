"""The web page in a real browser (Debian's chromium via chromedriver), with no network.

Needs ``chromium`` and ``/usr/bin/chromedriver`` (``make test`` installs them: .ci/ensure-chromium.sh);
skips with that reason where they are missing. Selenium gets the driver path, so Selenium
Manager never tries to download one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.served import Served, serve

DRIVER = Path("/usr/bin/chromedriver")
pytestmark = [
    pytest.mark.skipif(
        not DRIVER.exists() or shutil.which("chromium") is None,
        reason="chromium + chromium-driver not installed (run .ci/ensure-chromium.sh)",
    ),
    pytest.mark.xdist_group("browser"),
]

# Everything but loopback goes to a dead proxy and no name resolves: the page must still work.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    "--proxy-server=http://127.0.0.1:9",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
]


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="chamberlain-chromium-")
    opts = webdriver.ChromeOptions()
    for f in FLAGS:
        opts.add_argument(f)
    opts.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=opts)
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path) as s:
        yield s


def _sign_in(driver: Any, s: Served, user: str) -> None:
    from selenium.webdriver.common.by import By

    driver.delete_all_cookies()
    driver.get(s.url + "/web/signin")
    driver.find_element(By.NAME, "api_key").send_keys(s.keys[user])
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    from selenium.webdriver.support.ui import WebDriverWait

    # Wait until the sign-in's redirect has landed (and its cookie is set) before going on.
    WebDriverWait(driver, 20).until(lambda d: "/web/signin" not in d.current_url)


def test_sign_in_approve_and_see_it_executed_offline(browser: Any, served: Served, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    out = served.rt.ask("u_alice", "The Acme renewal is signed, close it.", thread_id="t-browser")
    approval_id = out.pending[0].id

    _sign_in(browser, served, "u_raj")
    assert browser.current_url.endswith("/web/approvals")
    card = browser.find_element(By.ID, f"approval-{approval_id}")
    assert "Contract sent" in card.text and "Closed won" in card.text and "sales manager" in card.text
    # Offline: every resource came from the app itself, and the stylesheet applied.
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
    assert resources and all(r.startswith(served.url) for r in resources)
    assert (
        browser.execute_script("return getComputedStyle(document.documentElement).backgroundColor")
        == "rgb(245, 246, 248)"
    )
    browser.save_screenshot(str(tmp_path / "approvals.png"))

    card.find_element(By.CSS_SELECTOR, "button[value=approve]").click()
    _wait_for_text(browser, ".flash", "now executed")
    assert browser.find_element(By.CSS_SELECTOR, ".pill").text == "executed"
    assert "closedwon" in browser.find_element(By.CSS_SELECTOR, ".result pre").text
    assert served.rt.approvals.get(approval_id).status == "executed"
    assert served.crm.get("deals", "30001", ["dealstage"]).properties["dealstage"] == "closedwon"


def _wait_for_text(browser: Any, css: str, text: str, timeout: float = 20) -> None:
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
        lambda d: text in d.find_element(By.CSS_SELECTOR, css).text
    )


def test_another_user_gets_403_and_a_form_without_csrf_is_refused(browser: Any, served: Served) -> None:
    from selenium.webdriver.common.by import By

    out = served.rt.ask("u_alice", "The Acme renewal is signed, close it.", thread_id="t-browser-2")
    approval_id = out.pending[0].id

    _sign_in(browser, served, "u_mallory")
    browser.get(f"{served.url}/web/approvals/{approval_id}")
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "Not yours to see" in body
    for secret in ("Acme", "Contract sent", "Closed won", "Alice"):
        assert secret not in browser.page_source

    _sign_in(browser, served, "u_raj")
    browser.get(f"{served.url}/web/approvals")
    browser.execute_script("document.querySelectorAll('input[name=csrf]').forEach(e => e.remove())")
    browser.find_element(By.CSS_SELECTOR, f"#approval-{approval_id} button[value=approve]").click()
    # The click navigates: wait for the new page (the old page's elements go stale meanwhile).
    _wait_for_text(browser, "h1", "Form refused")
    assert served.rt.approvals.get(approval_id).status == "pending"
