"""Drives the real Gradio app in headless Chromium (Debian's /usr/bin/chromium, never a Playwright
download): the answer card at a laptop and a phone size (verdict in view, numbered citations, one
card per article), an abstention, the date control, an upload, the Search tab.

Screenshots go to test-output/ (git-ignored).
"""

from __future__ import annotations

import time
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
TIMEOUT_MS = 90_000  # one step in the page (a reply, a click) once the app is ready
# The most the app may take to become ready: its server answering, its models loaded by a first
# question, its page rendered. Waits are on those events, each polled, never one fixed sleep; the
# bound only ends a wait for an app that never gets there (a loaded 2-core machine took minutes).
READY_S = 600
NATO_Q = "Who was the first NATO secretary general to visit Armenia?"
SIZES = {"laptop": (1280, 800), "phone": (390, 844)}
# The verdict's box, the box of the chat's scrolling area, and the window height.
VERDICT_BOXES_JS = """(reply) => {
  const verdict = reply.querySelector('.qa-verdict');
  let box = reply.parentElement;
  while (box && !(box.scrollHeight > box.clientHeight + 1 && /(auto|scroll)/.test(getComputedStyle(box).overflowY)))
    box = box.parentElement;
  box = box || document.querySelector('#qa-chat');
  const v = verdict.getBoundingClientRect(), c = box.getBoundingClientRect();
  return {verdict: [v.top, v.bottom], chat: [c.top, c.bottom], window: window.innerHeight};
}"""


def _wait_until_ready(url: str) -> None:
    """Block until the app serves its page's config and has answered one question through its own
    API (so the embedder and the reader are loaded): what the page's first question waits on."""
    import httpx

    deadline = time.monotonic() + READY_S
    while True:
        try:
            if httpx.get(url + "config", timeout=30).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"the app at {url} never served its config"
        time.sleep(0.5)
    event = httpx.post(url + "gradio_api/call/ask", json={"data": [NATO_Q]}, timeout=READY_S).json()["event_id"]
    reply = httpx.get(url + f"gradio_api/call/ask/{event}", timeout=max(1.0, deadline - time.monotonic())).text
    assert "event: complete" in reply, reply[-2000:]


@pytest.fixture(scope="module")
def app_url(bundled_index, tmp_path_factory):
    """The app launched in-process on a free port, over a writable copy of the bundled index, ready."""
    if not CHROMIUM.exists():
        pytest.skip("needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)")
    demo, url, config = launch_app_over_copy(bundled_index, tmp_path_factory.mktemp("browser") / "index")
    _wait_until_ready(url)
    yield url, config
    demo.close()


@pytest.fixture(scope="module")
def browser(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def _open(browser, url: str, size: tuple[int, int]):
    """A page of the (ready) app, once its question box is drawn. A first load that the browser
    never finishes drawing (its scripts starved of CPU) is loaded again until READY_S is spent."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    deadline = time.monotonic() + READY_S
    while True:
        left_ms = max(1_000, (deadline - time.monotonic()) * 1000)
        try:
            page.goto(url, timeout=left_ms)
            page.wait_for_selector("#qa-question textarea", timeout=min(left_ms, TIMEOUT_MS))
            return context, page
        except PlaywrightTimeout:
            if time.monotonic() >= deadline:
                raise


@pytest.fixture(scope="module")
def page(browser, app_url):
    context, page = _open(browser, app_url[0], SIZES["laptop"])
    yield page
    context.close()


def _ask(page, question: str, n_replies: int):
    """Type a question, press Ask, and wait for the n-th bot reply to be rendered."""
    from playwright.sync_api import expect

    page.locator("#qa-question textarea").fill(question)
    page.locator("#qa-ask").click()
    replies = page.locator('#qa-chat [data-testid="bot"]')
    expect(replies).to_have_count(n_replies, timeout=TIMEOUT_MS)
    return replies.nth(n_replies - 1)


def _shot(page, name: str, full_page: bool = True) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=full_page)


def _assert_verdict_in_view(page, reply) -> None:
    """The verdict lies inside the visible part of the chat and of the window (after the app's scroll)."""
    def inside(b) -> bool:
        (top, bottom), (chat_top, chat_bottom) = b["verdict"], b["chat"]
        return chat_top - 1 <= top and bottom <= chat_bottom + 1 and top >= -1 and bottom <= b["window"] + 1

    for _ in range(40):  # the app scrolls a few hundred ms after the reply is drawn
        boxes = reply.evaluate(VERDICT_BOXES_JS)
        if inside(boxes):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"verdict out of view: {boxes}")


def _check_cards(reply) -> list[str]:
    """Citations [1]..[n] in the verdict, cards [1]..[n] below, one per article; returns the card titles."""
    refs = [r.strip() for r in reply.locator(".qa-verdict .qa-ref").all_inner_texts()]
    nums = [n.strip() for n in reply.locator(".qa-card .qa-num").all_inner_texts()]
    assert refs == [f"[{i}]" for i in range(1, len(refs) + 1)] and refs, refs
    assert nums == refs, (nums, refs)
    titles = [t.strip() for t in reply.locator(".qa-card-head").all_text_contents()]
    assert len(set(titles)) == len(titles)  # one card per article
    return titles


QUESTION_BOX_JS = """() => {
  const r = document.querySelector('#qa-question textarea').getBoundingClientRect();
  return [r.top, r.bottom, window.innerHeight];
}"""
# Whether an input's placeholder fits in it (measured in the input's own font).
PLACEHOLDER_FITS_JS = """(input) => {
  const s = getComputedStyle(input), c = document.createElement('canvas').getContext('2d');
  c.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
  const room = input.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  return [input.placeholder, c.measureText(input.placeholder).width, room];
}"""


def _assert_reachable_after_answer(page, reply) -> None:
    """The question box is on screen with the verdict; Gradio's scroll arrow does not cover the reply."""
    for _ in range(40):
        top, bottom, height = page.evaluate(QUESTION_BOX_JS)
        if top >= -1 and bottom <= height + 1:
            break
        page.wait_for_timeout(100)
    else:
        raise AssertionError(f"question box out of view: {top}..{bottom} of {height}")
    _assert_verdict_in_view(page, reply)
    arrows = page.locator("#qa-chat .scroll-down-button-container")
    assert all(not arrows.nth(i).is_visible() for i in range(arrows.count()))


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_answer_card_keeps_the_verdict_in_view(browser, app_url, size):
    context, page = _open(browser, app_url[0], SIZES[size])
    try:
        for field in ("#qa-since input", "#qa-until input"):  # the date placeholders are not cut
            placeholder, needed, room = page.locator(field).evaluate(PLACEHOLDER_FITS_JS)
            assert needed <= room + 1, (field, placeholder, needed, room)
        reply = _ask(page, NATO_Q, 1)
        verdict = reply.locator(".qa-verdict")
        assert "Stoltenberg" in verdict.locator(".qa-answer").inner_text()
        _assert_reachable_after_answer(page, reply)
        _check_cards(reply)
        confidence = verdict.locator(".qa-confidence")
        assert confidence.inner_text() in {"high confidence", "medium confidence", "low confidence"}
        assert confidence.get_attribute("title").startswith("confidence 0.")  # the number, on hover
        assert "score" not in reply.inner_text()  # no raw retrieval scores in the chat
        assert "Stoltenberg" in reply.locator(".qa-card mark").first.inner_text()
        card = reply.locator(".qa-card").first
        assert "March 20, 2024" in card.inner_text() and card.locator(f'a[href="{NHK_URL}"]').count() == 1
        assert not page.locator("#qa-read").is_visible()  # "Passages read" starts collapsed
        _shot(page, f"app-answer-{size}.png", full_page=False)

        reply = _ask(page, "What is the boiling point of mercury on Mars?", 2)
        assert "don't say" in reply.locator(".qa-verdict").inner_text()
        _assert_reachable_after_answer(page, reply)
        closest = reply.locator("details.qa-closest")
        assert closest.count() == 1 and closest.get_attribute("open") is None  # folded under the verdict
        assert reply.locator("mark").count() == 0
        _shot(page, f"app-abstain-{size}.png", full_page=False)
    finally:
        context.close()


def test_date_control_restricts_the_sources(page):
    """From 2024-03-01: the undated Massis Post article is left out; cleared: it is back."""
    question = "Is joining NATO on Armenia's agenda, according to Mirzoyan?"
    since = page.locator("#qa-since input")
    since.fill("2024-03-01")
    since.press("Enter")
    reply = _ask(page, question, 1)
    text = reply.text_content()
    assert "Joining NATO is not on Armenia" not in text and "Stoltenberg" in text, text
    _shot(page, "app-date-range.png", full_page=False)
    since.fill("")
    since.press("Enter")
    reply = _ask(page, question, 2)
    assert "Joining NATO is not on Armenia" in reply.text_content()
    page.locator("button", has_text="Clear chat").click()


def _empty_staged_files() -> set[Path]:
    from gradio.utils import get_upload_folder

    return {p for p in Path(get_upload_folder()).rglob("*") if p.is_file() and p.stat().st_size == 0}


def test_upload_an_article_then_ask_about_it(page, tmp_path):
    article = tmp_path / "port-elwynn-lighthouse.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    empty_before = _empty_staged_files()
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
    # the server's staged copies are deleted, 0-byte temp files included
    assert _empty_staged_files() - empty_before == set(), _empty_staged_files() - empty_before

    page.get_by_role("tab", name="Ask").click()
    reply = _ask(page, "Who led the restoration of the Port Elwynn lighthouse?", 1)
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
