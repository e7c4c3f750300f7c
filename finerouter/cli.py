"""The `finerouter` command.

Each command imports what it runs inside its own function, so `finerouter --help`, `--version` and the table
commands start without loading torch, Ray or Ray Serve."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from finerouter.errors import FineRouterError


def cmd_import(args: argparse.Namespace) -> int:
    from finerouter.data.importers import ImportOptions, run_importer
    from finerouter.data.splits import SplitConfig
    from finerouter.data.table import RoutingTable

    options = ImportOptions(prices=args.prices, tokenizer=args.tokenizer)
    raw = run_importer(args.format, args.sources, options)
    table = RoutingTable.build(raw, SplitConfig(salt=args.split_salt), origin=args.format)
    out = table.save(args.out)
    counts = table.manifest["counts"]
    for name, c in counts.items():
        print(f"{name:<9} in {c['in']:>9,}  kept {c['kept']:>9,}  rejected {c['rejected']:>7,}")
    for reason, n in table.rejection_summary().items():
        print(f"  rejected {n:>7,} × {reason}")
    print(f"wrote {out} (rejected rows with reasons in {out / 'rejected.parquet'})")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    from finerouter.data.stats import format_stats, table_stats
    from finerouter.data.table import RoutingTable

    stats = table_stats(RoutingTable.load(args.dir))
    print(json.dumps(stats, indent=2) if args.json else format_stats(stats))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from finerouter.data.table import RoutingTable
    from finerouter.embed.encoder import encode
    from finerouter.evaluation.data import load_eval_data, load_run
    from finerouter.evaluation.harness import evaluate
    from finerouter.evaluation.registry import build_routers
    from finerouter.evaluation.report import write_report

    if args.run:
        data = load_run(args.run)
    else:
        table = RoutingTable.load(args.data)
        print(f"embedding {len(table.prompts):,} prompts with {args.encoder} (pass --run DIR to reuse a rebuild's)")
        data = load_eval_data(
            table, encode(list(table.prompts["prompt"]), args.encoder), np.asarray(table.prompts["prompt_id"])
        )
    routers = build_routers(args.routers.split(","), args.run, args.seed)
    subject = "finerouter-stage1" if "finerouter-stage1" in args.routers else None
    results = evaluate(data, routers, subject=subject, seed=args.seed, sweep=args.sweep)
    write_report(results, args.out, args.title)
    print((args.out / "report.md").read_text())
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    from finerouter.routing.router import Router

    router = Router.load(args.bundle)
    models = args.models.split(",") if args.models else None
    decisions = router.route(
        args.prompts, tolerance=args.tolerance, max_cost=args.max_cost, models=models, willingness=args.willingness
    )
    if args.json:
        print(json.dumps([d.to_dict() for d in decisions], indent=2))
        return 0
    for prompt, d in zip(args.prompts, decisions, strict=True):
        task = "none (Others)" if d.task_id is None else f"{d.task_id}: {d.task_summary}"
        cost = "n/a" if d.estimated_cost is None else f"{d.estimated_cost:.4g} {d.cost_unit}"
        print(f"prompt:     {prompt[:100]}")
        print(f"model:      {d.model}   (estimated cost {cost})")
        print(f"task:       {task[:160]}   (confidence {d.confidence:.3f})")
        ranked = sorted(d.scores.items(), key=lambda kv: -kv[1])
        print("scores:     " + ", ".join(f"{m} {s:.3f}" for m, s in ranked))
        print(f"bundle:     {d.bundle_version}\n")
    return 0


def cmd_add_model(args: argparse.Namespace) -> int:
    from finerouter.build.add_model import add_model

    out = add_model(args.bundle, args.data, args.model, args.out)
    meta = json.loads((out / "bundle.json").read_text())
    added = meta["added_models"][-1]
    print(f"added {args.model}: {added['train_prompts']} train prompts, joined tasks {added['joined_tasks']}")
    print(f"wrote bundle {meta['version']} (parent {meta['parent_version']}) to {out}")
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from jobs.rebuild import run_from_args

    return run_from_args(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from serve_app.fast_path import OVERRIDE_HINT, choose_direct_ingress, with_fast_encoder
    from serve_app.local import load_args, run_local

    overrides = {
        "router.autoscaling.min_replicas": args.min_replicas,
        "router.autoscaling.max_replicas": args.max_replicas,
        "router.num_cpus": args.replica_cpus,
        "router.encoder_dtype": args.encoder_dtype,
        "router.encoder_runtime": args.encoder_runtime,
    }
    app_args, encoder = with_fast_encoder(load_args(args.bundle, args.config, overrides))
    direct_ingress, why = choose_direct_ingress(args.direct_ingress, args.address)
    print(encoder.describe(OVERRIDE_HINT) + (" [detected on this machine]" if args.address else ""))
    print(f"serving path: {'direct ingress' if direct_ingress else 'HTTP proxy'} ({why})", flush=True)
    run_local(
        app_args, args.host, args.port, args.address, args.num_cpus, args.access_log, direct_ingress,
        preflight=args.preflight,
    )  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    import finerouter
    from finerouter.data.importers import FORMATS
    from finerouter.embed.options import ENCODER_DTYPES, ENCODER_RUNTIMES

    parser = argparse.ArgumentParser(
        prog="finerouter", description="Prompt routing via fine-grained latent task discovery"
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {finerouter.__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    imp = sub.add_parser("import", help="import a public routing-data format into a routing table")
    imp.add_argument("format", help=f"one of: {', '.join(sorted(FORMATS))}")
    imp.add_argument("sources", nargs="+", type=Path, help="files or directories to import")
    imp.add_argument("--out", required=True, type=Path, help="output directory of the routing table")
    imp.add_argument("--prices", type=Path, help="price-table YAML (USD per 1M input/output tokens)")
    imp.add_argument("--tokenizer", default="minilm", help="token counter: 'minilm' or a local tokenizer dir")
    imp.add_argument("--split-salt", default="finerouter", help="salt of the hash split (keep fixed)")
    imp.set_defaults(func=cmd_import)

    data = sub.add_parser("data", help="inspect routing tables")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    stats = data_sub.add_parser("stats", help="per-model quality and cost, sources, oracle, best single model")
    stats.add_argument("dir", type=Path, help="routing table directory (written by `finerouter import` or a rebuild)")
    stats.add_argument("--json", action="store_true", help="print JSON")
    stats.set_defaults(func=cmd_stats)

    ev = sub.add_parser("eval", help="compare routers on a routing table's test split (report, results, plot)")
    source = ev.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="routing table directory (prompts are embedded on the fly)")
    source.add_argument("--run", type=Path, help="a rebuild's run directory: its table, embeddings and tasks")
    ev.add_argument(
        "--routers",
        default="random,knn,mlp,mf,ipr",
        help="comma-separated routers to compare (default: %(default)s); add finerouter-stage1 with --run",
    )
    ev.add_argument(
        "--out", type=Path, default=Path("eval"),
        help="output directory for report.md, results.json and pareto.png (default: %(default)s)",
    )  # fmt: skip
    ev.add_argument(
        "--encoder", default="minilm",
        help="sentence encoder that embeds the prompts with --data: 'minilm' (bundled) or a local model directory",
    )  # fmt: skip
    ev.add_argument("--title", default="Router evaluation", help="title of the written report.md")
    ev.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the random router, the learned baselines and the bootstrap intervals",
    )
    ev.add_argument(
        "--sweep", choices=["tau", "lambda", "auto"], default="tau",
        help="cost setting traced by the curves (auto: per router, the one with the higher AIQ on dev)",
    )  # fmt: skip
    ev.set_defaults(func=cmd_eval)

    srv = sub.add_parser("serve", help="serve a router bundle over HTTP with Ray Serve (see docs/serving.md)")
    srv.add_argument("--bundle", type=Path, help="router bundle directory (overrides `bundle` in --config)")
    srv.add_argument("--config", type=Path, help="YAML: a Serve config (serve_app/config.yaml) or its app args")
    srv.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    srv.add_argument("--port", type=int, default=8000, help="HTTP port (default: %(default)s)")
    srv.add_argument("--address", help="an existing Ray cluster (default: start a local one)")
    srv.add_argument("--num-cpus", type=int, help="CPUs of the local Ray (default: all)")
    srv.add_argument("--min-replicas", type=int, help="router replicas, lower bound of autoscaling")
    srv.add_argument("--max-replicas", type=int, help="router replicas, upper bound of autoscaling")
    srv.add_argument("--replica-cpus", type=float, help="CPUs reserved per router replica")
    srv.add_argument(
        "--encoder-dtype", choices=ENCODER_DTYPES,
        help="prompt encoder precision (default: the fastest this machine runs, printed at start: bfloat16 where "
        "oneDNN supports it)",
    )  # fmt: skip
    srv.add_argument(
        "--encoder-runtime", choices=ENCODER_RUNTIMES,
        help="prompt encoder runtime (onnxruntime: float32 only, needs the `onnx` extra; default: torch with "
        "bfloat16, else onnxruntime when installed, else torch)",
    )  # fmt: skip
    srv.add_argument(
        "--direct-ingress", action=argparse.BooleanOptionalAction, default=None,
        help="Serve's throughput-optimized mode: the ingress answers on --port itself, without the HTTP proxy hop "
        "(the proxy moves to --port + 1). Default: on for the local Ray, off with --address; --no-direct-ingress "
        "serves through Serve's HTTP proxy on --port",
    )  # fmt: skip
    srv.add_argument("--access-log", action="store_true", help="log every request (costs ~25%% throughput)")
    srv.add_argument(
        "--preflight", choices=["fail", "warn", "skip"], default="fail",
        help="before deploying, check that the starting replicas fit the CPUs the Ray cluster has free: fail (the "
        "default) stops with the shortfall and the fix instead of waiting for them; warn only logs it (an "
        "autoscaling cluster); skip skips it",
    )  # fmt: skip
    srv.set_defaults(func=cmd_serve)

    route = sub.add_parser("route", help="route prompts with a router bundle and explain each decision")
    route.add_argument("--bundle", required=True, type=Path, help="router bundle directory (e.g. artifacts/RUN/bundle)")
    route.add_argument("prompts", nargs="+", help="one or more prompts")
    route.add_argument("--tolerance", type=float, help="cheapest model within this fused score of the best")
    route.add_argument(
        "--willingness", type=float,
        help="lambda (>= 0), instead of --tolerance: the model with the best score - lambda * cost / dearest cost",
    )  # fmt: skip
    route.add_argument("--max-cost", type=float, help="only models whose expected cost is at most this")
    route.add_argument("--models", help="comma-separated subset of the bundle's models")
    route.add_argument("--json", action="store_true", help="print the decisions as JSON")
    route.set_defaults(func=cmd_route)

    add = sub.add_parser("add-model", help="train only a new model's heads into a new bundle revision")
    add.add_argument("--bundle", required=True, type=Path, help="the router bundle to extend")
    add.add_argument("--data", required=True, type=Path, help="routing table with the new model's outcomes")
    add.add_argument("--model", required=True, help="name of the new model in that table")
    add.add_argument("--out", type=Path, help="output bundle directory (default: <bundle>-r<revision>)")
    add.set_defaults(func=cmd_add_model)

    from jobs.rebuild import build_parser as rebuild_parser

    rebuild = sub.add_parser("rebuild", help="run the rebuild job (same as python -m jobs.rebuild)")
    rebuild_parser(rebuild)
    rebuild.set_defaults(func=cmd_rebuild)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FineRouterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
