"""``bbadj bench serve-latency``: p50/p95 of one interactive request to ``bbadj serve`` (what Label
Studio sends when a person has drawn a rectangle: one task, one rectangle), end to end over HTTP on
localhost: the request in, the image fetched from a local server that stands in for Label
Studio's uploads (with a token), decoded, snapped, the answer out; interleaved run by run with
``bbadj.adjust`` on the image already decoded (the model's share)."""

from __future__ import annotations

import functools
import json
import tempfile
import threading
import time
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import torch

from ..args import config_from_args
from ..data.images import read_rgb
from ..snap.adjust import adjust
from ..serve.fetch import LabelStudioImages
from ..serve.server import Backend, make_server
from ..util.device import resolve_device
from .adjust_latency import _synthetic_jpeg
from .common import (
    add_common_args,
    args_dict,
    machine,
    model_for,
    percentile_ms,
    print_table,
    set_threads,
    write_result,
)

CONFIG = (
    '<View><Image name="image" value="$image"/><RectangleLabels name="label" toName="image" smart="true">'
    '<Label value="object"/></RectangleLabels></View>'
)


class _Files(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def interactive_payload(name: str, box, width: int, height: int) -> dict:
    """Label Studio's /predict body after a drag (as its editor sends it, tests/test_serve.py)."""
    x0, y0, x1, y1 = box
    drawn = {
        "id": "drawn",
        "from_name": "label",
        "to_name": "image",
        "type": "rectanglelabels",
        "origin": "manual",
        "original_width": width,
        "original_height": height,
        "image_rotation": 0,
        "value": {
            "x": 100 * x0 / width,
            "y": 100 * y0 / height,
            "width": 100 * (x1 - x0) / width,
            "height": 100 * (y1 - y0) / height,
            "rotation": 0,
            "rectanglelabels": ["object"],
        },
    }
    task = {"id": 1, "data": {"image": f"/data/upload/1/{name}"}, "annotations": [], "drafts": [], "predictions": []}
    return {
        "tasks": [task],
        "project": "1.1",
        "label_config": CONFIG,
        "params": {"login": None, "password": None, "context": {"result": [drawn]}},
    }


def bench_serve_latency(model, image_path: str | Path, box, runs: int = 100, warmup: int = 10) -> dict:
    image_path = Path(image_path)
    image = read_rgb(image_path)
    body = json.dumps(interactive_payload(image_path.name, box, image.shape[2], image.shape[1])).encode()
    with tempfile.TemporaryDirectory(prefix="bbadj-serve-bench-") as folder:
        uploads = Path(folder) / "data" / "upload" / "1"
        uploads.mkdir(parents=True)
        (uploads / image_path.name).write_bytes(image_path.read_bytes())
        files = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Files, directory=folder))
        backend = Backend(model, images=LabelStudioImages(f"http://127.0.0.1:{files.server_address[1]}", "bench-token"))
        backend.log = lambda message: None  # one line per request would be timed too
        server = make_server(backend, "127.0.0.1", 0)
        for s in (files, server):
            threading.Thread(target=s.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/predict"

        def request():
            req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                answer = json.loads(r.read())
            if len(answer["results"][0]["result"]) != 1:
                raise RuntimeError(f"bbadj serve answered {answer}")

        calls = {"request": request, "adjust_decoded": lambda: adjust(image, [box], model)}
        times: dict[str, list[float]] = {k: [] for k in calls}
        try:
            for k in range(warmup + runs):
                for name, fn in calls.items():
                    t0 = time.perf_counter()
                    fn()
                    if k >= warmup:
                        times[name].append(time.perf_counter() - t0)
        finally:
            for s in (server, files):
                s.shutdown()
                s.server_close()
    out = {"benchmark": "serve-latency"}
    for name, ts in times.items():
        out[f"{name}_p50_ms"] = percentile_ms(ts, 50)
        out[f"{name}_p95_ms"] = percentile_ms(ts, 95)
    out.update(
        {
            "runs": runs,
            "warmup_runs": warmup,
            "image": str(image_path),
            "image_wh": [int(image.shape[2]), int(image.shape[1])],
            "box": [float(v) for v in box],
            "backbone": model.cfg.backbone,
            "crop_size": model.geometry.crop_size,
            "torch_threads": torch.get_num_threads(),
        }
    )
    return out


def cmd_serve_latency(args) -> int:
    set_threads(args)
    model, what = model_for(args, config_from_args(args), resolve_device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        image = Path(args.image) if args.image else _synthetic_jpeg(Path(tmp))
        if args.box:
            box = [float(v) for v in args.box.split(",")]
        else:  # the central quarter of the image
            h, w = read_rgb(image).shape[1:]
            box = [w / 4, h / 4, 3 * w / 4, 3 * h / 4]
        info = machine("cpu")
        result = bench_serve_latency(model, image, box, args.runs, args.warmup)
    if not args.image:
        result["image"] = "synthetic 640x480 JPEG (smooth noise)"
    result.update({"model": what, "args": args_dict(args), "machine": info})
    write_result(result, args.out)
    print_table(
        f"bbadj serve, one interactive request, {what}, S={result['crop_size']}, cpu",
        [
            (
                "request (HTTP, fetch, decode, snap) p50/p95 ms",
                f"{result['request_p50_ms']:.2f} / {result['request_p95_ms']:.2f}",
            ),
            (
                "adjust (decoded) p50/p95 ms",
                f"{result['adjust_decoded_p50_ms']:.2f} / {result['adjust_decoded_p95_ms']:.2f}",
            ),
        ],
    )
    return 0


def add_parser(sub) -> None:
    q = sub.add_parser(
        "serve-latency",
        help="p50/p95 of one interactive request to bbadj serve (Label Studio's backend) vs bbadj.adjust alone",
    )
    q.add_argument("--checkpoint", help="a bbadj checkpoint (default: an untrained model from the config)")
    q.add_argument("--image", help="an image file (default: a synthetic 640x480 JPEG)")
    q.add_argument("--box", metavar="x0,y0,x1,y1", help="default: the central quarter of the image")
    q.add_argument("--runs", type=int, default=100)
    q.add_argument("--warmup", type=int, default=10)
    add_common_args(q)
    q.set_defaults(func=cmd_serve_latency)
