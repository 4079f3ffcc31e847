#!/usr/bin/env python3
"""Replays the trace of `benches/benches/reply_cache.rs` through LiteLLM's proxy with its exact
response cache, the proxy's model being Bedrock (Converse) pointed at the repo's fake Bedrock.

Run from the repo root: `python3 benches/litellm/compare.py` (needs `pip install 'litellm[proxy]'`
and the prebuilt `target/release/examples/fake_bedrock`; `redis-server` on PATH for the Redis
runs). Everything it starts (fake Bedrock, proxy, redis-server) listens on free ports on
127.0.0.1 and is stopped at the end; its files live in a temporary directory that is removed.

Options: --runs N (default 3), --backends local,redis (default both; redis is skipped if
redis-server is missing), --variants user,nouser (default both).

A request is a *hit* when it did not reach the fake Bedrock. Per request this is read from the
proxy's `x-litellm-cache-key` response header (LiteLLM sets it only on a cache hit); per run it
is checked against the number of requests the fake says it served (it prints "N requests served"
on SIGINT). Both must agree, or the run is reported as inconsistent.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.util
import json
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

QUESTIONS = 1000
VISITORS = 300
INTENTS = 50
MASK = 0xFFFFFFFFFFFFFFFF
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
MIN_OTHER_ASKERS = 2  # bedrock-chat's default: shown to a visitor once 2 *other* visitors asked

FIRST = [
    "opening", "closing", "parking", "delivery", "refund", "invoice", "password", "account",
    "shipping", "warranty", "discount", "membership", "booking", "cancellation", "payment",
    "pricing", "support", "location", "allergen", "vegan", "gift", "loyalty", "student", "pet",
    "wifi", "accessibility", "newsletter", "career", "privacy", "cookie", "holiday", "weekend",
    "express", "international", "tracking", "exchange", "repair", "install", "subscription",
    "trial", "upgrade", "downgrade", "login", "email", "phone", "chat", "feedback", "complaint",
    "partnership", "donation",
]
SECOND = [
    "hours", "rules", "options", "policy", "status", "limits", "fees", "times", "details",
    "requirements",
]


# ---------------------------------------------------------------- the trace (as in reply_cache.rs)

def topic(intent: int) -> str:
    second = SECOND[intent // 2] if intent < 20 else SECOND[intent % 10]
    return f"{FIRST[intent]} {second}"


def phrasing(topic_: str, way: int) -> str:
    if way == 0:
        return f"What are your {topic_}?"
    if way == 1:
        return f"{topic_}?"
    if way == 2:
        return f"Tell me about the {topic_}"
    if way == 3:
        return f"Can you tell me about {topic_}, please?"
    return f"what is the {topic_}"


class Rng:
    """xorshift64, u64 wrapping, exactly as the Rust `Rng`."""

    def __init__(self, seed: int) -> None:
        self.x = seed & MASK

    def next(self) -> int:
        x = self.x
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
        self.x = x
        return x

    def unit(self) -> float:
        return (self.next() >> 11) / float(1 << 53)


def trace() -> list[tuple[int, int, str]]:
    """(visitor, intent, question) for each of the 1,000 questions."""
    weights = [1.0 / k for k in range(1, INTENTS + 1)]
    total = 0.0
    for w in weights:  # a plain left-to-right sum, as Rust's `Iterator::sum` for f64
        total += w
    rng = Rng(0x9E37_79B9_7F4A_7C15)
    out = []
    for _ in range(QUESTIONS):
        pick = rng.unit() * total
        intent = 0
        while pick > weights[intent] and intent + 1 < INTENTS:
            pick -= weights[intent]
            intent += 1
        way = rng.next() % 5
        visitor = rng.next() % VISITORS
        out.append((visitor, intent, phrasing(topic(intent), way)))
    return out


def expected_hits(questions: list[tuple[int, int, str]], keyed_on_user: bool) -> int:
    """Hits of an unbounded exact cache keyed on the text (and the visitor, if keyed_on_user)."""
    seen: set = set()
    hits = 0
    for visitor, _, text in questions:
        key = (text, visitor) if keyed_on_user else text
        hits += key in seen
        seen.add(key)
    return hits


# ---------------------------------------------------------------- processes

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port: int, path: str, timeout: float, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"process exited early ({proc.returncode}); log:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                c.close()
                return
        time.sleep(0.3)
    raise SystemExit(f"timed out waiting for 127.0.0.1:{port}{path}; log:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen | None, sig: int = signal.SIGINT, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Fake:
    def __init__(self, binary: Path, workdir: Path) -> None:
        self.port = free_port()
        self.err = workdir / f"fake-{self.port}.err"
        self.proc = subprocess.Popen(
            [str(binary), "--port", str(self.port), "--chunk-delay", "0"],
            stdout=subprocess.PIPE, stderr=self.err.open("w"), text=True,
        )
        line = self.proc.stdout.readline().strip()  # its URL, once it listens
        if not line.startswith("http://"):
            stop(self.proc)
            raise SystemExit(f"fake Bedrock did not start: {line!r} {self.err.read_text()}")
        self.url = line

    def stop_and_count(self) -> int:
        stop(self.proc, signal.SIGINT)
        m = re.search(r"(\d+) requests served", self.err.read_text())
        if not m:
            raise SystemExit(f"fake Bedrock did not report its count: {self.err.read_text()!r}")
        return int(m.group(1))


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.dir = workdir / f"redis-{self.port}"
        self.dir.mkdir()
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            time.sleep(0.1)
        stop(self.proc, signal.SIGTERM)
        raise SystemExit("redis-server did not start")

    def stop(self) -> None:
        stop(self.proc, signal.SIGTERM)


def proxy_config(fake_url: str, backend: str, redis_port: int | None) -> str:
    cache = "    type: local\n"
    if backend == "redis":
        cache = f"    type: redis\n    host: 127.0.0.1\n    port: {redis_port}\n"
    return (
        "model_list:\n"
        "  - model_name: sonnet\n"
        "    litellm_params:\n"
        f"      model: bedrock/converse/{MODEL}\n"
        f"      aws_bedrock_runtime_endpoint: {fake_url}\n"
        "      aws_region_name: us-east-1\n"
        "      aws_access_key_id: test\n"
        "      aws_secret_access_key: test\n"
        "litellm_settings:\n"
        "  cache: true\n"
        "  cache_params:\n"
        f"{cache}"
    )


class Proxy:
    def __init__(self, config: str, workdir: Path) -> None:
        self.port = free_port()
        cfg = workdir / f"proxy-{self.port}.yaml"
        cfg.write_text(config)
        self.log = workdir / f"proxy-{self.port}.log"
        self.key = "sk-" + secrets.token_hex(24)
        env = dict(
            os.environ,
            LITELLM_MASTER_KEY=self.key,
            LITELLM_LOCAL_MODEL_COST_MAP="True",  # no network fetch of the price map
            AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "litellm.proxy.proxy_cli", "--config", str(cfg),
             "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT, env=env, cwd=workdir,
            start_new_session=True,
        )
        wait_http(self.port, "/health/liveliness", 120, self.proc, self.log)

    def stop(self) -> None:
        stop(self.proc, signal.SIGINT, timeout=20)


# ---------------------------------------------------------------- the replay

class Client:
    def __init__(self, port: int, key: str) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}

    def ask(self, text: str, user: str | None) -> tuple[bool, float, dict]:
        body: dict = {"model": "sonnet", "messages": [{"role": "user", "content": text}]}
        if user is not None:
            body["user"] = user
        payload = json.dumps(body)
        started = time.perf_counter()
        self.conn.request("POST", "/chat/completions", payload, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - started
        if response.status != 200:
            raise SystemExit(f"proxy answered {response.status}: {data[:500]!r}")
        hit = response.getheader("x-litellm-cache-key") is not None
        return hit, elapsed, json.loads(data)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p * (len(values) - 1))))]


def replay(questions, backend: str, with_user: bool, binary: Path, workdir: Path) -> dict:
    redis = Redis(workdir) if backend == "redis" else None
    fake = proxy = None
    try:
        fake = Fake(binary, workdir)
        proxy = Proxy(proxy_config(fake.url, backend, redis and redis.port), workdir)
        client = Client(proxy.port, proxy.key)
        # Warm-up (not in the trace): the first request through a fresh proxy pays ~1 s of
        # one-off set-up. Its fake requests are subtracted below.
        warm_misses = 0
        for _ in range(2):
            hit, _, _ = client.ask("Warm-up question, not in the trace?", "warmup" if with_user else None)
            warm_misses += not hit
        hits = 0
        hit_times: list[float] = []
        miss_times: list[float] = []
        askers: dict[str, set[int]] = {}  # distinct visitors who asked the exact text so far
        hits_few_others = 0  # hits served when < 2 *other* visitors had asked that text before
        hits_no_others = 0  # ...when no other visitor had
        hits_own_repeat = 0  # the hit went to a visitor who had asked that very text before
        started = time.perf_counter()
        for visitor, _intent, text in questions:
            hit, elapsed, _ = client.ask(text, f"visitor-{visitor}" if with_user else None)
            before = askers.setdefault(text, set())
            others = len(before - {visitor})
            if hit:
                hits += 1
                hit_times.append(elapsed)
                hits_few_others += others < MIN_OTHER_ASKERS
                hits_no_others += others == 0
                hits_own_repeat += visitor in before
            else:
                miss_times.append(elapsed)
            before.add(visitor)
        wall = time.perf_counter() - started
        proxy.stop()
        proxy = None
        reached = fake.stop_and_count() - warm_misses
        fake = None
    finally:
        if proxy:
            proxy.stop()
        if fake:
            fake.stop_and_count()
        if redis:
            redis.stop()
    return {
        "backend": backend, "user": with_user, "hits": hits,
        "fake_requests": reached, "consistent": reached == QUESTIONS - hits,
        "hits_few_others": hits_few_others, "hits_no_others": hits_no_others,
        "hits_own_repeat": hits_own_repeat,
        "expected_unbounded": expected_hits(questions, with_user),
        "hit_p50_ms": pct(hit_times, 0.5) * 1e3, "hit_p90_ms": pct(hit_times, 0.9) * 1e3,
        "miss_p50_ms": pct(miss_times, 0.5) * 1e3, "miss_p90_ms": pct(miss_times, 0.9) * 1e3,
        "wall_s": wall,
    }


def describe(r: dict, run: int) -> str:
    return (
        f"  run {run}: {r['hits']:>4} hits of {QUESTIONS} ({r['hits'] / QUESTIONS:.1%}); "
        f"fake Bedrock received {r['fake_requests']} ({'agrees' if r['consistent'] else 'DISAGREES'} "
        f"with the header count); hits with < {MIN_OTHER_ASKERS} other prior askers: "
        f"{r['hits_few_others']} (with none: {r['hits_no_others']}; to a visitor repeating "
        f"own question: {r['hits_own_repeat']}); latency hit p50 {r['hit_p50_ms']:.1f} ms "
        f"p90 {r['hit_p90_ms']:.1f} ms, miss p50 {r['miss_p50_ms']:.1f} ms p90 "
        f"{r['miss_p90_ms']:.1f} ms; {r['wall_s']:.1f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="local,redis")
    parser.add_argument("--variants", default="user,nouser")
    args = parser.parse_args()

    questions = trace()
    print("first 5 questions of the trace (visitor, intent, text):")
    for visitor, intent, text in questions[:5]:
        print(f"  visitor-{visitor:<3} intent {intent:>2}  {text!r}")
    print(f"expected hits of an unbounded exact cache: keyed on text {expected_hits(questions, False)}, "
          f"keyed on (text, user) {expected_hits(questions, True)}")

    if importlib.util.find_spec("litellm") is None:
        print("litellm is not installed: python3 -m pip install 'litellm[proxy]'", file=sys.stderr)
        return 2
    from importlib.metadata import version
    print(f"LiteLLM {version('litellm')}")

    repo = Path(__file__).resolve().parents[2]
    binary = repo / "target/release/examples/fake_bedrock"
    if not binary.exists():
        print(f"{binary} is missing (build the fake_bedrock example in release)", file=sys.stderr)
        return 2
    backends = [b for b in args.backends.split(",") if b]
    if "redis" in backends and shutil.which("redis-server") is None:
        print("redis-server not found: skipping the Redis runs", file=sys.stderr)
        backends.remove("redis")
    variants = [v == "user" for v in args.variants.split(",") if v]

    workdir = Path(tempfile.mkdtemp(prefix="litellm-compare-"))
    results = []
    try:
        for backend in backends:
            for with_user in variants:
                label = ('"user": "visitor-N" in the body' if with_user
                         else 'no "user" field (visitor not sent)')
                print(f"\nLiteLLM proxy, {backend} cache, {label}:")
                for run in range(1, args.runs + 1):
                    r = replay(questions, backend, with_user, binary, workdir)
                    results.append(r)
                    print(describe(r, run), flush=True)
                print(f"  (an unbounded exact cache with this key would hit {r['expected_unbounded']})")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(r["consistent"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
