"""The HTML audit report and the location map, looked at in a real headless browser (Debian's chromium).

Both are made by the real CLI in a subprocess. Chromium then takes a screenshot of each (kept in
``$ATTEST_SCREENSHOTS`` when set, for a person to look at) and measures the page: a script added to
a copy of the page writes the layout it finds (element boxes from the DOM) into the page, which
chromium dumps. Asserted: the failures are above the fold, grouped, the tenant on the Entity List
named there; the map's labels overlap nothing, its landmarks are on top, it has a scale and the
distance to the border.

Skipped only when no chromium is installed (``apt-get install chromium``); ``.ci/run`` installs it
and sets ``ATTEST_REQUIRE_CHROMIUM=1``, which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.audit.scenario import AUDIT_AT, ENTITY_TENANT, write_fleet
from tests.conftest import CliRunner

FOLD = 900  # the viewport height: what a reader sees without scrolling


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("ATTEST_REQUIRE_CHROMIUM"):
        pytest.fail("ATTEST_REQUIRE_CHROMIUM is set but no chromium is installed")
    pytest.skip("no chromium installed (apt-get install -y chromium): the browser checks need a real browser")


def _browser(tmp_path: Path, page: Path, *mode: str, width: int = 1280, height: int = FOLD) -> str:
    profile = tmp_path / "chromium-profile"
    proc = subprocess.run(
        [
            _chromium(),
            "--headless",
            "--no-sandbox",  # tests may run as root (containers)
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "--virtual-time-budget=5000",
            *mode,
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def screenshot(tmp_path: Path, page: Path, name: str, *, width: int = 1280, height: int = FOLD) -> Path:
    """A PNG of the page's first screen; copied to $ATTEST_SCREENSHOTS when set."""
    out = tmp_path / f"{name}.png"
    _browser(tmp_path, page, f"--screenshot={out}", width=width, height=height)
    data = out.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 10_000  # a rendered page, not a blank
    keep = os.environ.get("ATTEST_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(out, Path(keep) / out.name)
    return out


MEASURE = """
<script>
(function () {
  function box(e) { var r = e.getBoundingClientRect();
    return {top: r.top + window.scrollY, left: r.left, bottom: r.bottom + window.scrollY, right: r.right,
            text: e.textContent, cls: e.getAttribute('class') || '', rule: e.getAttribute('data-rule')}; }
  function all(sel) { return Array.prototype.map.call(document.querySelectorAll(sel), box); }
  var out = {sections: all('section'), failures: all('.failure'), nav: all('nav a'), labels: all('text.label'),
             scale: all('path.scale'), landmarks: [], sites: all('circle.site')};
  document.querySelectorAll('path.landmark').forEach(function (e) {
    var r = e.getBoundingClientRect(), x = (r.left + r.right) / 2, y = r.top + r.height * 0.65;
    var hit = document.elementFromPoint(x, y);
    out.landmarks.push({x: x, y: y, top: hit !== null && (hit.getAttribute('class') || '') === 'landmark'});
  });
  var pre = document.createElement('pre'); pre.id = 'measured';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre);
})();
</script>
"""


def measure(tmp_path: Path, page: Path, *, width: int = 1280, height: int = FOLD) -> dict[str, Any]:
    """Element boxes as the browser laid them out (a measuring copy of the page is loaded)."""
    html = page.read_text()
    copy = tmp_path / f"measure-{page.stem}.html"
    copy.write_text(html.replace("</body>", MEASURE + "</body>") if "</body>" in html else html + MEASURE)
    dom = _browser(tmp_path, copy, "--dump-dom", width=width, height=height)
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    text = found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    result: dict[str, Any] = json.loads(text)
    return result


def overlaps(boxes: list[dict[str, Any]], slack: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of boxes that overlap by more than ``slack`` pixels both ways."""
    out = []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            w = min(a["right"], b["right"]) - max(a["left"], b["left"])
            h = min(a["bottom"], b["bottom"]) - max(a["top"], b["top"])
            if w > slack and h > slack:
                out.append((a["text"], b["text"]))
    return out


def test_report_leads_with_failures_above_the_fold(cli: CliRunner, tmp_path: Path) -> None:
    write_fleet(tmp_path)
    cli("audit", "spool", "--trust", "trust.json", "--now", AUDIT_AT.isoformat(), "--report", "audit.html", check_code=3)
    page = tmp_path / "audit.html"
    screenshot(tmp_path, page, "audit-report")
    m = measure(tmp_path, page)
    sections = {s["text"].split("\n", 1)[0].strip(): s for s in m["sections"]}
    failures = next(s for s in m["sections"] if s["text"].lstrip().startswith("What failed"))
    assert failures["top"] < FOLD / 2, sections  # the first thing after the title
    assert all(failures["top"] < s["top"] for s in m["sections"] if s is not failures)
    # The worst causes are on the first screen, the Entity-List tenant and its H200s named there.
    first = m["failures"][0]
    assert "contraindicated" in first["text"] and first["bottom"] < FOLD
    on_screen = [f for f in m["failures"] if f["bottom"] < FOLD]
    assert any(ENTITY_TENANT in f["text"] and "NVIDIA H200" in f["text"] for f in on_screen)
    # 48 silent GPUs are one group, not 48 rows; its list is folded away.
    silent = [f for f in m["failures"] if f["rule"] == "fleet.gpu_silent"]
    assert len(silent) == 1 and "× 48 findings across manifests" in silent[0]["text"]
    assert silent[0]["bottom"] - silent[0]["top"] < 300
    assert len(m["nav"]) >= 5 and all(a["bottom"] < FOLD for a in m["nav"])


def test_map_labels_do_not_overlap_and_say_the_distance(cli: CliRunner, tmp_path: Path) -> None:
    cli("demo", "--keep", "demo", check_code=0)
    cli("verify", "demo/jhb-gpu-01-2.envelope.json", "--trust", "demo/trust.json", "--landmarks", "demo/landmarks.json",
        "--map", "proof.svg", "--quiet")
    svg = (tmp_path / "proof.svg").read_text()
    page = tmp_path / "map.html"
    page.write_text(f"<!doctype html><html><body style='margin:0'>{svg}</body></html>")
    screenshot(tmp_path, page, "location-map", width=960, height=730)
    m = measure(tmp_path, page, width=960, height=730)
    labels = m["labels"]
    texts = [lb["text"] for lb in labels]
    assert len(labels) >= 5, texts
    assert overlaps(labels) == []
    # Landmarks are on top (the site is not drawn over them; in the overview they may cover each other), each disk's distance to the border is written.
    assert m["landmarks"] and all(lm["top"] for lm in m["landmarks"])
    assert m["sites"], "the declared site is drawn"
    assert any("to the nearest prohibited border" in t for t in texts)
    assert sum(bool(re.search(r"jhb-lm-[ab] r=\d+ km, [\d,]+ km to border", t)) for t in texts) == 2
    # A scale bar with its length.
    assert m["scale"] and all(s["right"] - s["left"] > 20 for s in m["scale"])
    assert any(re.fullmatch(r"[\d,.]+ km", t) for t in texts)


def test_wide_disks_map_labels_do_not_overlap(cli: CliRunner, tmp_path: Path) -> None:
    cli("location", "region", "--disk", "1.35,103.8,9", "--disk", "13.7,100.5,15", "--disk=-6.2,106.8,8",
        "--disk", "1.36,103.81,9.2", "--prohibited", "CN,HK,MO", "--map", "wide.svg", check_code=0)
    page = tmp_path / "wide.html"
    page.write_text(f"<!doctype html><html><body style='margin:0'>{(tmp_path / 'wide.svg').read_text()}</body></html>")
    screenshot(tmp_path, page, "wide-map", width=960, height=730)
    m = measure(tmp_path, page, width=960, height=730)
    assert overlaps(m["labels"]) == []
    assert all(lm["top"] for lm in m["landmarks"])
    assert any("reaches the border" in lb["text"] for lb in m["labels"])


@pytest.mark.parametrize(
    ("name", "disks", "said"),
    [
        # a node in Beijing: the disks are inside the prohibited area, not "N km from its border"
        ("inside", ["39.9,116.4,0.03", "39.95,116.45,0.04"], "inside a prohibited area"),
        # Fiji's landmarks either side of the antimeridian are neighbours, not a world apart
        ("antimeridian", ["-17.7,179.9,2", "-18.1,-179.9,1.7"], "to border"),
        # a dozen landmarks at one place: labels that find no room are left to the legend, never stacked
        ("crowded", [f"{1.3 + i / 100},{103.8 + i / 100},{0.07 + i / 200}" for i in range(12)], "to the nearest"),
    ],
)
def test_hard_maps_stay_readable(cli: CliRunner, tmp_path: Path, name: str, disks: list[str], said: str) -> None:
    args = [item for d in disks for item in ("--disk=" + d,)]
    cli("location", "region", *args, "--prohibited", "CN,HK,MO", "--map", f"{name}.svg")
    page = tmp_path / f"{name}.html"
    page.write_text(f"<!doctype html><html><body style='margin:0'>{(tmp_path / f'{name}.svg').read_text()}</body></html>")
    screenshot(tmp_path, page, f"hard-map-{name}", width=960, height=730)
    m = measure(tmp_path, page, width=960, height=730)
    assert overlaps(m["labels"]) == []
    assert all(lm["top"] for lm in m["landmarks"])
    assert any(said in lb["text"] for lb in m["labels"]), [lb["text"] for lb in m["labels"]]
    marks = m["landmarks"]
    # In the inset (drawn last) the landmarks of one place are close together on screen.
    inset = marks[len(marks) // 2 :]
    assert max(lm["x"] for lm in inset) - min(lm["x"] for lm in inset) < 300
