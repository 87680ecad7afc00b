"""``bth bench``: how fast and how big the model runs, from 1% of real firms to a million agents.

    bth bench [--quick] [--out FILE.csv] [--repeat N] [--reference-cap SECONDS]
              [--reference-scales S ...] [--no-reference] [--seed S]

Runs the baseline (``Params()``, 2020-2035) with the vectorised stepping at scales 0.01, 0.05,
0.1, 0.25, 0.5 and 1.0 (1.0 = every real firm an agent) and on a synthetic population of about
1,000,000 firm agents (scale > 1: each agent stands for less than one real firm; the outputs stay
at real-world scale), then the reference stepping (``model.reference``) at the scales where it
finishes within the time cap.  Every run is a fresh subprocess, so its peak RSS is its own.

Per run it prints (and writes to --out as CSV):
  agents       living firm agents, mean over the simulated years (the population grows ~2.8x)
  agents_end   living firm agents in the last year
  s/run        wall seconds for one run (model construction + 16 simulated years); the fastest
               of --repeat runs (the least disturbed by other load on the machine)
  s/year       s/run / simulated years
  cpu s        CPU seconds of that run
  peak MB      peak resident memory of the process (ru_maxrss)
  B/agent      (peak RSS - RSS before the model was built) / agents_end
  ns/agent-yr  wall time / sum over years of living firm agents
  speedup      reference s/run / vectorised s/run at the same scale
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import resource
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from model.regions import REGIONS
from model.years import DEFAULT_HORIZON, FIRST_YEAR

SCALES = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0)
QUICK_SCALES = (0.01, 0.1, 1.0)
REFERENCE_SCALES = (0.01, 0.05, 0.1, 0.25)
QUICK_REFERENCE_SCALES = (0.05,)
SYNTHETIC_AGENTS = 1_000_000
AGENTS_PER_UNIT_SCALE = 215_000  # mean living firm agents of a baseline run at scale 1 (measured)
UNTIL = DEFAULT_HORIZON
REPO = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    stepping: str
    size: str
    scale: float
    agents: float = math.nan
    agents_end: int = 0
    agent_years: int = 0
    s_per_run: float = math.nan
    s_per_year: float = math.nan
    cpu_s: float = math.nan
    peak_rss_mb: float = math.nan
    bytes_per_agent: float = math.nan
    ns_per_agent_year: float = math.nan
    speedup: float = math.nan
    status: str = "ok"


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``bth bench``; returns the exit code (1 if a vectorised run failed)."""
    args = _parser().parse_args(argv)
    if args.child:
        return _child(json.loads(args.child))
    scales = QUICK_SCALES if args.quick else SCALES
    ref_scales = args.reference_scales or (QUICK_REFERENCE_SCALES if args.quick else REFERENCE_SCALES)
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 3)
    results: list[Result] = []
    print(f"bth bench: baseline {FIRST_YEAR}-{args.until}, seed {args.seed}, best of {repeat} runs per size, "
          f"each in a fresh process ({os.cpu_count()} CPUs)\n")
    print(_header())
    for scale in scales:
        results.append(_measure("vectorised", f"{scale:g}", scale, args, repeat))
        print(_line(results[-1]), flush=True)
    per_unit = _agents_per_unit_scale(results)
    synthetic = SYNTHETIC_AGENTS / per_unit
    results.append(_measure("vectorised", "1M synthetic", synthetic, args, 1 if args.quick else min(repeat, 2)))
    print(_line(results[-1]), flush=True)
    for scale in () if args.no_reference else ref_scales:
        res = _measure("reference", f"{scale:g}", scale, args, 1, timeout=args.reference_cap)
        vec = next((r for r in results if r.stepping == "vectorised" and r.scale == scale), None)
        if vec is None and res.status == "ok":  # --quick: time the vectorised run at this scale too
            vec = _measure("vectorised", f"{scale:g}", scale, args, repeat)
        if vec is not None and res.status == "ok" and vec.status == "ok":
            res.speedup = res.s_per_run / vec.s_per_run
        results.append(res)
        print(_line(res), flush=True)
        if res.status != "ok":
            break  # larger scales would take longer still
    print()
    print(_verdicts(results, args))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=[f.name for f in fields(Result)])
            writer.writeheader()
            writer.writerows(asdict(r) for r in results)
        print(f"\nwritten {args.out}")
    return 1 if any(r.stepping == "vectorised" and r.status != "ok" for r in results) else 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bth bench", description="Benchmark the model from 1 percent of real firms to 1M agents.")
    p.add_argument("--quick", action="store_true", help="scales 0.01, 0.1, 1.0, 1M and the reference at 0.05 only, one run each")
    p.add_argument("--out", type=Path, default=None, help="also write the table as CSV")
    p.add_argument("--repeat", type=int, default=None, help="runs per size, the fastest is reported (default 3; --quick 1)")
    p.add_argument("--reference-cap", type=float, default=300.0,
                   help="seconds after which a reference run is stopped (default 300)")
    p.add_argument("--no-reference", action="store_true", help="skip the reference stepping")
    p.add_argument("--reference-scales", type=float, nargs="+", default=None, metavar="SCALE",
                   help="scales for the reference stepping (default 0.01 0.05 0.1 0.25; --quick 0.05)")
    p.add_argument("--seed", type=int, default=1, help="model seed (default 1)")
    p.add_argument("--until", type=int, default=UNTIL, help=argparse.SUPPRESS)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p


# ------------------------------------------------------------------ one run, in its own process


def _measure(stepping: str, size: str, scale: float, args: argparse.Namespace, repeat: int,
             timeout: float | None = None) -> Result:
    best: Result | None = None
    for _ in range(max(repeat, 1)):
        spec = json.dumps({"stepping": stepping, "scale": scale, "seed": args.seed, "until": args.until})
        try:
            proc = subprocess.run([sys.executable, "-m", "experiments.bench", "--child", spec], cwd=REPO,
                                  capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Result(stepping, size, scale, status=f"not finished in {timeout:g} s")
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            return Result(stepping, size, scale, status=f"failed: {tail}")
        res = Result(stepping=stepping, size=size, **json.loads(proc.stdout.strip().splitlines()[-1]))
        if best is None or res.s_per_run < best.s_per_run:
            best = res
    return best


def _child(spec: dict) -> int:
    """Run one simulation and print its measurements as a JSON line."""
    import numpy as np
    import psutil

    from model import Params, ReferenceModel, TechTransferModel

    class SyntheticPopulationModel(TechTransferModel):
        """The baseline with more agents than real firms (each agent weighs 1/scale < 1)."""

        MAX_SCALE = math.inf

    scale, until = spec["scale"], spec["until"]
    if spec["stepping"] == "reference":
        cls = ReferenceModel
    else:
        cls = SyntheticPopulationModel if scale > 1 else TechTransferModel
    rss_before = psutil.Process().memory_info().rss
    wall0, cpu0 = time.perf_counter(), time.process_time()
    tables = cls(Params(), seed=spec["seed"], scale=scale, until=until).run()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    r = tables.regions
    firms = r[(r.metric == "firms") & r.region.isin(REGIONS)].groupby("year").value.sum()
    agents = np.rint(firms.to_numpy() * scale)  # the table counts real firms; an agent stands for 1/scale
    years = until - FIRST_YEAR + 1
    out = dict(scale=scale, agents=float(agents.mean()), agents_end=int(agents[-1]), agent_years=int(agents.sum()),
               s_per_run=wall, s_per_year=wall / years, cpu_s=cpu, peak_rss_mb=peak / 2**20,
               bytes_per_agent=(peak - rss_before) / agents[-1], ns_per_agent_year=wall / agents.sum() * 1e9)
    print(json.dumps(out))
    return 0


# ------------------------------------------------------------------ report


def _agents_per_unit_scale(results: list[Result]) -> float:
    done = [r for r in results if r.status == "ok"]
    return max(done, key=lambda r: r.scale).agents / max(done, key=lambda r: r.scale).scale if done else AGENTS_PER_UNIT_SCALE


def _header() -> str:
    return (f"{'stepping':<11}{'size':>13}{'scale':>8}{'agents':>11}{'agents_end':>11}{'s/run':>9}{'s/year':>9}"
            f"{'cpu s':>9}{'peak MB':>9}{'B/agent':>9}{'ns/agent-yr':>12}{'speedup':>9}")


def _line(r: Result) -> str:
    if r.status != "ok":
        return f"{r.stepping:<11}{r.size:>13}{r.scale:>8.3g}  {r.status}"
    speed = f"{r.speedup:>8.0f}x" if not math.isnan(r.speedup) else f"{'':>9}"
    return (f"{r.stepping:<11}{r.size:>13}{r.scale:>8.3g}{r.agents:>11,.0f}{r.agents_end:>11,}{r.s_per_run:>9.3f}"
            f"{r.s_per_year:>9.4f}{r.cpu_s:>9.3f}{r.peak_rss_mb:>9.0f}{r.bytes_per_agent:>9.0f}"
            f"{r.ns_per_agent_year:>12.0f}{speed}")


def _verdicts(results: list[Result], args: argparse.Namespace) -> str:
    vec = [r for r in results if r.stepping == "vectorised" and r.status == "ok"]
    lines = []
    full = next((r for r in vec if r.scale == 1.0), None)
    if full is not None:
        ok = full.s_per_run < 5 and full.peak_rss_mb < 2048
        lines.append(f"[{'ok' if ok else 'FAIL'}] full scale (1.0) {FIRST_YEAR}-{args.until}: {full.s_per_run:.2f} s "
                     f"(target < 5 s), peak {full.peak_rss_mb:.0f} MB (target < 2048 MB)")
    band = [r for r in vec if 10_000 <= r.agents <= 1_000_000 * 1.05]
    if len(band) >= 2:
        costs = [r.ns_per_agent_year for r in band]
        mid = sorted(costs)[len(costs) // 2]
        spread = max(abs(c / mid - 1) for c in costs)
        lines.append(f"[{'ok' if spread <= 0.3 else 'FAIL'}] cost per agent-year from {band[0].agents:,.0f} to "
                     f"{band[-1].agents:,.0f} agents: {min(costs):.0f}-{max(costs):.0f} ns, within "
                     f"{100 * spread:.0f}% of the median {mid:.0f} ns (target +-30%)")
    refs = [r for r in results if r.stepping == "reference" and r.status == "ok" and not math.isnan(r.speedup)]
    if refs:
        top = max(refs, key=lambda r: r.scale)
        # below ~10,000 firm agents the 155 labs' fixed work dominates both steppings' time
        verdict = "info" if top.agents < 10_000 else "ok" if top.speedup >= 50 else "FAIL"
        lines.append(f"[{verdict}] speedup over the reference stepping at scale "
                     f"{top.scale:g} (largest it finished): {top.speedup:.0f}x (target >= 50x)")
    at01 = next((r for r in vec if r.scale == 0.1), None)
    if at01 is not None:
        n_scen = len([p for p in (REPO / "scenarios").glob("*.toml")])
        est = n_scen * 5 * at01.s_per_run / 2
        lines.append(f"[info] one run at scale 0.1 takes {at01.s_per_run:.2f} s: {n_scen} scenarios x 5 seeds on "
                     f"2 processes ~ {est:.0f} s of model time (plus process start-up and writing; target < 60 s)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
