#!/usr/bin/env python3
"""CPU per unit of work for bench/floor: who spends what, and what that bounds.

`measure`: runs a client command and reads, before and after it, the user and system CPU of
named process trees (each PID and every descendant, from /proc/PID/stat fields 14 and 15), of
the kernel's softirq threads (`ksoftirqd/N`, where loopback packets end up when the sender does
not deliver them itself), and of the whole machine (/proc/stat); the client's own CPU is its
rusage from wait4 (its threads and every child it waited for). Appends one JSON line.

`report`: reads those lines and prints, per workload, the CPU per unit of each process, and the
bound that CPU sets when the run is CPU-bound on the machine's cores:
rate <= cores / (client + nginx + proxy + softirq CPU per unit), and, because curl and one
nginx worker are single-threaded, rate <= 1 / (the largest single-threaded share per unit).
"""

import json
import os
import subprocess
import sys
import time

HZ = os.sysconf("SC_CLK_TCK")


def stat_fields(pid):
    """(ppid, utime ticks, stime ticks, comm) of a live process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    rest = text[text.rindex(")") + 2 :].split()
    return int(rest[1]), int(rest[11]), int(rest[12]), comm


def all_processes():
    out = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = stat_fields(int(name))
            if fields:
                out[int(name)] = fields
    return out


def tree_cpu(root, procs):
    """(user s, system s) of root and all its descendants."""
    children = {}
    for pid, (ppid, _, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    user = system = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in procs:
            user += procs[pid][1]
            system += procs[pid][2]
        todo.extend(children.get(pid, []))
    return user / HZ, system / HZ


def softirq_cpu(procs):
    ticks = sum(u + s for (_, u, s, comm) in procs.values() if comm.startswith("ksoftirqd/"))
    return ticks / HZ


def machine_busy():
    """Busy CPU seconds of the whole machine (all but idle and iowait)."""
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    return (sum(cpu[:8]) - cpu[3] - cpu[4]) / HZ


def snapshot(pids):
    procs = all_processes()
    return {name: tree_cpu(pid, procs) for name, pid in pids.items()}, softirq_cpu(procs)


def measure(argv):
    opts = {"pid": {}}
    while argv and argv[0] != "--":
        key, value = argv[0], argv[1]
        argv = argv[2:]
        if key == "--pid":
            name, pid = value.split("=", 1)
            opts["pid"][name] = int(pid)
        else:
            opts[key.lstrip("-")] = value
    command = argv[1:]
    before, soft0 = snapshot(opts["pid"])
    busy0 = machine_busy()
    t0 = time.monotonic()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - t0
    busy1 = machine_busy()
    after, soft1 = snapshot(opts["pid"])
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"floor_cpu: {' '.join(command)} exited with {status}")
    line = {
        "workload": opts["workload"],
        "mode": opts["mode"],
        "unit": opts["unit"],
        "units": float(opts["units"]),
        "wall": wall,
        "cores": os.cpu_count(),
        "client": [usage.ru_utime, usage.ru_stime],
        "softirq": soft1 - soft0,
        "machine": busy1 - busy0,
        "load": os.getloadavg()[0],
    }
    for name in opts["pid"]:
        line[name] = [after[name][0] - before[name][0], after[name][1] - before[name][1]]
    with open(opts["out"], "a") as f:
        f.write(json.dumps(line) + "\n")


def per_unit(run, name):
    user, system = run.get(name, [0.0, 0.0])
    return user / run["units"], system / run["units"]


def fmt(v, scale):
    return f"{v * scale:.{1 if scale > 1 else 3}f}"


def least_proxy_system(runs, unit):
    """The least median system CPU per unit of phonehome among the workloads of this unit: the
    kernel's cost of moving those bytes through two sockets, without what one protocol adds."""
    least = None
    for workload in dict.fromkeys(r["workload"] for r in runs if r["unit"] == unit):
        sys_times = [per_unit(r, "proxy")[1] for r in runs
                     if r["workload"] == workload and r["mode"] == "phonehome"]
        if sys_times:
            m = median(sys_times)
            least = m if least is None else min(least, m)
    return least


def report(path, direct_goal, mitm_goal, tls_floor):
    runs = [json.loads(line) for line in open(path)]
    for workload in dict.fromkeys(r["workload"] for r in runs):
        rows = [r for r in runs if r["workload"] == workload]
        unit = rows[0]["unit"]
        scale, shown = (1e6, "µs per request") if unit == "request" else (1.0, "s per GiB")
        rate_unit = "req/s" if unit == "request" else "GiB/s"
        cores = rows[0]["cores"]
        print(f"\n### {workload}: CPU {shown} (user + system), {cores} cores\n")
        print(f"| mode | {rate_unit} | client u+s | nginx u+s | proxy u+s | softirq | sum | machine busy | busy cores | others | bound: cores ÷ sum | bound: one thread |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        summary = {}
        for r in rows:
            cu, cs = per_unit(r, "client")
            nu, ns = per_unit(r, "nginx")
            pu, ps = per_unit(r, "proxy")
            soft = r["softirq"] / r["units"]
            total = cu + cs + nu + ns + pu + ps + soft
            busy = r["machine"] / r["units"]
            rate = r["units"] / r["wall"]
            bound_cores = cores / total
            # curl and one nginx worker run on one thread each (hey and the proxies do not).
            single = [nu + ns] + ([cu + cs] if unit == "GiB" else [])
            bound_thread = 1 / max(single)
            print(
                f"| {r['mode']} | {rate:,.{0 if unit == 'request' else 2}f} "
                f"| {fmt(cu, scale)} + {fmt(cs, scale)} | {fmt(nu, scale)} + {fmt(ns, scale)} "
                f"| {fmt(pu, scale)} + {fmt(ps, scale)} | {fmt(soft, scale)} | {fmt(total, scale)} "
                f"| {fmt(busy, scale)} | {r['machine'] / r['wall']:.2f} | {fmt(busy - total, scale)} "
                f"| {bound_cores:,.{0 if unit == 'request' else 2}f} | {bound_thread:,.{0 if unit == 'request' else 2}f} |"
            )
            summary.setdefault(r["mode"], []).append(
                {"rate": rate, "others": cu + cs + nu + ns + soft, "proxy": pu + ps,
                 "proxy_sys": ps, "bound": min(bound_cores, bound_thread)}
            )
        floor = None
        if unit in tls_floor:
            floor = (least_proxy_system(runs, unit), tls_floor[unit])
        if unit == "request":
            print_goals(summary, unit, scale, cores, None, mitm_goal, floor)
        else:
            print_goals(summary, unit, scale, cores, direct_goal, None, floor)


def median(values):
    values = sorted(values)
    return values[len(values) // 2]


def print_goals(summary, unit, scale, cores, direct_goal, mitm_goal, tls_floor):
    shown = "µs" if unit == "request" else "s/GiB"
    direct = median([r["rate"] for r in summary.get("direct", [])]) if "direct" in summary else None
    mitm = median([r["rate"] for r in summary.get("mitmdump", [])]) if "mitmdump" in summary else None
    ph = summary.get("phonehome")
    if not ph:
        return
    others = median([r["others"] for r in ph])
    proxy = median([r["proxy"] for r in ph])
    bound = median([r["bound"] for r in ph])
    rate = median([r["rate"] for r in ph])
    floor_bound = None
    print()
    if tls_floor is not None:
        kernel, tls = tls_floor
        floor = kernel + tls
        floor_bound = cores / (others + floor)
        print(f"- a proxy doing nothing but the kernel's part (phonehome's least system CPU among these workloads, "
              f"{fmt(kernel, scale)} {shown}) and rustls's buffered seal and open ({fmt(tls, scale)} {shown}, "
              f"examples/tls_floor): {fmt(floor, scale)} {shown}, bound {floor_bound:,.2f}")
    print(f"- phonehome (medians): {rate:,.2f} measured, bound {bound:,.2f} at {fmt(proxy, scale)} {shown} proxy CPU, "
          f"{fmt(others, scale)} {shown} for client + nginx + softirq")
    for name, anchor, goal in (("direct", direct, direct_goal), ("mitmdump", mitm, mitm_goal)):
        if anchor is None:
            continue
        at_floor = "" if floor_bound is None else f", at the floor {floor_bound / anchor:.2f}×"
        if goal is None:
            print(f"- ÷ {name} ({anchor:,.2f}): measured {rate / anchor:.2f}×, bound {bound / anchor:.2f}×{at_floor}")
            continue
        need_rate = goal * anchor
        need_proxy = cores / need_rate - others
        print(f"- ÷ {name} ({anchor:,.2f}): measured {rate / anchor:.2f}×, bound {bound / anchor:.2f}×{at_floor}; "
              f"{goal}× needs {need_rate:,.2f}, i.e. proxy CPU ≤ {fmt(need_proxy, scale)} {shown} "
              f"(client, nginx and softirq as measured through the proxy)"
              + ("" if need_proxy > 0 else ": impossible, the others alone exceed it"))


def tls_floor(path):
    """The buffered connection's figures from examples/tls_floor's output: per GiB, per request."""
    out = {}
    for line in open(path):
        if line.startswith("buffered connection,") and line.rstrip().endswith("s/GiB"):
            out["GiB"] = float(line.split()[-2])
        elif line.startswith("buffered connection, one exchange"):
            out["request"] = float(line.split()[-2]) * 1e-6
    return out


def main():
    if len(sys.argv) < 2 or sys.argv[1] not in ("measure", "report"):
        sys.exit("usage: floor_cpu.py measure --out F --workload W --mode M --unit U --units N "
                 "[--pid NAME=PID]... -- COMMAND... | floor_cpu.py report F DIRECT_GOAL MITM_GOAL "
                 "[TLS_FLOOR_OUTPUT]")
    if sys.argv[1] == "measure":
        measure(sys.argv[2:])
    else:
        report(sys.argv[2], float(sys.argv[3]), float(sys.argv[4]),
               tls_floor(sys.argv[5]) if len(sys.argv) > 5 else {})


if __name__ == "__main__":
    main()
