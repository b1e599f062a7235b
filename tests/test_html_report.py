"""The HTML report: self-contained, and it renders in a real headless Chromium."""

import shutil
import struct
import subprocess
import zlib

import pytest
from conftest import REFERENCE, REPO

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Reports for the reference and for the two-bug example, written by `grade --html`."""
    from grader import cli

    folder = tmp_path_factory.mktemp("html")
    written = {}
    for name, submission in (
        ("reference", REFERENCE),
        ("example", REPO / "examples" / "submission"),
    ):
        written[name] = folder / f"{name}.html"
        assert cli.main([str(submission), "--html", str(written[name])]) == 0
    return written


@pytest.mark.parametrize("name", ["reference", "example"])
def test_report_needs_no_network(reports, name):
    page = reports[name].read_text()

    assert "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in page and "<script" not in page


@pytest.mark.parametrize("name", ["reference", "example"])
def test_report_holds_table_activation_and_training_plots(reports, name):
    page = reports[name].read_text()

    assert "id='scores'" in page
    assert page.count("<svg") == 3 * 2 + 2  # A and dA/dH per activation, two training curves


def test_buggy_submission_report_shows_its_feedback(reports):
    page = reports["example"].read_text()

    assert "departs from torch" in page and "constant factor N" in page


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (make test installs it)")
def test_report_renders_in_headless_chromium(reports, tmp_path):
    screenshot = tmp_path / "report.png"
    profile = tmp_path / "profile"

    shown = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", reports["example"].as_uri()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", f"--screenshot={screenshot}",
         "--window-size=1000,1400", reports["example"].as_uri()],
        capture_output=True,
        timeout=60,
    )  # fmt: skip

    assert shown.returncode == 0
    assert '<table id="scores">' in shown.stdout and shown.stdout.count("<polyline") >= 8
    assert _distinct_colours(screenshot.read_bytes()) > 3


def _distinct_colours(png: bytes) -> int:
    """Distinct sampled pixel byte groups (after PNG row filters); a blank page has ~1."""
    chunks, position = {}, 8
    while position < len(png):
        length, kind = struct.unpack(">I4s", png[position : position + 8])
        chunks.setdefault(kind, b"")
        chunks[kind] += png[position + 8 : position + 8 + length]
        position += 12 + length
    width, height, _, colour_type = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = 4 if colour_type == 6 else 3
    row = 1 + width * stride
    return len({raw[y * row + 1 + x * stride : y * row + 1 + (x + 1) * stride]
                for y in range(0, height, 7) for x in range(0, width, 7)})  # fmt: skip
