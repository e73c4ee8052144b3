"""The catalog page in a real headless browser: Debian's chromium driven by selenium.

``goproxy serve`` runs on loopback with a ``file://`` fixture upstream and a quota (so the
catalog reads the usage index); a few modules are fetched through it; then chromium opens
``/``: the page renders (title, the GOPROXY line, the modules), the search box finds a module,
its page lists its versions with the retraction and deprecation marks, and the browser logged
no error (a Content-Security-Policy violation, a failed fetch, a script error would be one).
A screenshot is kept at ``test-artifacts/catalog.png`` under the repository root
(``GOPROXY_TEST_ARTIFACTS`` names another directory).

Selenium is told where Debian's driver is (``Service(executable_path=...)``), so it never
downloads a driver or a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from serving import serving

from support import make_zip

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ROOT = Path(__file__).resolve().parents[2]

MODULES = {
    # module path: {version: go.mod}
    "example.com/Alpha": {"v1.0.0": b"module example.com/Alpha\n"},
    "example.com/beta": {
        "v1.0.0": b"module example.com/beta\n",
        "v1.1.0": (
            b"// Deprecated: use example.com/gamma instead.\nmodule example.com/beta\n\n"
            b"retract v1.0.0 // it lost data\n"
        ),
    },
    "example.com/gamma": {"v0.3.0": b"module example.com/gamma\n"},
}


def _escape(path: str) -> str:
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def _upstream(root: Path) -> Path:
    for module, versions in MODULES.items():
        d = root / _escape(module) / "@v"
        d.mkdir(parents=True)
        (d / "list").write_text("".join(v + "\n" for v in versions))
        for v, gomod in versions.items():
            (d / f"{v}.info").write_text(json.dumps({"Version": v, "Time": "2024-01-01T00:00:00Z"}))
            (d / f"{v}.mod").write_bytes(gomod)
            files = {"go.mod": gomod, "x.go": b"package x\n"}
            (d / f"{v}.zip").write_bytes(make_zip(module, v, files))
    return root


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


def _artifacts() -> Path:
    where = os.environ.get("GOPROXY_TEST_ARTIFACTS")
    out = Path(where) if where else ROOT / "test-artifacts"
    out.mkdir(parents=True, exist_ok=True)
    return out


def _ensure_chromium() -> None:
    """Debian's chromium and its driver, installed with apt-get when missing (as `.ci/run`
    does), so the README's test command passes on a fresh Debian machine too."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if not missing:
        return
    if shutil.which("apt-get") is None:
        pytest.fail(f"{', '.join(missing)} missing: install chromium and chromium-driver")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], check=True, env=env
    )


@pytest.fixture
def browser():
    _ensure_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1100,1400",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-sync",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()


def test_catalog_page_in_chromium(tmp_path, browser):
    up = _upstream(tmp_path / "up")
    args = ("--upstream", up.as_uri(), "--max-cache-size", "1G", "--frontend", "trio")
    with serving(*args, cache=tmp_path / "cache") as served:
        base = served.url
        for module, versions in MODULES.items():
            for v in versions:
                for ext in ("info", "mod", "zip"):
                    _get(f"{base}/{_escape(module)}/@v/{v}.{ext}")
        _get(f"{base}/example.com/beta/@v/v1.1.0.info")  # beta: the most requested
        # The usage index is written every 2 s: wait until the catalog lists every version.
        deadline = time.monotonic() + 15
        while True:
            listed = json.loads(_get(f"{base}/catalog"))["modules"]
            if len(listed) == 4 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert len(listed) == 4, listed

        browser.get(base + "/")
        assert browser.title == "goproxy-core: Go module proxy"
        setup = browser.find_element(By.ID, "setup").text
        assert f"GOPROXY={base}" in setup
        recent = browser.find_element(By.ID, "most-recent").text
        for module in MODULES:
            assert module in recent
        assert "example.com/beta" in browser.find_element(By.ID, "most-requested").text
        assert "of 1.0 GiB (max-cache-size)" in browser.find_element(By.TAG_NAME, "body").text

        box = browser.find_element(By.ID, "q")
        box.send_keys("ALPH")  # case-insensitive
        wait = WebDriverWait(browser, 10)
        wait.until(ec.text_to_be_present_in_element((By.ID, "found"), "1 module"))
        results = browser.find_element(By.ID, "results")
        assert "example.com/Alpha" in results.text
        assert "v1.0.0" in results.text

        box.clear()
        box.send_keys("beta")
        wait.until(ec.text_to_be_present_in_element((By.ID, "results"), "example.com/beta"))
        found = results.text
        assert "deprecated" in found and "v1.0.0" in found and "retracted" in found
        assert "last used 20" in found
        shot = _artifacts() / "catalog.png"
        browser.save_screenshot(str(shot))
        print(f"screenshot: {shot}")
        results.find_element(By.LINK_TEXT, "example.com/beta").click()
        wait.until(ec.presence_of_element_located((By.ID, "versions")))
        assert browser.current_url == f"{base}/-/module/example.com/beta"
        assert "use example.com/gamma instead." in browser.find_element(By.ID, "deprecated").text
        rows = browser.find_elements(By.CSS_SELECTOR, "#versions tr")
        texts = [r.text for r in rows[1:]]
        assert texts[0].startswith("v1.1.0") and "retracted" not in texts[0]
        assert texts[1].startswith("v1.0.0") and "retracted: it lost data" in texts[1]
        browser.save_screenshot(str(_artifacts() / "catalog-module.png"))

        severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        assert severe == [], severe
