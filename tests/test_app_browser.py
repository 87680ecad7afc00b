"""The workbench in a real browser: ``bth app`` served on 127.0.0.1, driven in headless Chromium.

Uses Debian's ``chromium`` and ``chromium-driver`` packages (``.ci/run`` installs them) through
selenium; browser builds are never downloaded.  The browser resolves no host but 127.0.0.1, so
the page must render from the assets solara serves itself.  Skips, saying why, only when no
Chromium or chromedriver is installed.

Set ``BTH_SCREENSHOTS=DIR`` to keep a 1366x768 screenshot of each view in DIR.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from experiments.api import load_results
from scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
WAIT = 120  # seconds any one step may take before the test fails (generous: CI machines are slow)
INSTALL = "apt-get install -y chromium chromium-driver (.ci/run does this)"

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e .[test])")
from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip(f"no Chromium browser and driver at {CHROMIUM}, {CHROMEDRIVER}: {INSTALL}",
                allow_module_level=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(results, tmp_path_factory):
    """``bth app RESULTS --port N`` on 127.0.0.1; ended by its process id."""
    port = _free_port()
    log = tmp_path_factory.mktemp("app-log") / "app.log"
    with open(log, "w") as f:
        proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "app", str(results), "--host",
                                 "127.0.0.1", "--port", str(port)], cwd=ROOT, stdout=f, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + WAIT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"bth app exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"bth app did not answer on {url}: {log.read_text()[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
                 "--window-size=1366,768",
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):  # offline: no CDN
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1366, "height": 768, "deviceScaleFactor": 1, "mobile": False})
    driver.downloads = downloads
    try:
        yield driver
    finally:
        driver.quit()


# ----------------------------------------------------------------------------- helpers

def wait(driver, condition, what: str):
    return WebDriverWait(driver, WAIT, poll_frequency=0.1,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: condition(d), message=f"waited for {what}")


def text_of(driver, css: str) -> str:
    """The text of the first element matching ``css`` ("" if none); an element the app
    re-renders meanwhile is looked up again."""
    for _ in range(20):
        try:
            found = driver.find_elements(By.CSS_SELECTOR, css)
            return found[0].text if found else ""
        except StaleElementReferenceException:
            time.sleep(0.1)
    return ""


def button(driver, scope_css: str, label: str):
    """The button labelled ``label`` (case-insensitive; Vuetify shows labels in capitals)."""
    for b in driver.find_elements(By.CSS_SELECTOR, f"{scope_css} button"):
        if b.text.strip().lower() == label.lower():
            return b
    raise AssertionError(f"no button {label!r} in {scope_css}")


def click_tab(driver, label: str) -> None:
    for t in driver.find_elements(By.CSS_SELECTOR, ".v-tab"):
        if t.text.strip().lower() == label.lower():
            t.click()
            return
    raise AssertionError(f"no tab {label!r}")


def choose(driver, select_css: str, option: str) -> None:
    """Pick ``option`` in the Vuetify select ``select_css``."""
    driver.find_element(By.CSS_SELECTOR, f"{select_css} .v-select__slot").click()
    xpath = ("//div[contains(@class,'menuable__content__active')]//div[contains(@class,'v-list-item__title')"
             f" and normalize-space()='{option}']")
    item = wait(driver, lambda d: (d.find_elements(By.XPATH, xpath) or [None])[0], f"option {option}")
    item.click()


def lever_input(driver, name: str):
    return driver.find_element(By.CSS_SELECTOR, f".bth-lever-{name} input")


def set_lever_text(driver, name: str, text: str) -> None:
    field = lever_input(driver, name)
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(text, Keys.ENTER)


def downloaded(driver, name: str) -> Path:
    path = driver.downloads / name
    wait(driver, lambda d: path.is_file() and path.stat().st_size > 0
         and not list(d.downloads.glob("*.crdownload")), f"download {name}")
    return path


def screenshot(driver, name: str) -> None:
    where = os.environ.get("BTH_SCREENSHOTS")
    if where:
        Path(where).mkdir(parents=True, exist_ok=True)
        driver.execute_script("window.scrollTo(0, 0);"
                              "document.querySelectorAll('.bth-levers').forEach(e => e.scrollTop = 0);")
        time.sleep(0.5)  # let the last image paint
        driver.save_screenshot(str(Path(where) / f"app-{name}.png"))


# ----------------------------------------------------------------------------- the test

def test_workbench_in_chromium(server, browser, results):
    d = browser
    started = time.monotonic()
    d.get(server)
    wait(d, lambda d: text_of(d, ".bth-figure-title"), "the first figure")
    first_title, first_table = text_of(d, ".bth-figure-title"), text_of(d, ".bth-table")
    assert first_title == "Beijing: Technology contract turnover (registered) (bn yuan per year)"
    assert "low-friction" in first_table and "baseline" in first_table

    # 1. switch the metric, then the region: the figure's title and the data table follow
    choose(d, ".bth-metric", "R&D spending (bn yuan per year)")
    wait(d, lambda d: text_of(d, ".bth-figure-title") == "Beijing: R&D spending (bn yuan per year)",
         "the R&D title")
    wait(d, lambda d: text_of(d, ".bth-table") not in ("", first_table), "a new table")
    beijing_table = text_of(d, ".bth-table")
    button(d, ".bth-region", "Tianjin").click()
    wait(d, lambda d: text_of(d, ".bth-figure-title") == "Tianjin: R&D spending (bn yuan per year)",
         "the Tianjin title")
    wait(d, lambda d: text_of(d, ".bth-table") not in ("", beijing_table), "the Tianjin table")
    res = load_results(results)
    r = res.regions
    tj = r[(r["region"] == "Tianjin") & (r["metric"] == "rd_spending_bn") & (r["scenario"] == "baseline")
           & (r["year"] == 2030)]["value"].median()
    assert f"{tj:,.2f}" in text_of(d, ".bth-table")  # the table shows the seeds' median
    screenshot(d, "explore")

    # 2. What if: move a lever with its slider; an out-of-range value gets the file's message
    click_tab(d, "What if")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".bth-lever-transfer_friction input"), "the levers")
    row = lever_input(d, "transfer_friction").find_element(
        By.XPATH, "ancestor::div[contains(concat(' ', normalize-space(@class), ' '), ' bth-lever ')][1]")
    thumb = row.find_element(By.CSS_SELECTOR, ".v-slider__thumb-container")
    ActionChains(d).move_to_element(thumb).click().perform()  # the slider takes the keyboard
    for _ in range(3):
        d.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    # three steps of 0.05 left of 1: from 2026 on (the slider leaves the calibrated years alone)
    wait(d, lambda d: lever_input(d, "transfer_friction").get_attribute("value") == "2025: 1, 2026: 0.85",
         "the slider's schedule in the text field")
    moved = lever_input(d, "transfer_friction").get_attribute("value")
    set_lever_text(d, "shared_labs", "7")
    wait(d, lambda d: "levers.shared_labs: expected a number between 0.0 and 1.0" in text_of(d, ".bth-lever-error"),
         "the out-of-range message")
    assert len(text_of(d, ".bth-lever-error").splitlines()) == 1
    set_lever_text(d, "shared_labs", "0")
    wait(d, lambda d: not d.find_elements(By.CSS_SELECTOR, ".bth-lever-error"), "the message to go")

    # 3. run the quick ensemble (4 seeds, scale 0.02): progress, then the effect
    assert "4" in text_of(d, ".bth-seeds .v-btn--active") and "0.02" in text_of(d, ".bth-scale .v-btn--active")
    pressed = time.monotonic()
    button(d, "body", "Run quick ensemble").click()
    wait(d, lambda d: "runs done" in text_of(d, ".bth-progress") or text_of(d, ".bth-effect"), "progress")
    saw_progress = "runs done" in text_of(d, ".bth-progress")
    wait(d, lambda d: text_of(d, ".bth-effect .bth-figure-title").startswith("What if: effect of baseline-whatif"),
         "the effect")
    round_trip = time.monotonic() - pressed
    assert saw_progress, "no progress was shown while the ensemble ran"
    assert "baseline-whatif" in text_of(d, ".bth-effect .bth-table")
    print(f"\nwhat-if round trip (4 seeds, scale 0.02, run pressed -> effect shown): {round_trip:.1f} s")
    screenshot(d, "whatif")

    # 4. Export: the data behind the Explore figure as CSV, the lever settings as TOML
    click_tab(d, "Export")
    wait(d, lambda d: d.find_elements(By.CSS_SELECTOR, ".bth-export-of"), "the export view")
    button(d, ".bth-export-of", "Explore").click()
    wait(d, lambda d: text_of(d, ".bth-figure-title") == "Tianjin: R&D spending (bn yuan per year)",
         "the Explore figure in Export")
    screenshot(d, "export")
    csv_button = next(b for b in d.find_elements(By.CSS_SELECTOR, "button")
                      if b.text.lower().startswith("data as csv"))
    csv_button.click()
    table = pd.read_csv(downloaded(d, "fan_Tianjin_rd_spending_bn.csv"))
    assert list(table.columns[:6]) == ["scenario", "year", "region", "metric", "unit", "median"]
    assert len(table) == 2 * 11  # two scenarios x 2020..2030
    assert set(table["scenario"]) == {"baseline", "low-friction"} and set(table["region"]) == {"Tianjin"}
    assert (table["unit"] == "bn yuan").all()
    assert table.loc[(table["scenario"] == "baseline") & (table["year"] == 2030), "median"].iloc[0] \
        == pytest.approx(tj)

    button(d, "body", "Scenario as TOML").click()
    scenario = load_scenario(downloaded(d, "baseline-whatif.toml"))
    schedule = scenario.levers["transfer_friction"]
    assert schedule.years == (2025, 2026)
    assert f"2025: 1, 2026: {schedule.values[-1]:g}" == moved
    assert schedule.values[-1] < 1.0
    print(f"browser test: {time.monotonic() - started:.1f} s from the first page load")
