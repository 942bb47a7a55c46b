"""Drives the real Gradio app in headless Chromium (Debian's /usr/bin/chromium, never a Playwright
download): the first screen at a laptop (1366x900) and a phone (390x844) size with the question box
and the Ask button on screen before and after an answer, the answer card (verdict in view, numbered
citations, one card per article), the three answer states told apart, the date control and its
undated note, an upload, removing with a confirmation, the Search tab.

Screenshots go to test-output/ (git-ignored).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from qa.sources import NO_ANSWER, POSSIBLE_ANSWER
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
MARS_Q = "What is the boiling point of mercury on Mars?"
LIGHTHOUSE = "Port Elwynn lighthouse reopens after restoration"
SIZES = {"laptop": (1366, 900), "phone": (390, 844)}
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


# Whether an input's placeholder fits in it (measured in the input's own font).
PLACEHOLDER_FITS_JS = """(input) => {
  const s = getComputedStyle(input), c = document.createElement('canvas').getContext('2d');
  c.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
  const room = input.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight);
  return [input.placeholder, c.measureText(input.placeholder).width, room];
}"""


def _assert_ask_on_screen(page) -> None:
    """The question box and the Ask button lie inside the window (no scrolling needed to reach them)."""
    height, width = page.viewport_size["height"], page.viewport_size["width"]
    for _ in range(40):  # the app may still be scrolling
        boxes = [page.locator(sel).bounding_box() for sel in ("#qa-question textarea", "#qa-ask")]
        if all(b and b["y"] >= -1 and b["y"] + b["height"] <= height + 1 and b["x"] >= -1
               and b["x"] + b["width"] <= width + 1 for b in boxes):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"question box or Ask button off screen: {boxes} in {width}x{height}")


def _assert_reachable_after_answer(page, reply) -> None:
    """The question box and Ask button are on screen with the verdict; Gradio's scroll arrow does not cover the reply."""
    _assert_ask_on_screen(page)
    _assert_verdict_in_view(page, reply)
    arrows = page.locator("#qa-chat .scroll-down-button-container")
    assert all(not arrows.nth(i).is_visible() for i in range(arrows.count()))


def _open_options(page) -> None:
    """Unfold "Date range and settings" (folded on the first screen)."""
    if not page.locator("#qa-since input").is_visible():
        page.locator("#qa-options button").first.click()
    page.locator("#qa-since input").wait_for(state="visible")


@pytest.mark.parametrize("size", SIZES, ids=list(SIZES))
def test_first_screen_has_the_question_box_before_and_after_an_answer(browser, app_url, size):
    context, page = _open(browser, app_url[0], SIZES[size])
    try:
        assert not page.locator("#qa-since input").is_visible()  # the options start folded
        _assert_ask_on_screen(page)
        _shot(page, f"app-first-screen-{size}.png", full_page=False)

        reply = _ask(page, NATO_Q, 1)
        verdict = reply.locator(".qa-verdict")
        assert "Stoltenberg" in verdict.locator(".qa-answer").inner_text()
        _assert_reachable_after_answer(page, reply)
        _check_cards(reply)
        confidence = verdict.locator(".qa-confidence").inner_text()
        assert re.fullmatch(r"(high|medium|low) confidence \(0\.\d\d\)", confidence), confidence
        assert "score" not in reply.inner_text()  # no raw retrieval scores in the chat
        assert "Stoltenberg" in reply.locator(".qa-card mark").first.inner_text()
        card = reply.locator(".qa-card").first
        assert "March 20, 2024" in card.inner_text() and card.locator(f'a[href="{NHK_URL}"]').count() == 1
        assert not page.locator("#qa-read").is_visible()  # "Passages read" starts collapsed
        _shot(page, f"app-answer-{size}.png", full_page=False)

        reply = _ask(page, MARS_Q, 2)
        assert NO_ANSWER in reply.locator(".qa-verdict").inner_text()
        _assert_reachable_after_answer(page, reply)
        closest = reply.locator("details.qa-closest")
        assert closest.count() == 1 and closest.get_attribute("open") is None  # folded under the verdict
        assert reply.locator("mark").count() == 0
        _shot(page, f"app-abstain-{size}.png", full_page=False)
    finally:
        context.close()


# Per state: the verdict's class, its left border colour, the font size and weight of its text.
VERDICT_STYLE_JS = """(reply) => {
  const v = reply.querySelector('.qa-verdict');
  const text = v.querySelector('.qa-answer, .qa-possible-text');
  const s = getComputedStyle(v), t = getComputedStyle(text);
  return {cls: v.className, border: s.borderLeftColor, size: parseFloat(t.fontSize), weight: t.fontWeight,
          textTop: text.getBoundingClientRect().top,
          labelTop: (v.querySelector('.qa-possible-label') || text).getBoundingClientRect().top};
}"""


def test_three_answer_states_look_different(browser, app_url):
    """An answer, a possible answer (the threshold raised to 1) and "don't say": each its own class,
    colour and type; a possible answer says "check the source" above its smaller, plain text."""
    context, page = _open(browser, app_url[0], SIZES["laptop"])
    try:
        styles = {}
        reply = _ask(page, NATO_Q, 1)
        styles["answer"] = reply.evaluate(VERDICT_STYLE_JS)
        _shot(page, "app-state-answer.png", full_page=False)

        _open_options(page)
        threshold = page.locator("#qa-threshold input[type=number]")
        threshold.fill("1")
        threshold.press("Enter")
        page.locator("#qa-options button").first.click()  # fold the options again
        reply = _ask(page, NATO_Q, 2)
        possible = reply.locator(".qa-verdict")
        assert possible.locator(".qa-possible-label").inner_text().strip().endswith(POSSIBLE_ANSWER)
        assert "Stoltenberg" in possible.locator(".qa-possible-text").inner_text()
        assert "needed to answer" in possible.inner_text()
        assert not re.search(r"\b(high|medium|low) confidence", possible.inner_text())  # no band word
        styles["possible"] = reply.evaluate(VERDICT_STYLE_JS)
        _assert_reachable_after_answer(page, reply)
        _shot(page, "app-state-possible.png", full_page=False)

        reply = _ask(page, MARS_Q, 3)
        styles["abstain"] = reply.evaluate(VERDICT_STYLE_JS)
        _shot(page, "app-state-abstain.png", full_page=False)
    finally:
        context.close()
    classes = {state: set(style["cls"].split()) & {"qa-answered", "qa-possible", "qa-abstain"}
               for state, style in styles.items()}
    assert classes == {"answer": {"qa-answered"}, "possible": {"qa-possible"}, "abstain": {"qa-abstain"}}
    assert len({style["border"] for style in styles.values()}) == 3, styles  # three colours
    answer, possible = styles["answer"], styles["possible"]
    assert possible["size"] < answer["size"] and int(possible["weight"]) < int(answer["weight"]), styles
    assert possible["labelTop"] < possible["textTop"]  # "check the source" before the text


def test_date_control_restricts_the_sources(page):
    """From 2024-03-01: the undated Massis Post article is left out, and the reply says so; cleared: it is back."""
    _open_options(page)
    for field in ("#qa-since input", "#qa-until input"):  # the date placeholders are not cut
        placeholder, needed, room = page.locator(field).evaluate(PLACEHOLDER_FITS_JS)
        assert needed <= room + 1, (field, placeholder, needed, room)
    question = "Is joining NATO on Armenia's agenda, according to Mirzoyan?"
    since = page.locator("#qa-since input")
    since.fill("2024-03-01")
    since.press("Enter")
    page.wait_for_function("() => document.querySelector('#qa-options').innerText.includes('2024-03-01 or later')")
    reply = _ask(page, question, 1)
    text = reply.text_content()
    assert "Joining NATO is not on Armenia" not in text and "Stoltenberg" in text, text
    assert "1 undated article left out by the date range." in reply.locator(".qa-verdict").inner_text()
    _shot(page, "app-date-range.png", full_page=False)
    since.fill("")
    since.press("Enter")
    reply = _ask(page, question, 2)
    assert "Joining NATO is not on Armenia" in reply.text_content() and "undated" not in reply.text_content()
    page.locator("button", has_text="Clear chat").click()
    page.locator("#qa-options button").first.click()  # fold the options again


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


def test_remove_shows_the_whole_headline_and_asks_first(page):
    """After the upload above: the Remove list shows the whole headline; Remove asks, Cancel keeps
    the article, the confirmed Remove takes it out."""
    page.get_by_role("tab", name="Articles").click()
    choice = page.locator("#qa-remove-choice input")
    choice.click()
    option = page.locator('[data-testid="dropdown-option"]', has_text="port-elwynn-lighthouse")
    assert option.inner_text().strip() == f"{LIGHTHOUSE} (port-elwynn-lighthouse)"
    option.click()
    page.locator("#qa-articles").click()  # close the list
    page.locator("#qa-remove").click()
    confirm = page.locator("#qa-remove-confirm")
    confirm.wait_for(state="visible")
    assert "Remove 1 article from the index?" in confirm.inner_text() and LIGHTHOUSE in confirm.inner_text()
    _shot(page, "app-remove-confirm.png")
    page.locator("#qa-remove-no").click()
    confirm.wait_for(state="hidden")
    assert "port-elwynn-lighthouse" in page.locator("#qa-articles").inner_text()  # nothing removed

    page.locator("#qa-remove").click()
    confirm.wait_for(state="visible")
    page.locator("#qa-remove-yes").click()
    page.wait_for_function("() => document.querySelector('#qa-remove-status').innerText.includes('Removed')")
    assert "Removed: port-elwynn-lighthouse" in page.locator("#qa-remove-status").inner_text()
    page.wait_for_function("() => !document.querySelector('#qa-articles').innerText.includes('port-elwynn-lighthouse')")
    assert not confirm.is_visible()


def test_search_tab_lists_passages_with_scores(page):
    page.get_by_role("tab", name="Search").click()
    page.locator("#qa-search textarea").fill("Kremlin spokesperson Peskov")
    page.locator("#qa-search-btn").click()
    page.wait_for_function("() => document.querySelector('#qa-search-results').innerText.includes('score')")
    results = page.locator("#qa-search-results").inner_text()
    assert "Peskov" in results
    _shot(page, "app-search.png")
