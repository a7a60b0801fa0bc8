"""``ganlit demo`` in a real browser: the page of each model kind gives the same PNG as ``ganlit translate``/``sample``.

Three tiny digits checkpoints (CycleGAN, StarGAN, CGAN) are trained for two steps, one ``ganlit demo`` per checkpoint is
started on a free loopback port, and headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by
Selenium) uploads an image, sets the controls, presses the button and reads back the output image. Set
GANLIT_DEMO_SCREENSHOTS=DIR to keep the screenshots (the documentation's come from here).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_demo_pages import read_png, write_image

from ganlit.cli import main as ganlit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
_missing = [name for name, found in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER)) if not found]
_missing += [f"python package {m}" for m in ("gradio", "selenium") if importlib.util.find_spec(m) is None]
WHY_SKIP = (f"no browser test here: {', '.join(_missing)} missing (pip install -e '.[dev,demo]'; "
            "apt-get install chromium chromium-driver)")

KINDS = ("cyclegan", "stargan", "cgan")
CAPS = ("--max-upload-mb", "0.05", "--max-pixels", "100000")  # 51.2 KB; 100,000 pixels
WAIT = 120  # seconds a page or a result may take on a loaded 2-core machine (never asserted on)
SHOTS = Path(os.environ["GANLIT_DEMO_SCREENSHOTS"]) if os.environ.get("GANLIT_DEMO_SCREENSHOTS") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``ganlit demo`` process in its own empty working folder."""

    def __init__(self, ckpt: Path, cwd: Path, *options: str) -> None:
        self.cwd, self.port, self.interrupted = cwd, free_port(), False
        self.url = f"http://127.0.0.1:{self.port}/"
        cwd.mkdir()
        self.log = open(cwd.parent / f"{cwd.name}.log", "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "ganlit", "demo", "--model", str(ckpt),
                                      "--port", str(self.port), *options], cwd=cwd, stdout=self.log,
                                     stderr=subprocess.STDOUT,
                                     env={**os.environ, "OMP_NUM_THREADS": "1"})

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"ganlit demo exited:\n{self.output()[-3000:]}"
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise AssertionError(f"ganlit demo did not serve {self.url}:\n{self.output()[-3000:]}")

    def interrupt(self) -> None:
        """Ctrl+C, once: a second one could cut the clean shutdown short."""
        if self.proc.poll() is None and not self.interrupted:
            self.proc.send_signal(signal.SIGINT)
            self.interrupted = True

    def stop(self) -> int:
        self.interrupt()
        if self.proc.poll() is None:
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    if _missing:
        pytest.skip(WHY_SKIP)
    from demo_ckpts import train_tiny

    root = tmp_path_factory.mktemp("demo")
    ckpts = {kind: train_tiny(kind, root) for kind in KINDS}
    caps = {"cyclegan": CAPS}  # one server also shows the upload and image-size caps
    started = {kind: Server(ckpts[kind], root / f"cwd_{kind}", *caps.get(kind, ())) for kind in KINDS}
    try:
        for server in started.values():
            server.wait_ready()
        yield {kind: (ckpts[kind], started[kind]) for kind in KINDS}
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(scope="module")
def browser():
    if _missing:
        pytest.skip(WHY_SKIP)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1200,1000"):
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="ganlit-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _by():
    from selenium.webdriver.common.by import By

    return By


def _wait(driver):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT)


def open_page(driver, url: str) -> None:
    driver.get(url)
    _wait(driver).until(lambda d: d.find_elements(_by().CSS_SELECTOR, "#run"))


def upload(driver, elem_id: str, path: Path) -> None:
    driver.find_element(_by().CSS_SELECTOR, f"#{elem_id} input[type=file]").send_keys(str(path))
    _wait(driver).until(lambda d: path.stem in d.find_element(_by().CSS_SELECTOR, f"#{elem_id}").text)


def output_src(driver) -> str | None:
    images = driver.find_elements(_by().CSS_SELECTOR, "#output img")
    return images[0].get_attribute("src") if images else None


def press_and_fetch(driver, button: str, shot: str | None = None) -> np.ndarray:
    """Press the button, wait for a new output image, return its pixels as served to the browser."""
    before = output_src(driver)
    driver.find_element(_by().CSS_SELECTOR, f"#{button}").click()
    _wait(driver).until(lambda d: output_src(d) not in (None, before))
    if SHOTS is not None and shot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        time.sleep(1)  # let the image paint before the screenshot
        driver.save_screenshot(str(SHOTS / f"{shot}.png"))
    with urllib.request.urlopen(output_src(driver), timeout=30) as r:
        return read_png(r.read())


def click_label(driver, elem_id: str, text: str) -> None:
    """Click the radio/checkbox labelled ``text`` inside element ``elem_id``."""
    labels = [e for e in driver.find_elements(_by().CSS_SELECTOR, f"#{elem_id} label") if e.text.strip() == text]
    assert labels, f"no control {text!r} in #{elem_id}"
    labels[0].click()


def translate_cli(tmp_path: Path, ckpt: Path, image: Path, *options: str) -> np.ndarray:
    out = tmp_path / f"cli_{len(list(tmp_path.glob('cli_*')))}"
    assert ganlit(["translate", "--model", str(ckpt), "--input", str(image), "--output", str(out), *options]) == 0
    return read_png(out / f"{image.stem}.png")


@pytest.mark.slow
def test_translation_page_matches_ganlit_translate(servers, browser, tmp_path):
    ckpt, server = servers["cyclegan"]
    image = write_image(tmp_path / "photo.png")
    open_page(browser, server.url)
    upload(browser, "upload", image)
    click_label(browser, "direction", "BtoA")
    got = press_and_fetch(browser, "run", shot="translation")
    expected = translate_cli(tmp_path, ckpt, image, "--direction", "BtoA")
    assert got.shape == (20, 24, 3)  # the input's own size (24x20), as translate keeps it, not the training 16
    np.testing.assert_array_equal(got, expected)
    click_label(browser, "direction", "AtoB")
    got = press_and_fetch(browser, "run")
    np.testing.assert_array_equal(got, translate_cli(tmp_path, ckpt, image, "--direction", "AtoB"))
    assert not np.array_equal(got, expected)
    # everything the page loaded came from the demo itself: no CDN, no fonts or analytics from the internet
    loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and [u for u in loaded if not u.startswith((server.url, "data:", "blob:"))] == []


@pytest.mark.slow
def test_a_file_that_is_not_an_image_gets_a_message_in_the_page(servers, browser, tmp_path):
    _, server = servers["cyclegan"]
    fake = tmp_path / "notes.png"
    fake.write_text("these are notes, not pixels")
    open_page(browser, server.url)
    upload(browser, "upload", fake)
    browser.find_element(_by().CSS_SELECTOR, "#run").click()
    message = "notes.png is not an image this demo can read"
    _wait(browser).until(lambda d: message in d.find_element(_by().TAG_NAME, "body").text)
    assert output_src(browser) is None


@pytest.mark.slow
def test_uploads_over_the_caps_get_a_message_in_the_page(servers, browser, tmp_path):
    _, server = servers["cyclegan"]
    noisy = write_image(tmp_path / "noisy.png", (200, 200))  # ~120 KB of random pixels: over 51.2 KB
    assert noisy.stat().st_size > 0.05 * 1024 * 1024
    open_page(browser, server.url)
    browser.find_element(_by().CSS_SELECTOR, "#upload input[type=file]").send_keys(str(noisy))
    message = 'exceed the maximum allowed size of 51.2 Kb: "noisy.png"'
    _wait(browser).until(lambda d: message in d.find_element(_by().TAG_NAME, "body").text)
    wide = tmp_path / "wide.png"
    Image.new("RGB", (400, 300), (200, 30, 30)).save(wide)  # small file, 120,000 pixels
    open_page(browser, server.url)
    upload(browser, "upload", wide)
    browser.find_element(_by().CSS_SELECTOR, "#run").click()
    message = "wide.png is 400x300 = 120,000 pixels; this demo accepts at most 100,000 (ganlit demo --max-pixels)."
    _wait(browser).until(lambda d: message in d.find_element(_by().TAG_NAME, "body").text)
    assert output_src(browser) is None


@pytest.mark.slow
def test_stargan_page_matches_ganlit_translate(servers, browser, tmp_path):
    ckpt, server = servers["stargan"]
    image = write_image(tmp_path / "face.png", seed=1)
    open_page(browser, server.url)
    upload(browser, "upload", image)
    click_label(browser, "group", "green")  # the colours are one exclusive choice
    browser.find_element(_by().CSS_SELECTOR, "#attr-thick input").click()
    got = press_and_fetch(browser, "run", shot="stargan")
    expected = translate_cli(tmp_path, ckpt, image, "--target", "red=0,green=1,blue=0,thick=1,inverted=0")
    assert got.shape == (20, 24, 3)
    np.testing.assert_array_equal(got, expected)
    # The whole test row of an input that is inverted: input + one image per attribute.
    click_label(browser, "source", "inverted")
    got = press_and_fetch(browser, "row", shot="stargan_row")
    expected = translate_cli(tmp_path, ckpt, image, "--source", "inverted=1")
    assert got.shape == (20, 24 * 6, 3)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
def test_cgan_page_matches_ganlit_sample(servers, browser, tmp_path):
    ckpt, server = servers["cgan"]
    open_page(browser, server.url)
    dropdown = browser.find_element(_by().CSS_SELECTOR, "#label input")
    dropdown.click()
    _wait(browser).until(lambda d: [o for o in d.find_elements(_by().CSS_SELECTOR, "ul li")
                                                  if o.text.strip() == "7"])
    [o for o in browser.find_elements(_by().CSS_SELECTOR, "ul li") if o.text.strip() == "7"][0].click()
    for elem_id, value in (("num", "5"), ("seed", "3")):
        box = browser.find_element(_by().CSS_SELECTOR, f"#{elem_id} input[type=number]")
        box.clear()
        box.send_keys(value)
    got = press_and_fetch(browser, "run", shot="cgan")
    out = tmp_path / "samples"
    assert ganlit(["sample", "--ckpt", str(ckpt), "--num", "5", "--seed", "3", "--labels", "7",
                   "--output", str(out)]) == 0
    tiles = [read_png(out / f"7_{i}.png") for i in range(5)]
    # the grid: one row of five 16 px tiles, 2 px of black around each
    expected = np.zeros((2 + 16 + 2, 2 + 5 * 18, 3), np.uint8)
    for i, tile in enumerate(tiles):
        expected[2:18, 2 + 18 * i:18 + 18 * i] = tile
    np.testing.assert_array_equal(got, expected)


@pytest.mark.slow
def test_servers_listen_on_loopback_stop_on_ctrl_c_and_leave_no_files(servers):
    workdirs = {}
    for kind, (_, server) in servers.items():
        text = server.output()
        assert f"serving http://127.0.0.1:{server.port}/" in text, text[-2000:]
        workdirs[kind] = re.findall(r"files in (\S+) \(deleted on exit\)", text)
        assert len(workdirs[kind]) == 1, text[-2000:]
        server.interrupt()  # all at once
    for kind, (_, server) in servers.items():
        assert server.stop() == 0, server.output()[-2000:]
        assert list(server.cwd.iterdir()) == [], kind  # nothing written where it was started
        assert not Path(workdirs[kind][0]).exists(), workdirs[kind]
