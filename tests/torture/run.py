#!/usr/bin/env python3
"""The torture suite (docs/reliability.md, docs/testing.md): crashes, a full disk, floods and
throttling against the real daemon. One line per check, then "torture: N passed, M failed";
exit status 1 when any check failed.

    tests/torture/run.py [--profile short|full] [--only kill,disk,flood,throttle] [--seed N]

short (in `make test`): 5 kill cycles, the disk filled once, a 1,000-connection flood, the
throttle check. full (`make torture`): 30 kill cycles, a 10,000-connection flood.

Binaries: IOTHUBD (default build-asan/iothubd) for every check but the flood, whose memory
bound is for the release build: FLOOD_IOTHUBD (default build/iothubd when it exists, else
IOTHUBD); IOTHUB_BENCH (default: iothub-bench beside FLOOD_IOTHUBD). Needs root: the suite
re-runs itself in private network and mount namespaces (unshare -n -m), so the hub takes the
standard ports and the small filesystem of the disk check is seen by nothing else."""
import argparse
import os
import random
import resource
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
INSIDE = "IOTHUB_TORTURE_INSIDE"

PROFILES = {
    "short": {"kill_cycles": 5, "flood_connections": 1000, "flood_seconds": 8,
              "watchdog_s": 900},
    "full": {"kill_cycles": 30, "flood_connections": 10000, "flood_seconds": 20,
             "watchdog_s": 3600},
}


def default_binaries():
    env = os.environ
    iothubd = env.get("IOTHUBD") or os.path.join(TOP, "build-asan", "iothubd")
    release = os.path.join(TOP, "build", "iothubd")
    flood = env.get("FLOOD_IOTHUBD") or (release if os.path.exists(release) else iothubd)
    bench = env.get("IOTHUB_BENCH") or os.path.join(os.path.dirname(flood), "iothub-bench")
    env["IOTHUBD"] = os.path.abspath(iothubd)
    env["FLOOD_IOTHUBD"] = os.path.abspath(flood)
    env["IOTHUB_BENCH"] = os.path.abspath(bench)
    env.setdefault("IOTHUB", os.path.join(os.path.dirname(env["IOTHUBD"]), "iothub"))
    # Sanitizer builds: abort on the first report (the harness scans the daemon's log).
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")


def reexec_in_namespaces():
    """Private network namespace (loopback only) and private mount namespace."""
    if os.geteuid() != 0:
        print("torture: must run as root (it creates network and mount namespaces)",
              file=sys.stderr)
        print("torture: 0 passed, 1 failed")
        sys.exit(1)
    env = dict(os.environ, **{INSIDE: "1"})
    cmd = ["unshare", "-n", "-m", "--propagation", "private", "sh", "-c",
           'ip link set lo up && exec "$@"', "torture", sys.executable, *sys.argv]
    os.execvpe("unshare", cmd, env)


def raise_nofile():
    """Room for 10,000 connections on each side (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 1 << 17
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def descendants(root):
    """Every process below root (hubs, consumers, load tools), from /proc."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="short")
    ap.add_argument("--only", default="kill,disk,flood,throttle",
                    help="comma-separated subset of kill, disk, flood, throttle")
    ap.add_argument("--seed", type=int, default=None, help="for the random kill moments")
    ap.add_argument("--watchdog", type=int, default=None,
                    help="seconds before everything is killed and the suite fails "
                         "(default 900 short, 3600 full)")
    args = ap.parse_args()
    if os.environ.get(INSIDE) != "1":
        default_binaries()
        reexec_in_namespaces()
    os.chdir(TOP)
    raise_nofile()
    sys.path.insert(0, HERE)
    from common import Board  # noqa: E402 - after sys.path

    prof = PROFILES[args.profile]
    seed = args.seed if args.seed is not None else int(time.time())
    only = set(args.only.split(","))
    unknown = only - {"kill", "disk", "flood", "throttle"}
    if unknown:
        ap.error(f"--only: unknown checks {sorted(unknown)}")
    for name in ("IOTHUBD", "FLOOD_IOTHUBD", "IOTHUB_BENCH"):
        if not os.access(os.environ[name], os.X_OK):
            print(f"torture: {name}={os.environ[name]} is not an executable; build first "
                  f"(make build build-asan)", file=sys.stderr)
            print("torture: 0 passed, 1 failed")
            return 1
    print(f"torture: profile {args.profile}, seed {seed}, iothubd {os.environ['IOTHUBD']}, "
          f"flood iothubd {os.environ['FLOOD_IOTHUBD']}", flush=True)
    board = Board()
    t0 = time.monotonic()

    def watchdog(_sig, _frame):
        board.report("watchdog", False, f"the suite ran longer than {prof['watchdog_s']} s; "
                                        f"everything it started is killed")
        print(f"torture: {board.passed} passed, {board.failed} failed", flush=True)
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        os._exit(1)

    signal.signal(signal.SIGALRM, watchdog)
    if args.watchdog:
        prof["watchdog_s"] = args.watchdog
    signal.alarm(prof["watchdog_s"])
    suites = []
    if "kill" in only:
        from kill_cycles import KillCycles
        suites.append(("kill", lambda: KillCycles(board, random.Random(seed),
                                                  prof["kill_cycles"]).run()))
    if "disk" in only:
        from disk_full import DiskFull
        suites.append(("disk", lambda: DiskFull(board).run()))
    if "throttle" in only:
        from throttling import Throttling
        suites.append(("throttle", lambda: Throttling(board).run()))
    if "flood" in only:
        from flood import Flood
        suites.append(("flood", lambda: Flood(board, prof["flood_connections"],
                                              prof["flood_seconds"]).run()))
    for name, suite in suites:
        try:
            suite()
        except Exception as e:  # noqa: BLE001 - a suite that breaks is a failed check
            board.report(name, False, f"the suite broke: {type(e).__name__}: {e}")
    print(f"torture: {args.profile} profile took {time.monotonic() - t0:.0f} s", flush=True)
    print(f"torture: {board.passed} passed, {board.failed} failed", flush=True)
    return 0 if board.failed == 0 and board.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
