"""Rewrite the README's `bbadj show` sample from the committed study: `make docs-samples` runs
`bbadj show --set <the test set>` at 120 columns and puts its output in the fenced block that starts
with `$ bbadj show`.
tests/test_readme.py checks the sample's numbers against the committed metric files, so a study rerun
without this is caught."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```\n\$ bbadj show[^\n]*\n.*?```", flags=re.S)


def main() -> None:
    env = {**os.environ, "COLUMNS": "120"}
    sys.path.insert(0, str(ROOT))
    from bbadj.core.params import Params

    command = ["bbadj", "show", "--set", Params.load(ROOT / "params.yaml").base.eval.test_set]
    shown = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout.rstrip()
    readme = ROOT / "README.md"
    text, n = BLOCK.subn(lambda _: f"```\n$ {' '.join(command)}\n{shown}\n```", readme.read_text(), count=1)
    if n != 1:
        sys.exit("README.md has no fenced block starting with `$ bbadj show`")
    readme.write_text(text)
    print(f"README.md: the bbadj show sample rewritten ({len(shown.splitlines())} lines)")


if __name__ == "__main__":
    main()
