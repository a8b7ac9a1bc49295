#!/usr/bin/env python3
"""Where a process's resident memory goes: /proc/PID/smaps summed per mapped
file (libraries, the binary) and for anonymous memory (heap, stacks, other
anonymous maps). Prints one line per object, largest RSS first, in KB:
Rss, Pss, Private_Dirty, Shared_Clean, and a total. Usage: rss-breakdown.py PID"""
import collections
import os
import sys


def main():
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: rss-breakdown.py PID")
    pid = sys.argv[1]
    keys = ("Rss", "Pss", "Private_Dirty", "Shared_Clean")
    acc = collections.defaultdict(lambda: dict.fromkeys(keys, 0))
    name = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                path = parts[5] if len(parts) >= 6 else "[anon]"
                name = os.path.basename(path) if path.startswith("/") else path
                continue
            k = parts[0].rstrip(":")
            if k in keys and name is not None:
                acc[name][k] += int(parts[1])
    rows = sorted(acc.items(), key=lambda kv: -kv[1]["Rss"])
    print(f"{'object':40} {'Rss':>7} {'Pss':>7} {'PrivDirty':>9} {'ShClean':>7}")
    tot = dict.fromkeys(keys, 0)
    for n, v in rows:
        for k in keys:
            tot[k] += v[k]
        if v["Rss"]:
            print(f"{n:40} {v['Rss']:7} {v['Pss']:7} {v['Private_Dirty']:9} {v['Shared_Clean']:7}")
    print(f"{'TOTAL':40} {tot['Rss']:7} {tot['Pss']:7} {tot['Private_Dirty']:9} {tot['Shared_Clean']:7}")
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "RssAnon", "RssFile")):
                print(line.rstrip())


if __name__ == "__main__":
    main()
