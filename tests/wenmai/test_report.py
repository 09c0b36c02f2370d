"""report.html: what it shows, that `wenmai report` rebuilds it, and that a browser renders it
without console errors or network requests (headless Chromium, where installed)."""
import base64
import json
import os
import select
import shutil
import subprocess
import time

import pytest

from wenmai.cli import main
from wenmai.job import Handlers, run
from wenmai.report import bar_chart, sentence_around

from ..pipelines.fakes import FakeEncoderHandler, FakeExtractorHandler, FakeTitlerHandler

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from ..conftest import TINY_CORPUS

    d = tmp_path_factory.mktemp("report")
    (d / "news.txt").write_text("\n".join(TINY_CORPUS) + "\n", encoding="utf-8")
    out = d / "out"
    run([str(d / "news.txt"), "--output", str(out), "--k", "3", "--quiet"],
        handlers=Handlers(encoder=FakeEncoderHandler(), titler=FakeTitlerHandler(chars=4),
                          extractor=FakeExtractorHandler()))
    return out


def test_sentence_around():
    assert sentence_around("天气很好。华为总部位于深圳。再见", 5, 7) == (5, 14)
    assert sentence_around("没有句号的一句话", 2, 4) == (0, 8)


def test_bar_chart_is_inline_svg_or_says_there_is_nothing():
    svg = bar_chart({"ReadCorpus": 2.0, "EncodeSentences": 4.0})
    assert svg.startswith("<svg") and 'width="480.0"' in svg and "ReadCorpus" in svg
    assert "no per-stage times" in bar_chart({})


def test_every_run_writes_a_self_contained_report(run_dir):
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    for section in ("Counts", "Time per stage", "Largest clusters", "Top triples",
                    "Dead letters by reason", "Input files"):
        assert f"{section}" in page, section
    assert "balanced" in page and "NOT balanced" not in page
    assert '<mark class="s">华为公司</mark>总部位于<mark class="o">深圳</mark>' in page  # the sentence
    assert "empty" in page and "no_content" in page  # dead-letter reasons
    assert manifest["inputs"][0]["sha256"][:12] in page
    assert "华为" in page and "<svg" in page
    # nothing to fetch: no scripts, stylesheets, images or fonts from anywhere
    for needle in ("<script", "<link", "src=", "url(", "@import", "http://", "https://"):
        assert needle not in page.replace('xmlns="http://www.w3.org/2000/svg"', ""), needle


def test_wenmai_report_rebuilds_it(run_dir, capsys):
    (run_dir / "report.html").unlink()
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").exists()
    assert capsys.readouterr().out.strip() == str(run_dir / "report.html")
    assert main(["report", str(run_dir / "documents")]) == 2  # no manifest: a usage error


# --------------------------------------------------------------------------------------------------
# headless Chromium over the DevTools protocol (--remote-debugging-pipe: no extra packages)


class DevTools:
    """Chromium's DevTools protocol over the pipe it offers on fds 3 (in) and 4 (out)."""

    def __init__(self, width: int = 1200, height: int = 900):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def remap():  # in the child, before exec: the pipe ends become fds 3 and 4
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self._proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--remote-debugging-pipe", f"--window-size={width},{height}", "about:blank"],
            preexec_fn=remap, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._id = 0
        self.events: list[dict] = []

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read(timeout)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read(timeout)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def drain(self, seconds: float) -> None:
        end = time.time() + seconds
        while time.time() < end:
            try:
                self.events.append(self._read(max(0.01, end - time.time())))
            except TimeoutError:
                return

    def _read(self, timeout: float) -> dict:
        end = time.time() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_chrome], [], [], max(0.0, end - time.time()))
            if not ready:
                raise TimeoutError("no message from chromium")
            chunk = os.read(self._from_chrome, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


def render(path, screenshot=None) -> tuple[list[str], list[str], str]:
    """Opens `path` in headless Chromium: (console errors and exceptions, URLs requested other
    than the page itself, the page's text). Saves a full-page PNG to `screenshot` if given."""
    tools = DevTools()
    try:
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"]
        for domain in ("Runtime", "Log", "Page", "Network"):
            tools.send(f"{domain}.enable", session=session)
        url = path.resolve().as_uri()
        tools.send("Page.navigate", {"url": url}, session=session)
        tools.wait_for("Page.loadEventFired")
        tools.drain(0.5)
        text = tools.send("Runtime.evaluate", {"expression": "document.body.innerText",
                                               "returnByValue": True}, session=session)
        if screenshot is not None:
            size = tools.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
            tools.send("Emulation.setDeviceMetricsOverride", {
                "width": 1200, "height": int(size["height"]), "deviceScaleFactor": 1,
                "mobile": False}, session=session)
            png = tools.send("Page.captureScreenshot", {"format": "png"}, session=session)
            screenshot.write_bytes(base64.b64decode(png["data"]))
    finally:
        tools.close()
    errors, requests = [], []
    for event in tools.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(params["entry"]["text"])
        elif method == "Network.requestWillBeSent" and params["request"]["url"] != url:
            requests.append(params["request"]["url"])
    return errors, requests, text["result"]["value"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install "
                                             "chromium)")
def test_the_browser_check_catches_console_errors_and_requests(tmp_path):
    """The check itself can fail: a page with a console error and a fetch is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><body><p>x</p><script>console.error("boom")</script>'
                    '<img src="http://127.0.0.1:9/none.png"></body></html>')
    errors, requests, _ = render(page)
    assert any("boom" in e for e in errors)
    assert "http://127.0.0.1:9/none.png" in requests


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install "
                                             "chromium)")
def test_report_renders_in_chromium_without_errors_or_requests(run_dir, tmp_path):
    errors, requests, text = render(run_dir / "report.html", screenshot=tmp_path / "report.png")
    assert errors == [] and requests == []
    assert "Largest clusters" in text and "华为公司" in text
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
