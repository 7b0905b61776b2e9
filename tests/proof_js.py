"""The pages' proof modules (`web/static/proof-check.js`, `proof-consensus.js`) run in
Node, for the tests that hold them to the Python modules `couponchain verify` runs
(tests/unit/test_proof_check_js.py on built inputs, tests/integration/test_clique_network.py
on a real Clique network's headers)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from couponchain.chain.node import node_dir

STATIC = Path(__file__).resolve().parents[1] / "src" / "couponchain" / "web" / "static"
MODULES = ("proof-check.js", "proof-consensus.js")


def js_folder(folder: Path) -> Path:
    """`folder` set up to run the proof modules as ES modules, importing @noble/* from
    the node's installed packages; fails the test when Node or a package is missing."""
    import pytest

    modules = node_dir() / "node_modules"
    if shutil.which("node") is None or not all(
            (modules / "@noble" / name).is_dir() for name in ("hashes", "curves")):
        pytest.fail("node, @noble/hashes or @noble/curves is missing: run scripts/setup")
    (folder / "node_modules").symlink_to(modules)
    for name in MODULES:
        shutil.copy(STATIC / name, folder / name)
    (folder / "package.json").write_text('{"type": "module"}')
    return folder


def run_driver(folder: Path, driver: str, cases: Any) -> Any:
    """Run `driver` (an ES module reading the JSON `cases` on stdin and printing its
    answer as JSON) in `folder` (set up by `js_folder`); its answer."""
    (folder / "driver.js").write_text(driver)
    done = subprocess.run(["node", "driver.js"], cwd=folder, input=json.dumps(cases),
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


#: cases [[checkpoint, headers, epoch]] -> proof-consensus.js's cliqueSigners of each
#: (lower-case addresses), or {error, message} where it refuses the chain.
CLIQUE_SIGNERS_DRIVER = """
import { cliqueSigners } from "./proof-consensus.js";
let text = "";
process.stdin.on("data", (c) => { text += c; });
process.stdin.on("end", () => {
  console.log(JSON.stringify(JSON.parse(text).map(([checkpoint, headers, epoch]) => {
    try {
      return cliqueSigners(checkpoint, headers, epoch);
    } catch (error) {
      return { error: error.constructor.name, message: error.message };
    }
  })));
});
"""
