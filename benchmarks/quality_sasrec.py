#!/usr/bin/env python3
"""ML-1M quality runs of the `sasrec` model (issue 6): trains each config on
ml1m/train/input.txt with the validation users for early stopping, evaluates
the validation users (full ranking, seen items filtered) and writes
benchmarks/results/sasrec_ml1m.json next to the published figures.

  .venv/bin/python benchmarks/quality_sasrec.py --recsys build/recsys --max-minutes 60 \
      [--configs ce,gsasrec] [--threads 2]

The published numbers are on the test protocol (input = all but the last
item); the 512 validation users are only a proxy for them.
"""
import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {
    "ce": ("benchmarks/configs/sasrec_ce_ml1m.json",
           {"source": "SASRec, full cross-entropy (Klenitskiy & Vasilev 2023)", "hr@10": 0.3152, "ndcg@10": 0.1821}),
    "gsasrec": ("benchmarks/configs/sasrec_gsasrec_ml1m.json",
                {"source": "gSASRec, gBCE 256 negatives (Petrov & Macdonald 2023)", "hr@10": 0.3003, "ndcg@10": 0.1726}),
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recsys", default=os.path.join(ROOT, "build", "recsys"))
    p.add_argument("--data", default=os.environ.get("RECSYS_DATA_DIR", os.path.join(ROOT, "..", "shared", "data")))
    p.add_argument("--configs", default="ce,gsasrec")
    p.add_argument("--max-minutes", type=float, default=60.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--out", default=os.path.join(ROOT, "benchmarks", "results", "sasrec_ml1m.json"))
    p.add_argument("--work", default="/tmp/recsys_quality_sasrec")
    a = p.parse_args()
    ml1m = os.path.join(a.data, "ml1m")
    train = os.path.join(ml1m, "train", "input.txt")
    vin, vout = os.path.join(ml1m, "val", "input.txt"), os.path.join(ml1m, "val", "output.txt")
    for f in (train, vin, vout, a.recsys):
        if not os.path.exists(f):
            print(f"quality_sasrec: missing {f}", file=sys.stderr)
            return 2
    os.makedirs(a.work, exist_ok=True)
    results = {}
    if os.path.exists(a.out):
        with open(a.out) as f:
            results = json.load(f).get("runs", {})
    for name in [c for c in a.configs.split(",") if c]:
        cfg_rel, published = CONFIGS[name]
        model = os.path.join(a.work, f"sasrec_{name}.rsm")
        start = time.time()
        cmd = [a.recsys, "train", "--model-type", "sasrec", "--config", os.path.join(ROOT, cfg_rel),
               "--train-input", train, "--valid-input", vin, "--valid-targets", vout,
               "--threads", str(a.threads), "--seed", str(a.seed), "--max-minutes", str(a.max_minutes),
               "--out", model, "--json"]
        print("quality_sasrec:", " ".join(cmd), file=sys.stderr, flush=True)
        tr = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        if tr.returncode != 0:
            print(f"quality_sasrec: training {name} failed", file=sys.stderr)
            return 1
        train_json = json.loads(tr.stdout.strip().splitlines()[-1])
        ev = subprocess.run([a.recsys, "evaluate", "--model", model, "--input", vin, "--targets", vout,
                             "--k", "10,20", "--threads", str(a.threads), "--json"],
                            stdout=subprocess.PIPE, text=True, check=True)
        metrics = json.loads(ev.stdout.strip().splitlines()[-1])
        results[name] = {
            "config": cfg_rel,
            "max_minutes": a.max_minutes,
            "threads": a.threads,
            "train": train_json,
            "valid": metrics,
            "wall_s": time.time() - start,
            "published_test": published,
        }
        print(f"quality_sasrec: {name}: HR@10 {metrics.get('hr@10'):.4f} NDCG@10 {metrics.get('ndcg@10'):.4f} "
              f"(published, test protocol: {published['hr@10']} / {published['ndcg@10']})", file=sys.stderr)
        os.makedirs(os.path.dirname(a.out), exist_ok=True)
        with open(a.out, "w") as f:
            json.dump({"dataset": "ml1m", "protocol": "validation users (val/input.txt -> val/output.txt), "
                       "full ranking, seen items filtered", "runs": results}, f, indent=2)
    print(json.dumps({"runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
