"""docs/figures/viewer.png: nerfstudio's viewer on a latent run, in headless Chromium, split screen: the decoded image
(left) beside the fixed view of the latent channels (right), split at a fraction of the width (third argument,
default 0.5).

    PYTHONPATH=. .venv/bin/python docs/figures/viewer_screenshot.py \\
        results/runs/latent/igae/tensorf/heldout/photo_000/seed1234 docs/figures/viewer.png

The viewer is the one ``igae view`` starts (:func:`igae.nerf.view_run.load_run`,
:func:`igae.nerf.view_run.start_viewer`), run in this process so that the split screen can be switched on; it opens at
its default Max res for the device. The browser is the test suite's (tests/headless_chromium.py: every host but
127.0.0.1 unresolvable). The PNG is stored with a 256-colour palette (the frame is smooth; that keeps it under 300 KB).
The README's: the default configuration's run (config.yaml, 420 steps), made on a 2-core CPU.
"""

from __future__ import annotations

import re
import socket
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))
from headless_chromium import HeadlessChromium  # noqa: E402

from igae.nerf.view_run import load_run, start_viewer  # noqa: E402


def main(run: str, out: str, split: float = 0.5, width: int = 1280, height: int = 800, timeout: float = 600.0) -> None:
    config, pipeline, step, _ = load_run(run)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    viewer = start_viewer(config, pipeline, step, port=port)
    max_res = viewer.control_panel.max_res
    try:
        with tempfile.TemporaryDirectory() as folder, HeadlessChromium(Path(folder), width, height) as browser:
            browser.open(f"http://127.0.0.1:{port}")
            deadline = time.monotonic() + timeout
            while not any(machine.output_keys for machine in viewer.render_statemachines.values()):
                if time.monotonic() > deadline:
                    raise TimeoutError("the viewer sent no frame")
                time.sleep(1.0)
            panel = viewer.control_panel
            panel._split.value = True  # nerfstudio's "Split Screen": decoded rgb | the latent view
            panel._split_output_render.value = "latent"
            panel._split_percentage.value = split
            panel.update_control_panel()
            viewer._trigger_rerender()
            time.sleep(2.0)
            while True:  # until the frame at rest (Max res on its longer side) is shown
                text = browser.evaluate("document.body ? document.body.innerText : ''") or ""
                found = re.search(r"Resolution: (\d+)[x×](\d+)px", text)
                if found and max(map(int, found.groups())) == max_res:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError("the viewer sent no frame at rest")
                time.sleep(1.0)
            time.sleep(4.0)
            shot = browser.screenshot()
    finally:
        viewer.viser_server.stop()
    Image.fromarray(shot).quantize(256, method=Image.Quantize.MEDIANCUT).save(out, optimize=True)
    print(f"{out}: {Path(out).stat().st_size / 1024:.0f} KB, {shot.shape[1]}x{shot.shape[0]}, frame at rest {max_res}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *map(float, sys.argv[3:4]))
