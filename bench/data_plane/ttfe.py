#!/usr/bin/env python3
"""Time to first SSE event, interleaved across targets.

For each request: the clock starts just before the request bytes are written to a
kept-alive TCP connection (TCP_NODELAY) and stops when the first `data:` line of the
response body has been received. The whole response is then read to its end (chunked
or Content-Length) so the connection can be reused. Targets are visited in a fresh
random order in every iteration, so drift on the machine hits them all alike.

Usage: ttfe.py --targets-json '[{"name": "direct", "port": 1234, "model": "m1",
                                 "auth": "Bearer x", "n": 2000}, ...]'
           [--warmup 50] [--seed 1]
Prints one line per target:
  TTFE <name> n=<ok> errors=<bad> p50=<us> p90=<us> p99=<us> mean=<us> full_p50=<us>
where full_p50 is the median time to the end of the stream.
"""

import argparse
import gc
import json
import random
import socket
import statistics
import sys
import time


class Conn:
    def __init__(self, t):
        self.t = t
        self.sock = None
        body = json.dumps(
            {"model": t["model"], "stream": True, "messages": [{"role": "user", "content": "hi"}]},
            separators=(",", ":"),
        ).encode()
        head = (
            f"POST {t.get('path', '/v1/chat/completions')} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{t['port']}\r\n"
            "Content-Type: application/json\r\n"
            "Accept: text/event-stream\r\n"
        )
        if t.get("auth"):
            head += f"Authorization: {t['auth']}\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        self.req = head.encode() + body

    def connect(self):
        if self.sock is not None:
            self.sock.close()
        s = socket.create_connection(("127.0.0.1", self.t["port"]), timeout=30)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s

    def once(self):
        """(first_event_ns, full_ns) or raises."""
        if self.sock is None:
            self.connect()
        s = self.sock
        t0 = time.perf_counter_ns()
        s.sendall(self.req)
        buf = b""
        hdr_end = -1
        first = None
        while True:
            data = s.recv(65536)
            if not data:
                self.sock = None
                raise IOError("connection closed mid-response")
            buf += data
            if hdr_end < 0:
                hdr_end = buf.find(b"\r\n\r\n")
                if hdr_end < 0:
                    continue
                hdr_end += 4
                head = buf[:hdr_end].decode("latin-1").lower()
                status = int(head.split(" ", 2)[1])
                if status != 200:
                    self.sock.close()
                    self.sock = None
                    raise IOError(f"HTTP {status}")
                chunked = "transfer-encoding: chunked" in head
                clen = None
                for line in head.split("\r\n"):
                    if line.startswith("content-length:"):
                        clen = int(line.split(":", 1)[1])
                close = "connection: close" in head
            if first is None and b"data:" in buf[hdr_end:]:
                first = time.perf_counter_ns()
            body = buf[hdr_end:]
            if chunked:
                if body.endswith(b"0\r\n\r\n") and _chunked_complete(body):
                    break
            elif clen is not None:
                if len(body) >= clen:
                    break
        full = time.perf_counter_ns()
        if first is None:
            raise IOError("no data: line in the response")
        if b"[DONE]" not in buf:
            raise IOError("stream ended without [DONE]")
        if close:
            self.sock.close()
            self.sock = None
        return first - t0, full - t0


def _chunked_complete(body):
    i = 0
    while True:
        j = body.find(b"\r\n", i)
        if j < 0:
            return False
        size = int(body[i:j].split(b";")[0], 16)
        if size == 0:
            return body.endswith(b"\r\n\r\n")
        i = j + 2 + size + 2
        if i > len(body):
            return False


def pct(xs, p):
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--targets-json", required=True)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    targets = json.loads(a.targets_json)
    conns = [Conn(t) for t in targets]
    rnd = random.Random(a.seed)
    for c in conns:
        for _ in range(a.warmup):
            c.once()
    firsts = {t["name"]: [] for t in targets}
    fulls = {t["name"]: [] for t in targets}
    errors = {t["name"]: 0 for t in targets}
    gc.collect()
    gc.disable()
    most = max(t["n"] for t in targets)
    for i in range(most):
        order = [c for c in conns if i < c.t["n"]]
        rnd.shuffle(order)
        for c in order:
            try:
                f, full = c.once()
            except (IOError, OSError, ValueError) as e:
                errors[c.t["name"]] += 1
                if errors[c.t["name"]] <= 3:
                    print(f"ttfe: {c.t['name']}: {e}", file=sys.stderr)
                c.sock = None
                continue
            firsts[c.t["name"]].append(f / 1000.0)
            fulls[c.t["name"]].append(full / 1000.0)
    gc.enable()
    for t in targets:
        n = t["name"]
        xs = firsts[n]
        if not xs:
            print(f"TTFE {n} n=0 errors={errors[n]}")
            continue
        print(
            f"TTFE {n} n={len(xs)} errors={errors[n]} p50={pct(xs, 50):.1f} p90={pct(xs, 90):.1f} "
            f"p99={pct(xs, 99):.1f} mean={statistics.fmean(xs):.1f} full_p50={pct(fulls[n], 50):.1f}"
        )


if __name__ == "__main__":
    main()
