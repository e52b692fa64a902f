#!/usr/bin/env python3
"""Quality runs of the `longshort` ranker on the reference data (DESIGN.md §3).

Trains with the `recsys` CLI under a wall-clock budget and evaluates with full
ranking (seen items filtered), then writes one JSON file per dataset to
benchmarks/results/longshort_<dataset>.json next to the published numbers.

  ML-1M:        train on ml1m/train/input.txt, evaluate the 512 validation users
                (val/input.txt → val/output.txt): a proxy of the published test
                protocol (input = all but the last item).
  Beauty, Toys: leave-one-out on amazon/<name>.txt (seq-user), validation on
                the second-to-last item for early stopping, test on the last.

  .venv/bin/python benchmarks/quality_longshort.py --recsys build/recsys \
      --datasets ml1m beauty --minutes 20 --threads 2
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PUBLISHED = {
    "ml1m": {
        "SASRec BCE 1 negative (gSASRec repo)": {"hr@10": 0.2392, "ndcg@10": 0.1259},
        "gSASRec gBCE 256 negatives": {"hr@10": 0.3003, "ndcg@10": 0.1726},
        "SASRec full CE (Klenitskiy & Vasilev 2023)": {"hr@10": 0.3152, "ndcg@10": 0.1821},
        "HSTU-large (Zhai et al. 2024)": {"hr@10": 0.3294, "ndcg@10": 0.1893},
    },
    "beauty": {"ICLRec (2022)": {"hr@10": 0.0744, "ndcg@10": 0.0403}},
    "toys": {"ICLRec (2022)": {"hr@10": 0.0834, "ndcg@10": 0.0480}},
}


def run(cmd):
    print("+", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return json.loads(proc.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recsys", default=os.path.join(ROOT, "build", "recsys"))
    ap.add_argument("--data-dir", default=os.environ.get("RECSYS_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")))
    ap.add_argument("--datasets", nargs="+", default=["ml1m", "beauty", "toys"], choices=["ml1m", "beauty", "toys"])
    ap.add_argument("--minutes", "--max-minutes", dest="minutes", type=float, default=20.0,
                    help="training budget per dataset (minutes)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--config", default=None, help="override the config file for every dataset")
    ap.add_argument("--candidates", type=int, default=200,
                    help="two-stage evaluation: stage-1 candidates N (HNSW32 over the item embeddings; 0 = skip)")
    ap.add_argument("--out-dir", default=os.path.join(ROOT, "benchmarks", "results"))
    args = ap.parse_args()

    if not os.path.exists(args.recsys):
        raise SystemExit(f"{args.recsys} not found: build the CLI first (ninja -C build recsys_cli)")
    os.makedirs(args.out_dir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="longshort_quality_")
    for name in args.datasets:
        config = args.config or os.path.join(
            ROOT, "benchmarks", "configs", "longshort_ml1m.json" if name == "ml1m" else "longshort_amazon.json")
        model = os.path.join(work, f"{name}.rsm")
        common = ["--threads", str(args.threads), "--json"]
        train_common = common + ["--seed", str(args.seed)]
        t0 = time.time()
        if name == "ml1m":
            d = os.path.join(args.data_dir, "ml1m")
            train = run([args.recsys, "train", "--model-type", "longshort", "--config", config,
                         "--train-input", os.path.join(d, "train", "input.txt"),
                         "--valid-input", os.path.join(d, "val", "input.txt"),
                         "--valid-targets", os.path.join(d, "val", "output.txt"),
                         "--k", "10,20", "--max-minutes", str(args.minutes), "--out", model] + train_common)
            eval_args = ["--input", os.path.join(d, "val", "input.txt"),
                         "--targets", os.path.join(d, "val", "output.txt")]
            full = run([args.recsys, "evaluate", "--model", model, "--k", "10,20"] + eval_args + common)
            result = {"protocol": "ml1m validation users (512), full ranking, seen filtered",
                      "metrics": full, "valid_during_training": train["valid"]}
        else:
            path = os.path.join(args.data_dir, "amazon", f"{name}.txt")
            train = run([args.recsys, "train", "--model-type", "longshort", "--config", config,
                         "--data", path, "--format", "seq-user", "--protocol", "loo", "--k", "5,10,20",
                         "--max-minutes", str(args.minutes), "--out", model] + train_common)
            test = run([args.recsys, "evaluate", "--model", model, "--data", path, "--format", "seq-user",
                        "--protocol", "loo", "--split", "test", "--k", "5,10,20"] + common)
            eval_args = ["--data", path, "--format", "seq-user", "--protocol", "loo", "--split", "test"]
            result = {"protocol": "leave-one-out test (last item), full ranking, history filtered",
                      "metrics": test, "valid": train["valid"]}
        if args.candidates > 0:
            # Two-stage: the model ranks only the N candidates its interest vectors retrieve.
            two = run([args.recsys, "evaluate", "--model", model, "--candidates", str(args.candidates),
                       "--k", "10,20"] + eval_args + common)
            full_ndcg, two_ndcg = result["metrics"]["ndcg@10"], two["ndcg@10"]
            two["ndcg@10_vs_full"] = two_ndcg / full_ndcg if full_ndcg > 0 else None
            result["two_stage"] = two
        result.update({"dataset": name, "model": "longshort", "config": train.get("config"),
                       "train_seconds": train.get("train_seconds"), "budget_minutes": args.minutes,
                       "events_per_s": train.get("events_per_s"), "steps": train.get("steps"),
                       "peak_rss_bytes": train.get("peak_rss_bytes"), "validations": train.get("validations"),
                       "threads": args.threads, "wall_seconds": time.time() - t0,
                       "published": PUBLISHED[name]})
        out = os.path.join(args.out_dir, f"longshort_{name}.json")
        with open(out, "w") as f:
            json.dump(result, f, indent=2)
        m = result["metrics"]
        print(f"{name}: HR@10 {m.get('hr@10')} NDCG@10 {m.get('ndcg@10')} -> {out}")
        if "two_stage" in result:
            t = result["two_stage"]
            n = args.candidates
            print(f"    two-stage N={n}: NDCG@10 {t['ndcg@10']} ({t['ndcg@10_vs_full']:.3f} of full), "
                  f"stage-1 recall@{n} {t[f'stage1_recall@{n}']}")
        for ref, v in PUBLISHED[name].items():
            print(f"    published {ref}: HR@10 {v['hr@10']} NDCG@10 {v['ndcg@10']}")


if __name__ == "__main__":
    main()
