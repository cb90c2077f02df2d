"""The web chat page end to end in headless Chromium (Debian's ``chromium`` driven by Playwright).

Set LMFORGE_SCREENSHOT=docs/serving-chat.png to also write the screenshot used in the docs.
"""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium: `apt-get install -y chromium` "
                                "(Playwright's own download needs internet; the system browser is used)")


@pytest.fixture(scope="module")
def page(server_url):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs `pip install playwright`")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 900, "height": 640})
        page.goto(server_url)
        yield page
        browser.close()


def test_type_a_message_and_see_a_streamed_reply(page, tmp_path):
    page.wait_for_function("document.getElementById('model-name').textContent === 'tiny-chat'")
    page.click("#settings summary")
    page.fill("#system", "You are a helpful assistant.")
    page.fill("#max-tokens", "24")
    chunks = []
    page.on("response", lambda r: chunks.append(r) if r.url.endswith("/v1/chat/completions") else None)
    page.fill("#input", "Hello there!")
    page.press("#input", "Enter")
    page.wait_for_selector(".msg.assistant[data-done=true]", timeout=30_000)
    assert page.inner_text(".msg.user") == "Hello there!"
    assert page.inner_text(".msg.assistant").strip()
    assert chunks and chunks[0].headers["content-type"].startswith("text/event-stream")

    with page.expect_request("**/v1/chat/completions") as second:  # the conversation is kept and sent again
        page.fill("#input", "And again?")
        page.press("#input", "Enter")
    sent = second.value.post_data_json
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert sent["stream"] is True and sent["max_tokens"] == 24
    page.wait_for_function("document.querySelectorAll('.msg.assistant[data-done=true]').length === 2",
                           timeout=30_000)
    page.screenshot(path=os.environ.get("LMFORGE_SCREENSHOT") or str(tmp_path / "chat.png"))
    page.click("#clear")
    assert page.locator(".msg").count() == 0


def test_markdown_rendering_cannot_inject_html(page):
    html = page.evaluate("""() => {
        const div = document.createElement('div');
        div.appendChild(renderMarkdown('<img src=x onerror=alert(1)> **bold** [ok](https://example.com) ' +
            '[bad](javascript:alert(1)) `<b>code</b>`\\n\\n- item\\n\\n```\\n<script>x()</script>\\n```'));
        return div.innerHTML;
    }""")
    assert "<img" not in html and "<script" not in html and "&lt;img src=x" in html
    assert "<strong>bold</strong>" in html and '<a href="https://example.com"' in html
    assert "javascript:" not in html.split("[bad]")[0] and 'href="javascript' not in html
    assert "<code>&lt;b&gt;code&lt;/b&gt;</code>" in html and "<li>item</li>" in html
