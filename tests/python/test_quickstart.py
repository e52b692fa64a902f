import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def test_quickstart_runs(tmp_path):
    script = os.path.join(ROOT, "examples", "python", "quickstart.py")
    env = dict(os.environ, RECSYS_QUICKSTART_SMALL="1", MPLBACKEND="Agg")
    r = subprocess.run([sys.executable, script, "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "ndcg@10" in r.stdout
    assert os.path.exists(tmp_path / "quickstart_metrics.png")
