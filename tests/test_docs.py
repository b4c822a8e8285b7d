"""The documentation site: ``mkdocs build --strict`` (broken links, missing pages and
docstring problems fail it), every model and command has its page, and the built site opens
in headless Chromium, served over HTTP, with its navigation and images."""

from __future__ import annotations

import functools
import http.server
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aekit.models import MODELS
from tests.conftest import REPO
from tests.test_figures_report import _IMAGE_PROBE, CHROMIUM, _chromium

pytest.importorskip("mkdocs")
pytest.importorskip("mkdocs_gen_files")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    quiet = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}  # plugins' notices
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **quiet},
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    return out


def test_every_model_and_command_has_its_page(site):
    for name in MODELS:
        page = (site / "models" / name / "index.html").read_text()
        assert '<h2 id="options">Options' in page
        assert re.search(r'<img alt="[^"]+" src="\.\./figures/', page), f"{name} has no figure"
    overview = (site / "models" / "index.html").read_text()
    assert all(f'href="{name}/"' in overview for name in MODELS)
    cli = (site / "cli" / "index.html").read_text()
    from aekit.cli import cli as group

    for command in group.commands:
        assert f'id="aekit-{command}"' in cli, command
    assert "--wandb" in cli and "Sentinel" not in cli
    api = (site / "api" / "index.html").read_text()
    assert "aekit.plot" in api and "AutoencoderAnomalyDetector" in api


@pytest.fixture
def served(site):
    """The built site on an HTTP server of its own on 127.0.0.1 (workers need http://)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_site_opens_in_chromium_with_its_navigation_and_images(site, served, tmp_path):
    run = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom", f"{served}/")
    assert run.returncode == 0, run.stderr[-2000:]
    assert "<title>aekit</title>" in run.stdout
    for entry in ("Getting started", "Models", "Command line", "Python API", "Benchmarks"):
        assert entry in run.stdout, entry
    assert ":CONSOLE" not in run.stderr, run.stderr[-2000:]

    page = site / "models" / "vae" / "index.html"
    page.with_name("probe.html").write_text(page.read_text().replace("</body>", _IMAGE_PROBE))
    run = _chromium(tmp_path, "--virtual-time-budget=5000", "--dump-dom",
                    f"{served}/models/vae/probe.html")  # fmt: skip
    found = re.search(r'data-images="(\d+):(\d+)"', run.stdout)
    assert found, run.stderr[-2000:]
    assert int(found[1]) >= 2 and found[2] == "0"
