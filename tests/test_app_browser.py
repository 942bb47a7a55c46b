"""Drives the real Gradio app in headless Chromium (Debian's /usr/bin/chromium, never a Playwright
download): ask, check the highlighted answer and its citation, upload an article, ask about it.

Screenshots go to test-output/ (git-ignored).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import launch_app_over_copy

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parent.parent
SHOTS = REPO / "test-output"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NHK_URL = "https://www3.nhk.or.jp/nhkworld/en/news/20240320_04/"
ARTICLE = """Port Elwynn lighthouse reopens after restoration
URL: https://example.org/news/port-elwynn-lighthouse
Date: May 2, 2024

The historic lighthouse of Port Elwynn reopened to visitors on Saturday after a two-year restoration.

The engineer Marisol Quintero led the restoration of the Port Elwynn lighthouse. She replaced the lantern room and repaired the stone tower.

The town council said the lighthouse would be open every weekend during the summer.
"""
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def app_url(bundled_index, tmp_path_factory):
    """The app launched in-process on a free port, over a writable copy of the bundled index."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    demo, url, config = launch_app_over_copy(bundled_index, tmp_path_factory.mktemp("browser") / "index")
    yield url, config
    demo.close()


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(app_url[0])
        page.wait_for_selector("#qa-question textarea")
        yield page
        context.close()
        browser.close()


def _ask(page, question: str, n_replies: int):
    """Type a question, press Ask, and wait for the n-th bot reply to be rendered."""
    from playwright.sync_api import expect

    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-ask").click()
    replies = page.locator('#qa-chat [data-testid="bot"]')
    expect(replies).to_have_count(n_replies, timeout=TIMEOUT_MS)
    return replies.nth(n_replies - 1)


def _shot(page, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=True)


def test_ask_shows_highlighted_answer_with_citation(page):
    reply = _ask(page, "Who was the first NATO secretary general to visit Armenia?", 1)
    mark = reply.locator("mark").first
    mark.wait_for()
    assert "Stoltenberg" in mark.inner_text()
    link = reply.locator(f'a[href="{NHK_URL}"]').first
    assert "Stoltenberg" in link.inner_text()  # the NHK article's title, linked to its URL
    assert "March 20, 2024" in reply.inner_text()
    # The side panel lists the passages read, with scores.
    assert "score" in page.locator("#qa-read").inner_text()
    _shot(page, "app-answer.png")


def test_abstains_plainly_on_an_unanswerable_question(page):
    from playwright.sync_api import expect

    reply = _ask(page, "What is the boiling point of mercury on Mars?", 2)
    expect(reply).to_contain_text("do not answer")
    expect(reply).to_contain_text("closest passages")
    assert reply.locator("mark").count() == 0


def test_upload_an_article_then_ask_about_it(page, tmp_path):
    article = tmp_path / "port-elwynn-lighthouse.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    page.get_by_role("tab", name="Articles").click()
    page.locator("#qa-upload input[type=file]").set_input_files(str(article))
    page.locator("#qa-add").click()
    status = page.locator("#qa-upload-status textarea")
    page.wait_for_function(
        "() => (document.querySelector('#qa-upload-status textarea') || {}).value?.includes('index holds')"
    )
    assert "Added: port-elwynn-lighthouse" in status.input_value()
    page.wait_for_function("() => document.querySelector('#qa-articles').innerText.includes('port-elwynn-lighthouse')")
    _shot(page, "app-upload.png")

    page.get_by_role("tab", name="Ask").click()
    reply = _ask(page, "Who led the restoration of the Port Elwynn lighthouse?", 3)
    mark = reply.locator("mark").first
    mark.wait_for()
    assert "Quintero" in mark.inner_text()
    assert reply.locator('a[href="https://example.org/news/port-elwynn-lighthouse"]').count() >= 1
    _shot(page, "app-uploaded-answer.png")


def test_search_tab_lists_passages_with_scores(page):
    page.get_by_role("tab", name="Search").click()
    page.locator("#qa-search textarea").fill("Kremlin spokesperson Peskov")
    page.locator("#qa-search-btn").click()
    page.wait_for_function("() => document.querySelector('#qa-search-results').innerText.includes('score')")
    results = page.locator("#qa-search-results").inner_text()
    assert "Peskov" in results
    _shot(page, "app-search.png")
