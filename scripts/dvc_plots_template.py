"""Write the HTML template that makes `dvc plots show` / `dvc plots diff` render offline.

DVC's default page loads vega, vega-lite and vega-embed from a CDN, so without a network its plots
are blank. DVC fills a custom template's `{plot_divs}` with the plots (each a `vegaEmbed(...)`
call) and adds its CDN `<script>` tags only where the template has `{scripts}`: this template has
no `{scripts}` and carries the three libraries inline, bundled by the vl-convert-python package
(`vl_convert.javascript_bundle()`, which sets `window.vegaEmbed`, `window.vega` and
`window.vegaLite`). `.dvc/config` names the file (`plots.html_template`, relative to `.dvc/`).

    python scripts/dvc_plots_template.py            # (re)writes .dvc/offline_plots.html
    python scripts/dvc_plots_template.py --check    # exit 1 if the file differs from what it would write

Needs only vl-convert-python (`make setup` installs it with the test extras); no bbadj import.
Licences: vega, vega-lite and vega-embed are BSD-3-Clause (University of Washington Interactive
Data Lab); vl-convert-python is BSD-3-Clause (Vega); the bundle also holds their dependencies
(d3 modules: ISC; lodash.debounce: MIT), as the header of the written file says.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / ".dvc" / "offline_plots.html"

PAGE = """<!DOCTYPE html>
<!-- Written by scripts/dvc_plots_template.py; do not edit by hand.
     The DVC plots page, offline: vega {vega}, vega-lite {vega_lite}, vega-embed {vega_embed}, bundled
     by vl-convert-python {vl_convert} (BSD-3-Clause). vega, vega-lite, vega-embed: BSD-3-Clause,
     Copyright (c) University of Washington Interactive Data Lab. Their dependencies in the bundle:
     d3 modules (ISC, Mike Bostock), lodash.debounce (MIT, JS Foundation), json-stringify-pretty-compact
     (MIT), fast-json-stable-stringify (MIT), vega-themes, vega-tooltip, vega-schema-url-parser (BSD-3-Clause). -->
<html>
<head>
    <meta charset="utf-8">
    {refresh_tag}
    <title>DVC plots: bbadj</title>
    <script type="text/javascript">
{bundle}
    </script>
    <style>
        body { font-family: sans-serif; }
        table { border-spacing: 15px; }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
"""


def render() -> str:
    import vl_convert as vlc

    bundle = vlc.javascript_bundle()
    if "</script" in bundle.lower() or "{plot_divs}" in bundle or "{scripts}" in bundle:
        raise SystemExit("the vl-convert bundle cannot be inlined as it is (it holds </script or a DVC placeholder)")
    # replace, not str.format: DVC's own placeholders ({plot_divs}, {refresh_tag}) stay for DVC to fill
    page = PAGE
    fields = {
        "vega": vlc.get_vega_version(),
        "vega_lite": vlc.get_vegalite_versions()[-1],
        "vega_embed": vlc.get_vega_embed_version(),
        "vl_convert": vlc.__version__,
    }
    for key, value in fields.items():
        page = page.replace("{" + key + "}", value)
    return page.replace("{bundle}", bundle)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the file on disk, write nothing")
    ap.add_argument("-o", "--out", type=Path, default=OUT, help=f"where to write (default {OUT.relative_to(ROOT)})")
    args = ap.parse_args(argv)
    page = render()
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf8") == page
        print(f"{args.out}: {'up to date' if same else 'differs from what this vl-convert writes'}")
        return 0 if same else 1
    args.out.write_text(page, encoding="utf8")
    print(f"wrote {args.out} ({len(page) // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
