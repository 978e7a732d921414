"""Benchmarks (``bbadj bench ...``); filled in by the speed-and-scale work."""
from __future__ import annotations


def add_bench_parser(sub) -> None:
    p = sub.add_parser("bench", help="measured benchmarks")
    p.set_defaults(func=lambda args: print("no benchmarks yet") or 0)
