"""Opens a page in a real browser: headless Chromium (Debian's `chromium`, installed by .ci/run).

`render(path)` returns the DOM after scripts ran, every console message the page produced
(`console.*` calls and uncaught errors; Chromium logs them as INFO:CONSOLE lines) and a
screenshot as an RGB array. Without Chromium the caller's test skips, except under CI, where
it fails: .ci/run installs it, so a missing browser there is a broken setup.
"""
import os
import re
import shutil
import subprocess
import tempfile

import numpy as np
import pytest

CONSOLE = re.compile(r":INFO:CONSOLE[^\]]*\] (.*)")


def chromium():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium package)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


def _run(args):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             "--enable-logging=stderr", "--v=0", "--hide-scrollbars"]
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run([chromium(), *flags, f"--user-data-dir={profile}", *args],
                                capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"chromium exited {result.returncode}:\n{result.stderr[-2000:]}"
    return result


def render(path, width=1200, height=2400):
    """(dom, console messages, RGB screenshot) of a local page."""
    from PIL import Image

    url = "file://" + os.path.abspath(path)
    dump = _run(["--dump-dom", url])
    console = [m.group(1) for line in dump.stderr.splitlines() if (m := CONSOLE.search(line))]
    with tempfile.TemporaryDirectory() as folder:
        shot = os.path.join(folder, "page.png")
        _run([f"--window-size={width},{height}", f"--screenshot={shot}", url])
        image = np.asarray(Image.open(shot).convert("RGB"))
    return dump.stdout, console, image


def pixels_of(image, hex_color, tolerance=8):
    """How many pixels of the screenshot have this colour (±tolerance per channel)."""
    target = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image.astype(int) - target).max(axis=2) <= tolerance).sum())
