"""``aekit report``: one self-contained HTML page with every figure, and a run comparison.

The rendering check opens the page in headless Chromium (Debian's ``chromium`` package):
the screenshot must not be blank, every image must decode, and the console must stay quiet.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from aekit.cli import cli
from aekit.figures.progress import ProgressGif
from aekit.workflow import train
from tests.conftest import quick_config


def find_chromium() -> str | None:
    """Chromium as CI finds it (`command -v chromium`), also where PATH is narrower than the
    shell's: $CHROMIUM, the usual names, then the Debian package's own paths."""
    candidates = [os.environ.get("CHROMIUM")]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser")]
    candidates += ["/usr/bin/chromium", "/usr/lib/chromium/chromium", "/snap/bin/chromium"]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


CHROMIUM = find_chromium()
_IMAGE_PROBE = """<script>
window.addEventListener("load", () => {
  const broken = [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length;
  document.body.setAttribute("data-images", document.images.length + ":" + broken);
});
</script></body>"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[Path]:
    """A 2-d VAE with a progress GIF and a plain 4-d AE."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("report")
    vae = quick_config(model={"name": "vae", "latent_dim": 2, "hidden": [32]}, data={"limit": 200})
    ae = quick_config(model={"name": "ae", "latent_dim": 4, "hidden": [32]}, data={"limit": 200})
    return [
        train(vae, root / "vae", callbacks=[ProgressGif()]).path,
        train(ae, root / "ae").path,
    ]


@pytest.fixture(scope="module")
def single_report(runs) -> Path:
    result = CliRunner().invoke(cli, ["report", str(runs[0])])
    assert result.exit_code == 0, repr(result.exception)
    return runs[0] / "report.html"


def embedded_images(page: str) -> list[str]:
    return re.findall(r"src='data:image/(?:png|gif);base64,", page)


def test_report_is_self_contained_and_embeds_every_figure(runs, single_report):
    page = single_report.read_text()
    figures = [p for p in (runs[0] / "figures").iterdir() if p.suffix in (".png", ".gif")]
    assert len(embedded_images(page)) == len(figures)
    assert "progress.gif" in page and "curves.png" in page
    assert not re.search(r"(src|href)\s*=\s*['\"](?!data:|#)", page), "external reference"
    assert "http://" not in page and "https://" not in page
    assert "Final metrics" in page and "recon_bce" in page and "latent_dim: 2" in page


def test_report_draws_the_figures_a_run_lacks(runs, single_report):
    names = {p.stem for p in (runs[0] / "figures").glob("*.png")}
    assert {"traverse", "interpolate", "activations", "manifold", "latent"} <= names


def test_comparison_report_has_one_table_row_per_run(runs, tmp_path):
    out = tmp_path / "both.html"
    result = CliRunner().invoke(cli, ["report", *map(str, runs), "--out", str(out)])
    assert result.exit_code == 0, repr(result.exception)
    page = out.read_text()
    table = page.split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + len(runs)
    assert "href='#vae'" in table and "href='#ae'" in table
    assert "test recon_mse" in table
    # the VAE's loss is in nats per example, the AE's a mean per pixel: the table says which
    assert "<th>loss per</th>" in table
    assert "<td>example</td>" in table and "<td>element</td>" in table


def test_report_refuses_a_non_html_output(runs, tmp_path):
    result = CliRunner().invoke(cli, ["report", str(runs[1]), "--out", str(tmp_path / "r.pdf")])
    assert "HTML page" in str(result.exception)


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
def test_report_renders_in_chromium_with_its_images(single_report, tmp_path):
    shot = tmp_path / "shot.png"
    run = _chromium(
        tmp_path, f"--screenshot={shot}", "--window-size=1200,2000", single_report.as_uri()
    )
    assert run.returncode == 0, run.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32) / 255
    assert pixels.std() > 0.03 and (pixels < 0.5).mean() > 0.01, "blank screenshot"
    assert ":CONSOLE" not in run.stderr, run.stderr
    # The same page with a probe script: did every embedded image decode?
    probe = tmp_path / "probe.html"
    page = single_report.read_text()
    probe.write_text(page.replace("</body>", _IMAGE_PROBE))
    run = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    found = re.search(r'data-images="(\d+):(\d+)"', run.stdout)
    assert found, run.stderr[-2000:]
    assert int(found[1]) == len(embedded_images(page)) and found[2] == "0"
    assert ":CONSOLE" not in run.stderr, run.stderr
