"""``nnqft bench``: every benchmark section in one run, printed as a table and optionally written as JSON.

Sections (module: what it measures against what, each in the same run):

- ``throughput``: ensemble networks/s and neuron evaluations/s of cos_net, gauss_net, erf_net and relu_net at
  width 10, 100, 1000, against the bare-``jax.numpy`` roofline (the same draws and activations);
- ``baseline``: the same ensembles against a per-network NumPy loop (what the public HMS20 code does);
- ``precision``: time for the exact finite-width engine to reach a relative error on G4c, against the time the
  brute-force ensemble needs for the same error, at width 10, 100, 1000;
- ``scaling``: throughput with 1, 2, 4 forced host devices and with 1, 2 processes; peak memory against the
  number of networks; peak memory per device where the backend reports it;
- ``dtype``: float32 against float64 correlators of the same model (agreement in standard errors, and speed).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

SECTIONS = ("throughput", "baseline", "precision", "scaling", "dtype")


def run(sections=SECTIONS, quick: bool = False, log=None) -> list:
    """The :class:`~nnqft_ppl.benchmarks.figures.Figure` s of ``sections`` (names from :data:`SECTIONS`), in order;
    progress lines go to ``log`` (default: the current ``sys.stderr``)."""
    log = log or sys.stderr
    figures = []
    for name in sections:
        start = time.perf_counter()
        print(f"bench: {name} ...", file=log, flush=True)
        figures += importlib.import_module(f"nnqft_ppl.benchmarks.{name}").figures(quick=quick)
        print(f"bench: {name} done in {time.perf_counter() - start:.0f} s", file=log, flush=True)
    return figures


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="nnqft bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one round (a few minutes on 2 cores)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as {name, value, baseline, ratio, unit}")
    parser.add_argument(
        "--only", metavar="SECTIONS", help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})"
    )
    return parser


def main(args) -> list:
    """Run the sections ``args.only`` (default all), print the table, write ``args.json`` if given."""
    import jax

    from nnqft_ppl.benchmarks.figures import print_table, write_json

    sections = SECTIONS if args.only is None else tuple(part.strip() for part in args.only.split(",") if part.strip())
    unknown = [name for name in sections if name not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown benchmark section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    print(f"jax {jax.__version__} on {jax.devices()}", flush=True)
    figures = run(sections, quick=args.quick)
    print_table(figures)
    if args.json is not None:
        write_json(figures, args.json)
    return figures


if __name__ == "__main__":
    main(build_parser().parse_args())
