#!/usr/bin/env python3
"""MostPop and ItemKNN baselines on the reference datasets, through the CLI.

Runs `recsys train` + `recsys evaluate` for every (dataset, model) pair:
  ML-1M   train on train/input.txt, evaluate the 512 validation users
          (--input val/input.txt --targets val/output.txt)
  Beauty  --data amazon/beauty.txt --protocol loo --split test
  Toys    --data amazon/toys.txt   --protocol loo --split test
and writes benchmarks/results/baselines.json and baselines.md (with the
published rows of DESIGN.md §3 for orientation).

  .venv/bin/python benchmarks/baselines.py [--recsys build/recsys] [--data ../shared/data]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# DESIGN.md §3: published full-ranking results (test protocols of the papers).
PUBLISHED = [
    ("ML-1M", "SASRec, BCE 1 negative (gSASRec repo)", 0.2392, 0.1259),
    ("ML-1M", "gSASRec, gBCE 256 negatives", 0.3003, 0.1726),
    ("ML-1M", "SASRec, full cross-entropy (Klenitskiy & Vasilev 2023)", 0.3152, 0.1821),
    ("ML-1M", "HSTU-large (Zhai et al. 2024)", 0.3294, 0.1893),
    ("Beauty", "ICLRec (2022)", 0.0744, 0.0403),
    ("Toys", "ICLRec (2022)", 0.0834, 0.0480),
]

MODELS = {
    "mostpop": {},
    "itemknn": {"neighbors": 100, "window": 50, "history_length": 50, "history_half_life": 10.0},
}


def run(cmd):
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return json.loads(proc.stdout), wall


def datasets(data_dir):
    ml = os.path.join(data_dir, "ml1m")
    return [
        ("ML-1M", "val (512 users)",
         ["--train-input", os.path.join(ml, "train/input.txt")],
         ["--input", os.path.join(ml, "val/input.txt"), "--targets", os.path.join(ml, "val/output.txt")]),
        ("Beauty", "loo test",
         ["--data", os.path.join(data_dir, "amazon/beauty.txt"), "--format", "seq-user", "--protocol", "loo"],
         ["--data", os.path.join(data_dir, "amazon/beauty.txt"), "--format", "seq-user", "--protocol", "loo",
          "--split", "test"]),
        ("Toys", "loo test",
         ["--data", os.path.join(data_dir, "amazon/toys.txt"), "--format", "seq-user", "--protocol", "loo"],
         ["--data", os.path.join(data_dir, "amazon/toys.txt"), "--format", "seq-user", "--protocol", "loo",
          "--split", "test"]),
    ]


def markdown(rows):
    out = ["# Baselines (full-catalogue ranking, seen items filtered)", "",
           "| data | split | model | HR@10 | NDCG@10 | HR@20 | NDCG@20 | Coverage@10 | users | train s | eval s |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['data']} | {r['split']} | {r['model']} | {r['hr@10']:.4f} | {r['ndcg@10']:.4f} | "
                   f"{r['hr@20']:.4f} | {r['ndcg@20']:.4f} | {r['coverage@10']:.4f} | {r['users']} | "
                   f"{r['train_seconds']:.2f} | {r['eval_seconds']:.2f} |")
    out += ["", "Published full-ranking results (DESIGN.md §3; test protocols of the papers — ML-1M rows are",
            "on the test users, ours on the 512 validation users, so they orient, not compare exactly):", "",
            "| data | model | HR@10 | NDCG@10 |", "|---|---|---|---|"]
    for data, model, hr, ndcg in PUBLISHED:
        out.append(f"| {data} | {model} | {hr:.4f} | {ndcg:.4f} |")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recsys", default=os.path.join(ROOT, "build", "recsys"), help="path of the recsys binary")
    parser.add_argument("--data", default=os.path.join(os.path.dirname(ROOT), "shared", "data"),
                        help="reference data folder")
    parser.add_argument("--out", default=os.path.join(HERE, "results"), help="output folder")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    if not os.path.exists(args.recsys):
        raise SystemExit(f"recsys binary not found at {args.recsys} (build it or pass --recsys)")
    os.makedirs(args.out, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for data_name, split, train_args, eval_args in datasets(args.data):
            for model, config in MODELS.items():
                config_path = os.path.join(tmp, f"{model}.json")
                with open(config_path, "w") as f:
                    json.dump(config, f)
                model_path = os.path.join(tmp, f"{data_name}_{model}.rsm")
                trained, train_wall = run([args.recsys, "train", "--model-type", model, "--config", config_path,
                                           *train_args, "--threads", str(args.threads), "--out", model_path,
                                           "--json"])
                result, eval_wall = run([args.recsys, "evaluate", "--model", model_path, *eval_args,
                                         "--k", "10,20", "--threads", str(args.threads), "--json"])
                row = {"data": data_name, "split": split, "model": model, "config": config,
                       "train_seconds": trained["train_seconds"], "train_wall_seconds": train_wall,
                       "eval_seconds": result["eval_seconds"], "eval_wall_seconds": eval_wall}
                for key in ("users", "hr@10", "ndcg@10", "hr@20", "ndcg@20", "mrr@10", "recall@10",
                            "coverage@10", "coverage@20", "unknown_input_items", "unknown_targets"):
                    row[key] = result[key]
                rows.append(row)
                print(f"{data_name:7s} {model:8s} HR@10 {row['hr@10']:.4f} NDCG@10 {row['ndcg@10']:.4f} "
                      f"HR@20 {row['hr@20']:.4f} NDCG@20 {row['ndcg@20']:.4f} Cov@10 {row['coverage@10']:.4f} "
                      f"train {row['train_seconds']:.2f}s eval {row['eval_seconds']:.2f}s", flush=True)
    with open(os.path.join(args.out, "baselines.json"), "w") as f:
        json.dump({"rows": rows, "published": [dict(zip(("data", "model", "hr@10", "ndcg@10"), p))
                                               for p in PUBLISHED]}, f, indent=2)
    with open(os.path.join(args.out, "baselines.md"), "w") as f:
        f.write(markdown(rows))
    print(markdown(rows))


if __name__ == "__main__":
    main()
