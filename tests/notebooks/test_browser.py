"""The smoke book in a real browser: every page loads, shows no traceback, no missing image, typeset maths.

Headless Chromium opens a harness page served from the book itself (same origin), which loads every page of
the book in turn in an iframe, lets its scripts run (MathJax included), and writes what it found into its own
DOM; ``--dump-dom`` prints that DOM. `make test` installs the Debian package when it is missing.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from smoke_paths import SMOKE

from crosslingual.render.chapters import CHAPTERS

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium: `make test` installs the Debian package")

HARNESS = """<!doctype html><html><body style="margin:0"><pre id="out">pending</pre>
<iframe id="f" style="border:0" width="%d" height="900"></iframe>
<script>
const pages = %s;
const results = {};
async function visit(page) {
  const frame = document.getElementById("f");
  await new Promise(done => { frame.onload = done; frame.src = page; });
  await new Promise(done => setTimeout(done, 1500));  // MathJax, images and fonts
  const doc = frame.contentDocument;
  results[page] = (doc => { %s })(doc);
}
(async () => { for (const p of pages) { await visit(p); } document.getElementById("out").textContent =
  "RESULTS" + JSON.stringify(results) + "END"; })();
</script></body></html>"""


def harness(pages: list[str], check: str, width: int = 1200) -> str:
    """A page that opens each of ``pages`` in turn in an iframe ``width`` px wide, lets its scripts run, and
    reports, per page, what the JavaScript body ``check`` returns about ``doc`` (the page's document)."""
    return HARNESS % (width, json.dumps(pages), check)


PAGE_CHECK = """
  const broken = [...doc.images].filter(img => !img.complete || img.naturalWidth === 0).map(img => img.src);
  // a code cell's source is shown only if it is rendered and not inside a closed <details> toggle
  const shownCode = [...doc.querySelectorAll("div.cell_input")].filter(el => el.getClientRects().length > 0
      && !el.closest("details:not([open])")).length;
  return {traceback: doc.body.innerText.includes("Traceback (most recent call last)"), broken: broken,
          images: doc.images.length, maths: doc.querySelectorAll("mjx-container").length,
          title: doc.title, code_cells: doc.querySelectorAll("div.cell_input").length, shown_code: shownCode};"""


@pytest.fixture(scope="module")
def served(smoke_book):
    """The built HTML on a local port (file:// would block the harness from reading the iframes)."""
    html_dir = smoke_book.parent
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.RequestHandlerClass.log_message = lambda *args: None
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield html_dir, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def chromium(*args: str, timeout: int = 240) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout


def test_every_page_renders_without_tracebacks_or_missing_images(served):
    html_dir, url = served
    pages = sorted(str(p.relative_to(html_dir)) for p in html_dir.rglob("*.html")
                   if not p.name.startswith(("genindex", "search")) and "_static" not in p.parts)
    (html_dir / "_harness.html").write_text(harness(pages, PAGE_CHECK))
    budget = 3000 * len(pages) + 10_000
    dom = chromium(f"--virtual-time-budget={budget}", "--dump-dom", f"{url}/_harness.html")
    assert "RESULTS" in dom, f"the harness did not finish: {dom[-500:]}"
    results = json.loads(html.unescape(dom.split("RESULTS", 1)[1].split("END", 1)[0]))
    assert set(results) == set(pages)
    for page, r in results.items():
        assert not r["traceback"], f"{page} shows a Python traceback"
        assert not r["broken"], f"{page} has missing images: {r['broken']}"
    chapters = [f"book/experiments/{c.name}.html" for c in CHAPTERS]
    assert set(chapters) <= set(pages), "a registered chapter has no page"
    assert all(results[p]["images"] > 0 for p in chapters), "a chapter shows no figure"
    for p in chapters:
        assert results[p]["code_cells"] > 0 and results[p]["shown_code"] == 0, \
            f"{p} shows {results[p]['shown_code']} of its {results[p]['code_cells']} code cells expanded"
    assert results["book/method.html"]["maths"] > 10, "MathJax did not typeset the method page (offline copy)"


VIEWPORT = """<!doctype html><html><body style="margin:0"><pre id="out">pending</pre>
<iframe id="f" style="border:0" width="1280" height="900" src="book/experiments/claims.html"></iframe>
<script>
document.getElementById("f").onload = () => setTimeout(() => {
  const doc = document.getElementById("f").contentDocument, width = doc.documentElement.clientWidth;
  const rows = [...doc.querySelectorAll("table.crosslingual-findings tbody tr")].map(tr => {
    const cell = tr.children[2], box = cell.getBoundingClientRect();
    return {claim: tr.children[0].innerText.trim(), verdict: cell.innerText.trim(), left: box.left,
            right: box.right, badge: !!cell.querySelector(".sd-badge")};
  });
  document.getElementById("out").textContent = "RESULTS" + JSON.stringify({width: width, rows: rows}) + "END";
}, 1000);
</script></body></html>"""


def test_the_scoreboard_s_verdicts_are_on_screen_at_1280_px(served):
    """The verdict is the scoreboard's most important column: at a 1280 px window every claim's verdict badge
    lies inside the viewport, without scrolling sideways."""
    html_dir, url = served
    (html_dir / "_viewport.html").write_text(VIEWPORT)
    dom = chromium("--window-size=1280,900", "--virtual-time-budget=10000", "--dump-dom", f"{url}/_viewport.html")
    assert "RESULTS" in dom, f"the viewport check did not finish: {dom[-500:]}"
    found = json.loads(html.unescape(dom.split("RESULTS", 1)[1].split("END", 1)[0]))
    assert found["rows"], "the scoreboard has no rows"
    for row in found["rows"]:
        assert row["badge"] and row["verdict"], f"{row['claim']}: no verdict badge"
        assert 0 <= row["left"] and row["right"] <= found["width"], \
            (f"{row['claim']}: its verdict ({row['left']:.0f}-{row['right']:.0f} px) is outside the "
             f"{found['width']} px view")


OVERFLOW_CHECK = """
  const article = doc.querySelector(".bd-article"), right = article.getBoundingClientRect().right;
  const wide = [...article.querySelectorAll("table, img, .pst-scrollable-table-container, .cell_output .output")]
    .filter(el => el.getClientRects().length > 0
            && (el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right > right + 1))
    .map(el => el.tagName + "." + el.className + " " + el.scrollWidth + ">" + el.clientWidth + ": "
         + (el.innerText || el.getAttribute("src") || "").slice(0, 60));
  // a header word wider than its column's text is broken inside the word ("cla" over "im"): each word (split at
  // spaces and hyphens, where a line may break) must fit the header cell's content width
  const broken = [];
  // (a data table too wide for whole words, class crosslingual-wide, may break them: render.notebook)
  for (const th of article.querySelectorAll("table:not(.crosslingual-wide) th")) {
    if (!th.getClientRects().length) continue;
    const style = doc.defaultView.getComputedStyle(th);
    const inner = th.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
    for (const word of th.innerText.split(/[\\s-]+/).filter(Boolean)) {
      const span = doc.createElement("span");
      span.style.whiteSpace = "nowrap";
      span.textContent = word;
      th.appendChild(span);
      const width = span.getBoundingClientRect().width;
      span.remove();
      if (width > inner + 0.5) broken.push("header word " + word + " " + Math.round(width) + ">" + Math.round(inner));
    }
  }
  return [...wide, ...broken];"""

READER_PAGES = ["book/intro.html", "book/method.html", "book/experiments/claims.html", "book/experiments/cost.html",
                *[f"book/experiments/{c.name}.html" for c in CHAPTERS]]


@pytest.mark.parametrize("width", [1280, 800])
def test_no_table_or_figure_runs_past_the_text_column(served, width):
    """At a 1280 and an 800 px window, no table, figure or output of any page is wider than the column that holds
    it: nothing is cut off or hidden behind a sideways scroll bar; and no table header breaks inside a word."""
    html_dir, url = served
    probe = html_dir / f"_overflow_{width}.html"
    probe.write_text(harness(READER_PAGES, OVERFLOW_CHECK, width))
    dom = chromium(f"--window-size={width},900", f"--virtual-time-budget={3000 * len(READER_PAGES) + 10_000}",
                   "--dump-dom", f"{url}/{probe.name}")
    assert "RESULTS" in dom, f"the overflow check did not finish: {dom[-500:]}"
    found = json.loads(html.unescape(dom.split("RESULTS", 1)[1].split("END", 1)[0]))
    assert set(found) == set(READER_PAGES)
    assert not {page: wide for page, wide in found.items() if wide}


@pytest.mark.parametrize("page", ["book/intro.html", "book/experiments/06_interventions.html"])
def test_screenshots_of_the_intro_and_a_chapter(served, page):
    html_dir, url = served
    out = SMOKE / "screenshots" / (Path(page).stem + ".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    chromium("--window-size=1280,1600", "--virtual-time-budget=5000", f"--screenshot={out}", f"{url}/{page}")
    assert out.is_file() and out.stat().st_size > 20_000, f"no useful screenshot of {page}"
