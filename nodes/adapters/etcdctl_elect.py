#!/usr/bin/env python3
"""etcdctl-elect: the real `etcdctl elect NAME PROPOSAL` as a splitbrain node.

A thin adapter (docs/etcd.md, docs/node-protocol.md). It runs
`etcdctl -w json elect NAME ID` as a child in the adapter's own process
group (so splitbrain's kill and pause, sent to that group, reach etcdctl too) and speaks the node protocol on
stdout:

- When etcdctl prints the leader key (it does once its campaign won), the
  adapter reports `leader` with term = that key's create_revision (a fencing
  token; etcdctl's JSON writes 64-bit ids as JSON numbers, which Python reads
  exactly).
- While it does not lead, it polls the election with
  `etcdctl get NAME/ --prefix --sort-by=CREATE --order=ASCEND --limit=1` (the
  oldest key leads, as etcd's election API defines it) and reports
  `follower`, term = the leader key's create_revision, leader = its value.
  Answers older than the highest term it reported are dropped; that term is
  kept in the data directory, so terms never go back across restarts.
- When etcdctl exits (its session lease expired: `elect: session expired`,
  or it could not reach etcd), a leader reports `follower` at once and the
  campaign starts again.
- After a SIGCONT (splitbrain resumed it), a leader checks that its key is
  still there before it says `leader` again; if the key is gone it steps
  down. A resumed process has not re-asserted anything until it speaks.
- SIGTERM: a leader reports `follower`, then etcdctl resigns (SIGTERM makes
  it delete its key), and the adapter exits.

`etcdctl elect` has no TTL option: its session lease is etcd's client
default, 60 s. A killed or cut-off leader's key therefore stays up to 60 s.
"""

import argparse
import base64
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

TERM_FILE = "etcdctl-elect-term"


def log(msg):
    print(f"etcdctl-elect {ARGS.id}: {msg}", file=sys.stderr, flush=True)


def emit(obj):
    try:
        sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # The controller is gone: nothing left to report to.
        os._exit(0)


def etcdctl(*args):
    return [
        ARGS.etcdctl,
        f"--endpoints={ARGS.endpoints}",
        "--dial-timeout=1s",
        f"--command-timeout={ARGS.request_timeout}ms",
        "-w",
        "json",
        *args,
    ]


def get_json(args):
    """Runs one etcdctl read; its JSON answer, or None when it failed."""
    try:
        out = subprocess.run(
            etcdctl(*args),
            capture_output=True,
            text=True,
            timeout=ARGS.request_timeout / 1000 + 2,
        )
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        log(f"etcdctl {' '.join(args)}: {out.stderr.strip()[:200]}")
        return None
    try:
        return json.loads(out.stdout)
    except ValueError:
        log(f"etcdctl {' '.join(args)}: not JSON: {out.stdout[:200]!r}")
        return None


def leader_key(answer):
    """(create_revision, key, value) of the first kv of a get answer, or None."""
    kvs = answer.get("kvs") or []
    if not kvs:
        return None
    kv = kvs[0]
    return (
        int(kv["create_revision"]),
        base64.b64decode(kv.get("key", "")).decode(errors="replace"),
        base64.b64decode(kv.get("value", "")).decode(errors="replace"),
    )


class Adapter:
    def __init__(self):
        self.events = queue.Queue()
        self.term_path = os.path.join(ARGS.data_dir, TERM_FILE) if ARGS.data_dir else None
        self.highest = self.read_term()
        self.reported = None
        self.campaign = None
        self.leading = None  # (term, key) while it leads
        self.next_campaign = 0.0
        self.next_poll = 0.0
        self.poll_in_flight = False
        self.resumed = False
        self.stopping = False

    # -- terms -------------------------------------------------------------
    def read_term(self):
        if not self.term_path:
            return 0
        try:
            with open(self.term_path) as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
            return 0

    def report(self, role, term, leader, again=False):
        state = (role, term, leader)
        if state == self.reported and not again:
            return
        if term > self.highest:
            self.highest = term
            if self.term_path:
                tmp = self.term_path + ".tmp"
                with open(tmp, "w") as f:
                    f.write(f"{term}\n")
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, self.term_path)
        self.reported = state
        emit({"type": "state", "role": role, "term": term, "leader": leader})

    # -- the campaign (etcdctl elect) ----------------------------------------
    def start_campaign(self):
        self.campaign = subprocess.Popen(
            etcdctl("elect", ARGS.election, ARGS.id),
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        proc = self.campaign

        def read():
            for line in proc.stdout:
                self.events.put(("elected", proc, line))
            proc.wait()
            self.events.put(("campaign-exit", proc, proc.returncode))

        threading.Thread(target=read, daemon=True).start()

    def on_elected(self, proc, line):
        if proc is not self.campaign or self.stopping:
            return
        try:
            found = leader_key(json.loads(line))
        except (ValueError, KeyError, TypeError):
            log(f"unreadable etcdctl elect output: {line.strip()[:200]!r}")
            return
        if found is None:
            return
        term, key, value = found
        if value != ARGS.id:
            log(f"etcdctl elect printed someone else's key {key} ({value})")
            return
        self.leading = (term, key)
        self.report("leader", term, ARGS.id)

    def on_campaign_exit(self, proc, code):
        if proc is not self.campaign:
            return
        self.campaign = None
        if self.leading is not None:
            term = self.leading[0]
            self.leading = None
            self.report("follower", term, None)
        if not self.stopping:
            log(f"etcdctl elect exited ({code}); campaigning again")
            self.next_campaign = time.monotonic() + ARGS.retry_interval / 1000

    def step_down(self, why):
        """Report follower first, then make etcdctl resign (SIGTERM)."""
        if self.leading is not None:
            log(f"stepping down: {why}")
            term = self.leading[0]
            self.leading = None
            self.report("follower", term, None)
        if self.campaign is not None and self.campaign.poll() is None:
            self.campaign.terminate()

    # -- observation -------------------------------------------------------
    def poll(self, check_own_key=None):
        self.poll_in_flight = True

        def run():
            if check_own_key is not None:
                answer = get_json(["get", check_own_key])
                self.events.put(("own-key", check_own_key, answer))
            else:
                answer = get_json(
                    [
                        "get",
                        ARGS.election + "/",
                        "--prefix",
                        "--sort-by=CREATE",
                        "--order=ASCEND",
                        "--limit=1",
                    ]
                )
                self.events.put(("observed", None, answer))

        threading.Thread(target=run, daemon=True).start()

    def on_observed(self, answer):
        self.poll_in_flight = False
        self.next_poll = time.monotonic() + ARGS.poll_interval / 1000
        if answer is None or self.leading is not None:
            return
        found = leader_key(answer)
        if found is None:
            if self.reported is not None and self.reported[2] is not None:
                self.report("follower", self.highest, None)
            return
        term, _key, value = found
        if term < self.highest or value == ARGS.id:
            # Stale, or our own key about to win: etcdctl will say so.
            return
        self.report("follower", term, value)

    def on_own_key(self, key, answer):
        self.poll_in_flight = False
        if self.leading is None or self.leading[1] != key:
            return
        if answer is None:
            # Cannot tell: stay silent (no re-assertion) and ask again.
            self.resumed = True
            return
        found = leader_key(answer)
        if found is not None and found[0] == self.leading[0]:
            self.report("leader", self.leading[0], ARGS.id, again=True)
        else:
            self.step_down("after the resume, its key is gone")

    # -- the loop ----------------------------------------------------------
    def run(self):
        emit({"type": "ready"})
        while True:
            now = time.monotonic()
            if self.stopping:
                self.step_down("stopping")
                if self.campaign is not None:
                    try:
                        self.campaign.wait(timeout=2)
                    except subprocess.TimeoutExpired:
                        self.campaign.kill()
                return
            if self.campaign is None and now >= self.next_campaign:
                self.start_campaign()
            if self.resumed and not self.poll_in_flight:
                self.resumed = False
                if self.leading is not None:
                    self.poll(check_own_key=self.leading[1])
                elif self.reported is not None:
                    self.report(*self.reported, again=True)
            if self.leading is None and not self.poll_in_flight and now >= self.next_poll:
                self.poll()
            try:
                kind, who, data = self.events.get(timeout=0.05)
            except queue.Empty:
                continue
            if kind == "elected":
                self.on_elected(who, data)
            elif kind == "campaign-exit":
                self.on_campaign_exit(who, data)
            elif kind == "observed":
                self.on_observed(data)
            elif kind == "own-key":
                self.on_own_key(who, data)


def main():
    global ARGS
    parser = argparse.ArgumentParser(prog="splitbrain node etcdctl-elect", description=__doc__.split("\n")[0])
    parser.add_argument("--id", default=os.environ.get("SPLITBRAIN_ID"), help="node id, also the proposal")
    parser.add_argument("--endpoints", required=True, help="etcd client host:port list, comma-separated")
    parser.add_argument("--election", default="splitbrain", help="election name")
    parser.add_argument("--data-dir", default=os.environ.get("SPLITBRAIN_DATA_DIR"), help="where the highest term is kept")
    parser.add_argument("--poll-interval", type=int, default=250, help="ms between a non-leader's leader polls")
    parser.add_argument("--request-timeout", type=int, default=1000, help="ms an etcdctl read may take")
    parser.add_argument("--retry-interval", type=int, default=500, help="ms before a campaign starts again")
    parser.add_argument("--etcdctl", default="etcdctl", help="the etcdctl program")
    ARGS = parser.parse_args()
    if not ARGS.id:
        parser.error("--id (or SPLITBRAIN_ID) is required")
    if ARGS.poll_interval < 1 or ARGS.request_timeout < 1:
        parser.error("--poll-interval and --request-timeout must be at least 1 ms")
    if shutil.which(ARGS.etcdctl) is None:
        print(
            f"etcdctl-elect: {ARGS.etcdctl} not found on PATH; it comes with the Debian "
            "package etcd-client (apt-get install etcd-client)",
            file=sys.stderr,
        )
        sys.exit(2)
    adapter = Adapter()

    def on_cont(_sig, _frame):
        adapter.resumed = True

    def on_term(_sig, _frame):
        adapter.stopping = True

    signal.signal(signal.SIGCONT, on_cont)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    adapter.run()


ARGS = None

if __name__ == "__main__":
    main()
