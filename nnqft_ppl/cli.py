"""The ``nnqft`` command: the library's second face.

    nnqft models
    nnqft sample MODEL --points "0;0.5;1" [--set width=10 ...] [--nets N] [--orders 2,4,6]
                 [--seed 0] [--method ensemble|neurons] [--mixed field_neuron,... [--neuron-points "0;0.5"]]
                 [--json FILE] [--out DIR]
    nnqft sample MODEL --points ... [--blocks 20] --shard K/M --out DIR (shard K of M, 0-based: DIR/shard-K-of-M.npz)
    nnqft sample MODEL --points ... [options] --distributed             (one process of a jax.distributed run)
    nnqft merge FILES... [--json FILE] [--out DIR]                      (the shards of a run -> its result)
    nnqft scan MODEL --points ... [--widths 2,5,10,...] [--method ensemble|neurons|both] [--out DIR]
    nnqft scan --preset hms20 [--d 1] [--out DIR]
    nnqft coupling MODEL --points ... --width N [--cutoffs 7,10,...] [--out DIR]
    nnqft coupling --preset hms20 [--out DIR]
    nnqft check MODEL [--set ...] [--d 1] [--scale 1] [--nets N] [--json FILE]
    nnqft compare MODEL_A MODEL_B [--set-a K=V ...] [--set-b K=V ...] [--points ...] [--d 1] [--nets N] [--json FILE]
    nnqft compare --pair cos-gauss [--set-a ...] [--set-b ...] [--d 1] [--nets N] [--json FILE]
    nnqft infer MODEL --points ... [--deform phi4:lam=0.1 --box L=10] [--method nuts|map|reweight]
                [--chains 4 --samples 1000 --warmup 1000 | --starts 16 --steps 2000 | --nets N] [--out DIR]
    nnqft action MODEL --points ... [--order 1|2] [--regularisation EPS] [--out DIR]
    nnqft reproduce [--quick] [--out DIR]
    nnqft bench [--quick] [--json FILE] [--only throughput,baseline,precision,scaling,dtype]

Bad input exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, status 2
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def _parse_sets(items) -> dict:
    params = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        params[key.strip()] = value
    return params


def _parse_orders(text: str):
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--orders expects comma-separated integers, got {text!r}") from None


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nnqft", description="Neural-network field theories: correlators, theory, checks.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("models", help="list the models")

    sample = commands.add_parser("sample", help="correlators of a model at points, with theory beside them")
    sample.add_argument("model", help="registered name, or file.py:function / module:function")
    where = sample.add_mutually_exclusive_group(required=True)
    where.add_argument("--points", help='points: ";" between points, "," between coordinates, e.g. "0,0;1,0"')
    where.add_argument("--points-file", help=".npy or .txt file of shape (n_points, d)")
    sample.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    sample.add_argument("--nets", type=int, default=100_000, help="number of networks (default 100000)")
    sample.add_argument("--orders", default="2,4", help="correlator orders, e.g. 2,4,6 (default 2,4)")
    sample.add_argument("--seed", type=int, default=0)
    sample.add_argument(
        "--method",
        choices=("ensemble", "neurons"),
        default="ensemble",
        help="brute-force ensemble, or the exact finite-width engine (i.i.d. neurons)",
    )
    sample.add_argument("--checkpoint", help="checkpoint file: saved periodically, resumed if present")
    sample.add_argument(
        "--blocks", type=int, default=20, help="jackknife blocks (default 20; at least as many as --shard's M)"
    )
    sample.add_argument(
        "--mixed",
        help="also mixed field-neuron correlators from the ensemble's --nets networks (PHYSICS G.2), comma-separated: "
        "field_neuron, field_bare_neuron, field_field_neuron_squared",
    )
    sample.add_argument("--neuron-points", help='neuron probe points of --mixed (default: the points), e.g. "0;0.5"')
    sample.add_argument("--json", help="write the run record (JSON) to this file")
    sample.add_argument("--out", help="directory for correlators.nc, result.json and g2.png")
    sample.add_argument("--quiet", action="store_true", help="no progress bar or table")
    split = sample.add_mutually_exclusive_group()
    split.add_argument(
        "--shard",
        metavar="K/M",
        help="compute only shard K (0-based) of M of the run (whole jackknife blocks) and write "
        "DIR/shard-K-of-M.npz (needs --out DIR); nnqft merge combines the M files into the run's result",
    )
    split.add_argument(
        "--distributed",
        action="store_true",
        help="one process of a jax.distributed run (JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES, JAX_PROCESS_ID, "
        "or srun): each process computes one shard; process 0 writes --json/--out",
    )

    merge = commands.add_parser("merge", help="combine the shard files of a run (nnqft sample --shard) exactly")
    merge.add_argument("files", nargs="+", help="shard files of one run, one per shard")
    merge.add_argument("--model", help="the model, if the shards' reference (e.g. file.py:function) does not load here")
    merge.add_argument("--json", help="write the run record (JSON) to this file")
    merge.add_argument("--out", help="directory for correlators.nc, result.json and g2.png")
    merge.add_argument("--quiet", action="store_true", help="no table")

    scan = commands.add_parser("scan", help="width scan: approach to the Gaussian limit (HMS20)")
    scan.add_argument("model", nargs="?", help="model (omit with --preset)")
    scan.add_argument("--preset", help="named experiment, e.g. hms20 (all its architectures and inputs)")
    scan.add_argument("--d", type=int, help="with --preset: only the cases in this dimension")
    scan_where = scan.add_mutually_exclusive_group()
    scan_where.add_argument("--points", help='points: ";" between points, "," between coordinates')
    scan_where.add_argument("--points-file", help=".npy or .txt file of shape (n_points, d)")
    scan.add_argument("--widths", default="2,3,4,5,10,20,50,100,500,1000", help="comma-separated widths")
    scan.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    scan.add_argument(
        "--nets",
        type=int,
        help="networks per width (default 100000; with --preset 1000000); with --method neurons and no "
        "--neuron-samples, networks per width for the exact engine too",
    )
    scan.add_argument(
        "--neuron-samples",
        type=int,
        help="exact engine: neuron samples per width, i.e. about SAMPLES/width networks at each width (the same "
        "precision of G4c/G4_GP at every width; default 250000 unless --nets is given)",
    )
    scan.add_argument("--orders", default="2,4,6", help="even orders, e.g. 2,4,6")
    scan.add_argument("--method", choices=("ensemble", "neurons", "both"), default="ensemble")
    scan.add_argument("--seed", type=int, default=0)
    scan.add_argument("--json", help="write the scan records (JSON) to this file")
    scan.add_argument("--out", help="directory for <case>.nc and <case>.png")
    scan.add_argument("--quiet", action="store_true", help="no progress bar or table")

    coupling = commands.add_parser("coupling", help="local quartic coupling, six-point prediction, cutoff flow")
    coupling.add_argument("model", nargs="?", help="model (omit with --preset)")
    coupling.add_argument("--preset", help="named experiment, e.g. hms20 (ReLU N=20, Erf N=5, Gauss N=1000)")
    coupling_where = coupling.add_mutually_exclusive_group()
    coupling_where.add_argument("--points", help='points: ";" between points, "," between coordinates')
    coupling_where.add_argument("--points-file", help=".npy or .txt file of shape (n_points, d)")
    coupling.add_argument("--width", type=int, help="network width N (required without --preset)")
    coupling.add_argument("--cutoffs", help="comma-separated cutoffs L (default: HMS20's 21, 7..1e5)")
    coupling.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    coupling.add_argument("--nets", type=int, default=1_000_000, help="networks (default 1000000)")
    coupling.add_argument("--method", choices=("ensemble", "neurons"), default="ensemble")
    coupling.add_argument("--seed", type=int, default=0)
    coupling.add_argument("--json", help="write the records (JSON) to this file")
    coupling.add_argument("--out", help="directory for <case>.nc and <case>.png")
    coupling.add_argument("--quiet", action="store_true", help="no progress bar or table")

    check = commands.add_parser("check", help="Osterwalder-Schrader axioms: RP, invariance, clustering")
    check.add_argument("model", help="registered name, or file.py:function / module:function")
    check.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    check.add_argument("--d", type=int, default=1, help="spacetime dimension of the point sets (default 1)")
    check.add_argument("--scale", type=float, default=1.0, help="length unit of the point sets (default 1)")
    check.add_argument("--nets", type=int, default=100_000, help="networks per run (default 100000)")
    check.add_argument("--method", choices=("ensemble", "neurons"), default="ensemble")
    check.add_argument("--seed", type=int, default=0)
    check.add_argument("--json", help="write one record per check (JSON) to this file")
    check.add_argument("--quiet", action="store_true", help="no progress bar or table")

    compare = commands.add_parser("compare", help="dual theories: equal G2, different G4c and symmetries at finite N")
    compare.add_argument("model_a", nargs="?", help="first model (omit with --pair)")
    compare.add_argument("model_b", nargs="?", help="second model (omit with --pair)")
    compare.add_argument(
        "--pair", help="named dual pair with matched hyperparameters: cos-gauss, cos-fourier, complex-doublet"
    )
    compare.add_argument("--set-a", action="append", metavar="KEY=VALUE", help="hyperparameter of model A (repeatable)")
    compare.add_argument("--set-b", action="append", metavar="KEY=VALUE", help="hyperparameter of model B (repeatable)")
    compare_where = compare.add_mutually_exclusive_group()
    compare_where.add_argument("--points", help='points: ";" between points, "," between coordinates')
    compare_where.add_argument("--points-file", help=".npy or .txt file of shape (n_points, d)")
    compare.add_argument("--d", type=int, help="dimension of the default points (without --points; default 1)")
    compare.add_argument("--nets", type=int, default=100_000, help="networks per run (default 100000)")
    compare.add_argument("--method", choices=("ensemble", "neurons"), default="ensemble")
    compare.add_argument("--seed", type=int, default=0)
    compare.add_argument("--transforms", type=int, default=3, help="random transformations per symmetry check")
    compare.add_argument("--no-symmetries", action="store_true", help="skip the E(d)/O(d) (and O(2)) invariance checks")
    compare.add_argument("--json", help="write the comparison record (JSON) to this file")
    compare.add_argument("--quiet", action="store_true", help="no progress bar or table")

    infer = commands.add_parser("infer", help="deformed (interacting) models: NUTS, MAP or reweighting")
    infer.add_argument("model", help="registered name, or file.py:function / module:function")
    infer_where = infer.add_mutually_exclusive_group(required=True)
    infer_where.add_argument("--points", help='points: ";" between points, "," between coordinates')
    infer_where.add_argument("--points-file", help=".npy or .txt file of shape (n_points, d)")
    infer.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    infer.add_argument("--deform", help="potential: phi4:lam=0.1, phi2:mass2=0.5, phi6:g=1, polynomial:g2=-1,g4=0.5")
    infer.add_argument("--box", help="integration box of the deformation: L=10[,center=0] (d from the points)")
    infer.add_argument("--method", choices=("nuts", "map", "reweight"), default="nuts")
    infer.add_argument("--chains", type=int, default=4, help="NUTS chains (default 4)")
    infer.add_argument("--samples", type=int, default=1000, help="NUTS draws per chain (default 1000)")
    infer.add_argument("--warmup", type=int, default=1000, help="NUTS warm-up steps per chain (default 1000)")
    infer.add_argument("--starts", type=int, default=16, help="MAP starts (default 16)")
    infer.add_argument("--steps", type=int, default=2000, help="MAP optimiser steps (default 2000)")
    infer.add_argument("--nets", type=int, default=100_000, help="networks to reweight (default 100000)")
    infer.add_argument("--orders", default="2,4", help="correlator orders (default 2,4)")
    infer.add_argument("--seed", type=int, default=0)
    infer.add_argument("--json", help="write the run record (JSON) to this file")
    infer.add_argument("--out", help="directory for the InferenceData (netCDF), summary, plots and correlators")
    infer.add_argument("--quiet", action="store_true", help="no progress bar or table")

    landscape = commands.add_parser("landscape", help="classical configurations: local maxima of P(theta)")
    landscape.add_argument("model", help="registered name, or file.py:function / module:function")
    landscape.add_argument("--grid", help="points for the configurations (default 21 points in [-2, 2] along x)")
    landscape.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    landscape.add_argument("--deform", help="potential, as for infer (e.g. polynomial:g2=-4,g4=1)")
    landscape.add_argument("--box", help="integration box of the deformation: L=10[,center=0]")
    landscape.add_argument("--starts", type=int, default=256, help="random starts (default 256)")
    landscape.add_argument("--steps", type=int, default=2000, help="optimiser steps (default 2000)")
    landscape.add_argument("--learning-rate", type=float, default=0.05, help="initial Adam step (default 0.05)")
    landscape.add_argument("--seed", type=int, default=0)
    landscape.add_argument("--json", help="write the configurations and families (JSON) to this file")
    landscape.add_argument("--out", help="directory for landscape.nc, result.json and landscape.png")
    landscape.add_argument("--quiet", action="store_true", help="no table")

    action = commands.add_parser("action", help="reconstruct the action from correlators; its locality")
    action.add_argument("model", help="model name")
    action_where = action.add_mutually_exclusive_group(required=True)
    action_where.add_argument("--points", help='points: ";" between points, "," between coordinates')
    action_where.add_argument("--points-file", help=".npy or .txt file of shape (n_points, d)")
    action.add_argument("--set", action="append", metavar="KEY=VALUE", help="hyperparameter (repeatable)")
    action.add_argument("--order", type=int, choices=(1, 2), default=1, help="order in 1/N (default 1)")
    action.add_argument(
        "--regularisation",
        type=float,
        metavar="EPS",
        help="Tikhonov regularisation: invert G2 + EPS 1 (needed when G2 is singular, e.g. repeated points)",
    )
    action.add_argument("--nets", type=int, default=100_000, help="networks (default 100000)")
    action.add_argument("--method", choices=("ensemble", "neurons"), default="ensemble")
    action.add_argument("--seed", type=int, default=0)
    action.add_argument("--json", help="write the result (JSON) to this file")
    action.add_argument("--out", help="directory for couplings.nc, result.json and locality.png")
    action.add_argument("--quiet", action="store_true", help="no progress bar or table")

    reproduce = commands.add_parser("reproduce", help="check the papers' claims one by one, write a report")
    reproduce.add_argument("--quick", action="store_true", help="small sizes (under 3 minutes on 2 cores)")
    reproduce.add_argument("--out", default="nnqft_report", help="report directory (default nnqft_report)")

    from .benchmarks.suite import build_parser as bench_parser

    bench_parser(commands.add_parser("bench", help="speed, scaling and memory against baselines from the same run"))
    return parser


@contextlib.contextmanager
def _batch_plans_on_stderr(enabled: bool):
    """Print each streamed run's batch plan (devices, networks and bytes of values per device) on stderr."""
    if not enabled:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("nnqft: %(message)s"))
    handler.addFilter(lambda record: hasattr(record, "batch_plan"))
    logger = logging.getLogger("nnqft_ppl")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _run(args) -> None:
    with _batch_plans_on_stderr(args.command in ("sample", "action") and not args.quiet):
        _dispatch(args)


def _dispatch(args) -> None:
    if args.command == "models":
        from .registry import list_models

        for spec in list_models():
            print(f"{spec.name:12} {spec.description}")
    elif args.command == "sample" and (args.shard is not None or args.distributed):
        _run_split_sample(args)
    elif args.command == "merge":
        _run_merge(args)
    elif args.command == "bench":
        from .benchmarks.suite import main as bench

        bench(args)
    elif args.command == "sample":
        from .output import write_outputs
        from .sampling import sample
        from .spacetime import load_points, parse_points

        points = parse_points(args.points) if args.points is not None else load_points(args.points_file)
        if args.neuron_points is not None and args.mixed is None:
            raise ValueError("--neuron-points goes with --mixed")
        mixed = None
        if args.mixed is not None:  # first: its input is checked before the long run
            from .mixed import mixed_correlators, mixed_record, mixed_table, with_mixed

            probes = None if args.neuron_points is None else parse_points(args.neuron_points)
            mixed = mixed_correlators(
                args.model,
                points,
                probes,
                args.mixed,
                n_nets=args.nets,
                seed=args.seed,
                params=_parse_sets(args.set),
                progress=False if args.quiet else None,
            )
        dataset = sample(
            args.model,
            points,
            n_nets=args.nets,
            orders=_parse_orders(args.orders),
            seed=args.seed,
            params=_parse_sets(args.set),
            method=args.method,
            checkpoint=args.checkpoint,
            n_blocks=args.blocks,
            progress=False if args.quiet else None,
        )
        extra = None if mixed is None else {"mixed": mixed_record(mixed)}
        write_outputs(dataset if mixed is None else with_mixed(dataset, mixed), args.out, args.json, extra)
        if not args.quiet:
            _print_run(dataset)
            if mixed is not None:
                print(mixed_table(mixed))
    elif args.command == "scan":
        _run_scan(args)
    elif args.command == "coupling":
        _run_coupling(args)
    elif args.command == "check":
        import json
        from pathlib import Path

        from .axioms import axiom_records, axiom_table, check_axioms

        checks = check_axioms(
            args.model,
            d=args.d,
            scale=args.scale,
            params=_parse_sets(args.set),
            n_nets=args.nets,
            method=args.method,
            seed=args.seed,
            progress=False if args.quiet else None,
        )
        if args.json is not None:
            Path(args.json).write_text(json.dumps(axiom_records(checks), indent=1))
        if not args.quiet:
            print(axiom_table(checks))
            for check in checks:
                print(f"- {check.axiom}: {check.detail}")
    elif args.command == "compare":
        _run_compare(args)
    elif args.command == "infer":
        _run_infer(args)
    elif args.command == "landscape":
        _run_landscape(args)
    elif args.command == "action":
        _run_action(args)
    elif args.command == "reproduce":
        from .report import reproduce

        reproduce(out_dir=args.out, quick=args.quick)


def _run_split_sample(args) -> None:
    """``nnqft sample --shard K/M`` (write one shard file) or ``--distributed`` (one process of a run)."""
    from pathlib import Path

    from .output import write_outputs
    from .sampling import sample
    from .shards import initialize_distributed, parse_shard, sample_distributed
    from .spacetime import load_points, parse_points

    if args.mixed is not None or args.neuron_points is not None:
        raise ValueError("--mixed goes with a single run, not with --shard or --distributed")
    if args.shard is not None and args.out is None:
        raise ValueError("--shard writes a shard file: give --out DIR (then nnqft merge DIR/shard-*.npz)")
    if args.shard is not None and args.json is not None:
        raise ValueError("a shard holds no result yet: give --json to nnqft merge")
    shard = None if args.shard is None else parse_shard(args.shard)
    if args.distributed:
        initialize_distributed()  # before JAX computes anything
    points = parse_points(args.points) if args.points is not None else load_points(args.points_file)
    options = dict(
        n_nets=args.nets,
        orders=_parse_orders(args.orders),
        seed=args.seed,
        params=_parse_sets(args.set),
        method=args.method,
        checkpoint=args.checkpoint,
        n_blocks=args.blocks,
        progress=False if args.quiet else None,
    )
    if shard is not None:
        result = sample(args.model, points, shard=shard, **options)
        path = result.save(Path(args.out) / result.file_name)
        if not args.quiet:
            print(f"wrote {path}: {result.describe()}")
        return
    import jax

    dataset = sample_distributed(args.model, points, **options)
    if jax.process_index() == 0:
        write_outputs(dataset, args.out, args.json)
        if not args.quiet:
            _print_run(dataset, f", {jax.process_count()} processes")


def _print_run(dataset, how: str = "") -> None:
    """The header line of an i.i.d. run (model, hyperparameters, engine, networks``how``) and its deviation table."""
    from .output import deviation_table

    attrs = dataset.attrs
    print(f"{attrs['model']} {attrs['params']}  {attrs['method']}, {attrs['nets']:,} networks{how}")
    print(deviation_table(dataset))


def _run_merge(args) -> None:
    from .output import write_outputs
    from .shards import merge_shards

    dataset = merge_shards(args.files, model=args.model)
    write_outputs(dataset, args.out, args.json)
    if not args.quiet:
        _print_run(dataset, f", {len(args.files)} shards")


def _run_scan(args) -> None:
    import json
    from pathlib import Path

    from .presets import EXACT_ENGINE_SAMPLES, HMS20_NETS, ScanCase, get_preset
    from .scan import plot_width_scan, scan_record, slope_table, width_scan
    from .spacetime import load_points, parse_points

    widths = [part.strip() for part in args.widths.split(",") if part.strip()]
    overrides = _parse_sets(args.set)
    if args.preset is not None:
        if args.model is not None or args.points or args.points_file:
            raise ValueError("--preset fixes the models and points: give no MODEL, --points or --points-file")
        cases = get_preset(args.preset, args.d)
        nets = args.nets or HMS20_NETS
    else:
        if args.model is None or not (args.points or args.points_file):
            raise ValueError("scan needs a MODEL and --points/--points-file (or a --preset)")
        points = parse_points(args.points) if args.points is not None else load_points(args.points_file)
        cases = [ScanCase(args.model, {}, points, args.model)]
        nets = args.nets or 100_000
    neuron_samples = args.neuron_samples
    if neuron_samples is None and args.nets is None:
        neuron_samples = EXACT_ENGINE_SAMPLES
    records = []
    for case in cases:
        dataset = width_scan(
            case.model,
            case.points,
            widths,
            n_nets=nets,
            orders=_parse_orders(args.orders),
            method=args.method,
            seed=args.seed,
            params={**case.params, **overrides},
            progress=False if args.quiet else None,
            neuron_samples=neuron_samples,
        )
        records.append({"case": case.label, **scan_record(dataset)})
        if args.out is not None:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            dataset.to_netcdf(out / f"{case.label}.nc", engine="h5netcdf")
            for method in dataset["method"].values:
                axes = plot_width_scan(dataset, method)
                axes[0].figure.savefig(out / f"{case.label}-{method}.png", dpi=110)
        if not args.quiet:
            print(f"{case.label}: {dataset.attrs['params']}, {_scan_size(dataset)} per width")
            print(slope_table(dataset))
    if args.json is not None:
        Path(args.json).write_text(json.dumps(records if args.preset else records[0], indent=1))


def _scan_size(dataset) -> str:
    """How much each width of a scan drew: networks, or neuron samples (and the networks that gave them)."""
    methods, sizes = list(dataset["method"].values), []
    for k, method in enumerate(methods):
        size = f"{dataset.attrs['nets']:,} networks"
        if method == "neurons" and "neuron_samples" in dataset.attrs:
            nets = dataset["nets"].isel(method=k).values
            size = f"{dataset.attrs['neuron_samples']:,} neuron samples ({nets.max():,} to {nets.min():,} networks)"
        sizes.append(f"{method}: {size}" if len(methods) > 1 else size)
    return ", ".join(sizes)


def _run_coupling(args) -> None:
    import json
    from pathlib import Path

    from .coupling import HMS20_CUTOFFS, coupling_record, coupling_table, plot_coupling, quartic_coupling
    from .presets import COUPLING_PRESETS, ScanCase, get_preset
    from .spacetime import load_points, parse_points

    cutoffs = HMS20_CUTOFFS if args.cutoffs is None else _parse_numbers(args.cutoffs, "--cutoffs")
    if args.preset is not None:
        if args.model is not None or args.points or args.points_file or args.width is not None:
            raise ValueError("--preset fixes the models, widths and points: give no MODEL, --width or --points")
        cases = get_preset(args.preset, presets=COUPLING_PRESETS)
    else:
        if args.model is None or args.width is None or not (args.points or args.points_file):
            raise ValueError("coupling needs a MODEL, --width and --points/--points-file (or a --preset)")
        points = parse_points(args.points) if args.points is not None else load_points(args.points_file)
        cases = [ScanCase(args.model, {"width": args.width}, points, args.model)]
    records = []
    for case in cases:
        params = {**case.params, **_parse_sets(args.set)}
        dataset = quartic_coupling(
            case.model,
            case.points,
            width=params.pop("width"),
            cutoffs=cutoffs,
            n_nets=args.nets,
            method=args.method,
            seed=args.seed,
            params=params,
            progress=False if args.quiet else None,
        )
        records.append({"case": case.label, **coupling_record(dataset)})
        if args.out is not None:
            out = Path(args.out)
            out.mkdir(parents=True, exist_ok=True)
            dataset.to_netcdf(out / f"{case.label}.nc", engine="h5netcdf")
            plot_coupling(dataset)[0].figure.savefig(out / f"{case.label}.png", dpi=110)
        if not args.quiet:
            print(f"{case.label}: {dataset.attrs['params']}, {args.method}, {args.nets:,} networks")
            print(coupling_table(dataset))
    if args.json is not None:
        Path(args.json).write_text(json.dumps(records if args.preset else records[0], indent=1))


def _run_compare(args) -> None:
    import json
    from pathlib import Path

    from .duality import DUAL_PAIRS, compare_models, default_points
    from .spacetime import load_points, parse_points

    if args.pair is not None:
        if args.model_a is not None:
            raise ValueError("--pair fixes the models: give no MODEL_A or MODEL_B")
        if args.pair not in DUAL_PAIRS:
            raise ValueError(f"unknown dual pair {args.pair!r}; available: {', '.join(DUAL_PAIRS)}")
        pair = DUAL_PAIRS[args.pair]
        model_a, model_b, params_a, params_b = pair.model_a, pair.model_b, dict(pair.params_a), dict(pair.params_b)
    else:
        if args.model_a is None or args.model_b is None:
            raise ValueError("compare needs MODEL_A and MODEL_B (or --pair NAME)")
        pair, model_a, model_b, params_a, params_b = None, args.model_a, args.model_b, {}, {}
    if args.points is not None or args.points_file is not None:
        points = parse_points(args.points) if args.points is not None else load_points(args.points_file)
        if args.d is not None and args.d != points.shape[1]:
            raise ValueError(f"--d {args.d} contradicts the points, which have d = {points.shape[1]}")
    else:
        d = 1 if args.d is None else args.d
        points = pair.points(d) if pair is not None else default_points(d)
    comparison = compare_models(
        model_a,
        model_b,
        points,
        params_a={**params_a, **_parse_sets(args.set_a)},
        params_b={**params_b, **_parse_sets(args.set_b)},
        n_nets=args.nets,
        method=args.method,
        seed=args.seed,
        symmetries=not args.no_symmetries,
        n_transforms=args.transforms,
        progress=False if args.quiet else None,
        pair=args.pair,
    )
    if args.json is not None:
        Path(args.json).write_text(json.dumps(comparison.record(), indent=1))
    if not args.quiet:
        print(f"A: {comparison.model_a} {comparison.params_a}")
        print(f"B: {comparison.model_b} {comparison.params_b}")
        print(f"{len(points)} points, {args.method}, {args.nets:,} networks per run")
        print(comparison.table())
        for check in comparison.checks[:3]:
            print(f"- {check.name}: {check.detail}")


def _deformed(model, deformation, box, d: int):
    """``model`` deformed by ``--deform`` over ``--box`` (both or neither)."""
    if (deformation is None) != (box is None):
        raise ValueError("--deform and --box go together (the potential is integrated over the box)")
    if deformation is None:
        return model
    from .box import Box
    from .deform import deform
    from .potentials import parse_potential

    return deform(model, parse_potential(deformation), Box.parse(box, d=d))


def _run_landscape(args) -> None:
    import json
    from pathlib import Path

    import numpy as np

    from .landscape import landscape, plot_landscape
    from .spacetime import parse_points

    grid = parse_points(args.grid) if args.grid is not None else np.linspace(-2.0, 2.0, 21)[:, None]
    model = _deformed(args.model, args.deform, args.box, len(grid[0]))
    result = landscape(
        model,
        grid,
        params=_parse_sets(args.set),
        starts=args.starts,
        steps=args.steps,
        learning_rate=args.learning_rate,
        seed=args.seed,
    )
    record = {
        "model": result.attrs["model"],
        "params": json.loads(result.attrs["params"]),
        "grid": result["grid"].values.tolist(),
        "starts": args.starts,
        "converged": int(result["converged"].sum()),
        "configurations": [
            {
                "phi": result["phi_configuration"].values[k].tolist(),
                "log_density": float(result["configuration_log_density"].values[k]),
                "kind": str(result["kind"].values[k]),
                "n_positive": int(result["n_positive"].values[k]),
                "n_flat": int(result["n_flat"].values[k]),
                "n_negative": int(result["n_negative"].values[k]),
                "share": float(result["share"].values[k]),
                "family": int(result["family"].values[k]),
            }
            for k in range(result.sizes["configuration"])
        ],
    }
    if args.out is not None:
        from matplotlib.figure import Figure

        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        result.to_netcdf(out / "landscape.nc", engine="h5netcdf")
        (out / "result.json").write_text(json.dumps(record, indent=1))
        figure = Figure(figsize=(10, 3.8), layout="tight")
        plot_landscape(result, figure.subplots(1, 2))
        figure.savefig(out / "landscape.png", dpi=120)
    if args.json is not None:
        Path(args.json).write_text(json.dumps(record, indent=1))
    if not args.quiet:
        print(f"{record['model']}: {record['converged']} of {args.starts} climbs converged; families:")
        for family in range(result.sizes["family"]):
            print(
                f"  log P = {result['family_log_density'].values[family]:.6g}: "
                f"{100 * result['family_share'].values[family]:.3g}% of the climbs, "
                f"{int(result['family_size'].values[family])} distinct configurations"
            )


def _run_infer(args) -> None:
    import json
    from pathlib import Path

    from .output import deviation_table, run_record, write_outputs
    from .spacetime import load_points, parse_points

    points = parse_points(args.points) if args.points is not None else load_points(args.points_file)
    model, params, orders = args.model, _parse_sets(args.set), _parse_orders(args.orders)
    model = _deformed(model, args.deform, args.box, len(points[0]))
    extra = {}
    if hasattr(model, "quadrature"):
        rule = model.quadrature(params)
        extra["deformation"] = {
            "potential": model.potential.label(),
            "box": {"length": model.box.length, "d": model.box.d, "center": model.box.center},
            "nodes_per_side": rule.nodes_per_side,
            "discretisation_error": rule.error,
        }
    progress = False if args.quiet else None
    out = Path(args.out) if args.out is not None else None
    if args.method == "reweight":
        from .reweighting import sample_reweighted

        dataset = sample_reweighted(
            model, points, n_nets=args.nets, orders=orders, seed=args.seed, params=params, progress=progress
        )
        extra["importance_ess"] = dataset.attrs["importance_ess"]
        write_outputs(dataset, args.out, args.json, extra)
        if not args.quiet:
            print(
                f"{dataset.attrs['model']}: reweighted {args.nets:,} networks, "
                f"effective {dataset.attrs['importance_ess']:.4g}"
            )
            print(deviation_table(dataset))
        return
    from . import inference

    if args.method == "map":
        result = inference.map_search(
            model, points, params=params, starts=args.starts, steps=args.steps, seed=args.seed
        )
        record = {
            **extra,
            "model": result.attrs["model"],
            "params": json.loads(result.attrs["params"]),
            "points": result["points"].values.tolist(),
            "method": "map",
            "log_density": result["log_density"].values.tolist(),
            "gradient_norm": result["gradient_norm"].values.tolist(),
            "phi": result["phi"].values.tolist(),
        }
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            result.to_netcdf(out / "map.nc", engine="h5netcdf")
            (out / "result.json").write_text(json.dumps(record, indent=1))
        if args.json is not None:
            Path(args.json).write_text(json.dumps(record, indent=1))
        if not args.quiet:
            print(
                f"{result.attrs['model']}: {args.starts} starts; best log-densities "
                + ", ".join(f"{v:.5g}" for v in result["log_density"].values[:5])
            )
        return
    idata = inference.nuts(
        model,
        points,
        params=params,
        chains=args.chains,
        samples=args.samples,
        warmup=args.warmup,
        seed=args.seed,
        progress=progress,
    )
    summary = inference.diagnostics(idata)
    dataset = inference.mcmc_correlators(idata, orders, model=model)
    record = {**run_record(dataset), **extra, "diagnostics": summary}
    if out is not None:
        inference.write_inference(idata, dataset, out)
        (out / "result.json").write_text(json.dumps(record, indent=1))
    if args.json is not None:
        Path(args.json).write_text(json.dumps(record, indent=1))
    if not args.quiet:
        print(
            f"{dataset.attrs['model']}: NUTS, {args.chains} chains x {args.samples} draws; "
            f"max R-hat {summary['max_r_hat']:.3f}, min ESS {summary['min_ess_bulk']:.0f}, "
            f"{summary['divergences']} divergences"
        )
        print(deviation_table(dataset))


def _run_action(args) -> None:
    """``nnqft action``: correlators (orders 2, 4, and 6 at order 2) -> couplings with jackknife errors -> locality."""
    import json
    from pathlib import Path

    from .locality import locality, locality_record, plot_locality
    from .sampling import sample
    from .spacetime import load_points, parse_points

    if args.nets < 2:
        raise ValueError(f"--nets must be at least 2, got {args.nets}")
    points = parse_points(args.points) if args.points is not None else load_points(args.points_file)
    orders = (2, 4, 6) if args.order == 2 else (2, 4)
    dataset = sample(
        args.model,
        points,
        method=args.method,
        orders=orders,
        n_nets=args.nets,
        seed=args.seed,
        params=_parse_sets(args.set),
        keep_replicas=True,
        progress=False if args.quiet else None,
    )
    from .action import reconstruct_action

    couplings = reconstruct_action(dataset, order=args.order, regularisation=args.regularisation)
    shape = locality(couplings, points)
    record = locality_record(couplings, shape)
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        couplings.to_netcdf(out / "couplings.nc", engine="h5netcdf")
        (out / "result.json").write_text(json.dumps(record, indent=1))
        plot_locality(shape, title=args.model).savefig(out / "locality.png", dpi=110)
    if args.json is not None:
        Path(args.json).write_text(json.dumps(record, indent=1))
    if not args.quiet:
        print(f"{args.model}: order {args.order}, {args.method}, {args.nets:,} networks, {len(points)} points")
        for name, entries in record["couplings"].items():
            print(f"{name}: " + ", ".join(f"{e['index']} {e['value']:.5g} +- {e['stderr']:.2g}" for e in entries))
        for name, entry in record["locality"].items():
            print(f"{name}: locality length {entry['length']:.4g} +- {entry['stderr']:.2g}, range {entry['range']:.4g}")


def _parse_numbers(text: str, flag: str) -> list[float]:
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"{flag} expects comma-separated numbers, got {text!r}") from None


def _attach_values(argv):
    """``--points -1;0`` -> ``--points=-1;0``: argparse would read a leading '-' as an option."""
    out, argv = [], list(argv)
    for k, item in enumerate(argv):
        if k > 0 and argv[k - 1] in ("--points", "--widths", "--neuron-points") and item.startswith("-") and out:
            out[-1] = f"{argv[k - 1]}={item}"
        else:
            out.append(item)
    return out


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"nnqft: warning: {message}\n"


def main(argv=None) -> int:
    warnings.formatwarning = _one_line_warning
    try:
        args = _build_parser().parse_args(_attach_values(sys.argv[1:] if argv is None else argv))
        _run(args)
    except (_UsageError, ValueError, TypeError) as error:
        print(f"nnqft: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # an output path that cannot be written
        print(f"nnqft: error: {error.strerror or error}: {error.filename or ''}".rstrip(": "), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("nnqft: interrupted (a --checkpoint run resumes from its file)", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
