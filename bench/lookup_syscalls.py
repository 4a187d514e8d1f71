#!/usr/bin/env python3
"""System calls per attribution lookup, from an strace of the proxy.

Usage: bench/lookup_syscalls.py TRACE [N]

TRACE is the output of
    strace -f -tt -e trace=readlinkat,getdents64,pread64,ppoll,sendto,recvfrom,openat,close \
        -o TRACE -p <proxy pid>
taken while clients open connections. A lookup starts with its netlink request (a `sendto` of
SOCK_DIAG_BY_FAMILY); every call of the same thread until its next one is counted to it. Prints
the calls per lookup: reads of `fd` entries (a descriptor number read through a held `fd`
folder) by what they found (the socket sought, another file, a closed number), folder listings
(`getdents64`), and the other calls by name; with N, the first N lookups' reads of `fd` entries
(`!` closed, `*` the last read when it gave a socket: the one found, `?` any other).
"""
import collections
import re
import sys

CALL = re.compile(r"(\d+)\s+\S+\s+(.*)")
RESUMED = re.compile(r"<\.\.\. \w+ resumed>(.*)")
FD_READ = re.compile(
    r'readlinkat\((\d+), "(\d+)",\s+(?:"([^"]*)"|0x[0-9a-f]+), \d+\) = (-?\d+)(?: (\w+))?'
)


def calls(path):
    """(tid, call text) in order, unfinished calls joined with their resumption."""
    pending = {}
    with open(path, encoding="utf-8", errors="replace") as trace:
        for line in trace:
            m = CALL.match(line.rstrip("\n"))
            if not m:
                continue
            tid, rest = m.groups()
            if rest.endswith("<unfinished ...>"):
                pending[tid] = rest[: -len("<unfinished ...>")]
                continue
            resumed = RESUMED.match(rest)
            if resumed:
                rest = pending.pop(tid, "") + resumed.group(1)
            yield tid, rest


def lookups(path):
    current = {}
    found = []
    for tid, call in calls(path):
        if call.startswith("sendto(") and "SOCK_DIAG_BY_FAMILY" in call:
            current[tid] = {"reads": [], "other": collections.Counter()}
            found.append(current[tid])
            continue
        lookup = current.get(tid)
        if lookup is None:
            continue
        m = FD_READ.match(call)
        if m:
            target, ret, errno = m.group(3), m.group(4), m.group(5)
            lookup["reads"].append((int(m.group(2)), errno if ret == "-1" else target))
        else:
            lookup["other"][call.split("(", 1)[0]] += 1
    return found


def main():
    found = lookups(sys.argv[1])
    n = len(found)
    print(f"lookups: {n}")
    if not n:
        return
    reads = [r for lookup in found for r in lookup["reads"]]
    closed = sum(1 for _, r in reads if r == "ENOENT")
    sought = sum(1 for lookup in found if lookup["reads"] and str(lookup["reads"][-1][1]).startswith("socket:"))
    print(f"fd entries read per lookup: {len(reads) / n:.2f} (closed {closed / n:.2f}); "
          f"lookups whose last read found a socket: {sought}")
    other = collections.Counter()
    for lookup in found:
        other.update(lookup["other"])
    print("other calls per lookup: " + ", ".join(f"{k} {v / n:.2f}" for k, v in other.most_common()))
    for lookup in found[: int(sys.argv[2]) if len(sys.argv) > 2 else 0]:
        marks = ["!" if r == "ENOENT" else "?" for _, r in lookup["reads"]]
        if marks and str(lookup["reads"][-1][1]).startswith("socket:"):
            marks[-1] = "*"
        print(" ".join(f"{fd}{mark}" for (fd, _), mark in zip(lookup["reads"], marks)))


if __name__ == "__main__":
    main()
