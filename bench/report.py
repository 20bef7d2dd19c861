#!/usr/bin/env python3
"""Helpers for bench/run.sh: parse perfdhcp output; turn the CSV into the markdown table.

  report.py parse FILE STEP_SECONDS                -> one CSV fragment (see FIELDS) from a perfdhcp log
  report.py summarize CSV STORE_CSV META -> the markdown report on stdout

Nothing here edits a number: the table is computed from the CSV the run wrote.
"""
import csv
import re
import sys

FIELDS = [
    "sa_sent", "sa_recv", "sa_drops", "rr_sent", "rr_recv", "rr_drops", "rejected",
    "rate", "sa_min_ms", "sa_avg_ms", "sa_max_ms", "sa_std_ms",
    "rr_min_ms", "rr_avg_ms", "rr_max_ms", "rr_std_ms", "loss_pct",
]


def parse(path, step_seconds):
    text = open(path, encoding="utf-8", errors="replace").read()
    sections = re.split(r"\*\*\*Statistics for: ", text)
    out = dict.fromkeys(FIELDS, "")
    rejected = 0
    for sec in sections[1:]:
        name = sec.split("***", 1)[0].strip()
        key = {"SOLICIT-ADVERTISE": "sa", "REQUEST-REPLY": "rr"}.get(name)
        if key is None:
            continue

        def num(label, default="0"):
            mm = re.search(r"^" + label + r":\s*([0-9.]+)", sec, re.M)
            return mm.group(1) if mm else default

        out[key + "_sent"] = num("sent packets")
        out[key + "_recv"] = num("received packets")
        out[key + "_drops"] = num("drops")
        rejected += int(num("rejected leases"))
        for f, label in (("min", "min delay"), ("avg", "avg delay"), ("max", "max delay"),
                         ("std", "std deviation")):
            v = num(label, "")
            out[f"{key}_{f}_ms"] = v
    for k in ("sa_sent", "sa_recv", "sa_drops", "rr_sent", "rr_recv", "rr_drops"):
        if out[k] == "":
            out[k] = "0"
    out["rejected"] = str(rejected)
    sa_sent = int(out["sa_sent"])
    completed = int(out["rr_recv"]) - rejected
    loss = 100.0 if sa_sent == 0 else max(0.0, 100.0 * (sa_sent - completed) / sa_sent)
    out["loss_pct"] = f"{loss:.3f}"
    # perfdhcp's own "Rate:" divides by the run time including the exit wait (-W); the rate
    # reported here is the successful 4-way exchanges per second of the sending period.
    out["rate"] = f"{max(0, completed) / float(step_seconds):.1f}"
    print(",".join(out[f] for f in FIELDS))


SYSTEMS = [
    ("fo-pair", "failoverd pair (NORMAL, failover on, redb)"),
    ("fo-alone", "failoverd alone (PARTNER-DOWN, redb)"),
    ("kea-alone", "Kea 2.x alone (memfile)"),
    ("kea-ha", "Kea 2.x HA hot-standby (MT, memfile)"),
    ("ceiling", "minimal responder (client-side ceiling)"),
]


def fnum(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "n/a"
    return f"{a / b:.2f}x"


def completed(r):
    return int(r["rr_recv"] or 0) - int(r["rejected"] or 0)


def keeps_up(r):
    """The pair's partner kept up in this step: it acknowledged at least 90% of the updates of
    the step's exchanges and the backlog left when perfdhcp ended is at most 10% of them (so
    it stays bounded: the next step starts after it drained). Other systems have no partner."""
    if r["system"] != "fo-pair":
        return True
    acked, backlog = fnum(r.get("acked")), fnum(r.get("backlog"))
    if acked is None or backlog is None:
        return False
    done = completed(r)
    return done > 0 and acked >= 0.9 * done and backlog <= 0.1 * done


def summarize(csv_path, store_path, meta_path):
    rows = list(csv.DictReader(open(csv_path, encoding="utf-8")))
    meta = {}
    for line in open(meta_path, encoding="utf-8"):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            meta[k] = v
    threshold = float(meta.get("max_loss_pct", "0.1"))
    modes = []
    for r in rows:
        if r["mode"] not in modes:
            modes.append(r["mode"])
    print(f"Run: {meta.get('date', '?')}  ")
    print(f"Machine: {meta.get('machine', '?')}, {meta.get('cores', '?')} cores; "
          f"load average at start {meta.get('load_start', '?')}, at end "
          f"{meta.get('load_end', '?')}  ")
    print(f"Command: `{meta.get('command', '?')}`  ")
    print(f"Tools: {meta.get('versions', '?')}  ")
    print(f"Step length {meta.get('step_seconds', '?')} s; a step passes with "
          f"<= {threshold}% of exchanges lost (Solicits sent minus successful Replies). "
          f"The pair's window (max_unacked_bndupd): {meta.get('fo_window', 'default')}.")
    print()
    for mode in modes:
        best = {}
        sustained = {}
        for sysname, _ in SYSTEMS:
            passing = [r for r in rows if r["mode"] == mode and r["system"] == sysname
                       and fnum(r["loss_pct"]) is not None and fnum(r["loss_pct"]) <= threshold
                       and int(r["rr_recv"] or 0) > 0]
            if passing:
                best[sysname] = max(passing, key=lambda r: fnum(r["rate"]) or 0)
            kept = [r for r in passing if keeps_up(r)]
            if kept:
                sustained[sysname] = max(kept, key=lambda r: fnum(r["rate"]) or 0)
        # The common reference rate: the highest offered rate every system passed.
        offered_sets = []
        for sysname, _ in SYSTEMS:
            s = {int(r["offered"]) for r in rows if r["mode"] == mode and r["system"] == sysname
                 and fnum(r["loss_pct"]) is not None and fnum(r["loss_pct"]) <= threshold}
            if any(r["system"] == sysname and r["mode"] == mode for r in rows):
                offered_sets.append(s)
        common = set.intersection(*offered_sets) if offered_sets else set()
        ref = max(common) if common else None
        print(f"### {mode}")
        print()
        print("| system | max offered rate passing (/s) | 4-way exchanges/s | loss % | "
              "Solicit-Advertise avg / max / sd (ms) | Request-Reply avg / max / sd (ms) | "
              f"Request-Reply avg at {ref if ref else '?'}/s (ms) | "
              "sustained exchanges/s (partner keeping up) | partner acked / exchanges at the max |")
        print("|---|---:|---:|---:|---|---|---:|---:|---:|")
        for sysname, label in SYSTEMS:
            if not any(r["system"] == sysname and r["mode"] == mode for r in rows):
                continue
            b = best.get(sysname)
            at_ref = sorted([r for r in rows if r["mode"] == mode and r["system"] == sysname
                             and ref is not None and int(r["offered"]) == ref],
                            key=lambda r: fnum(r["loss_pct"]) or 0)
            ref_lat = at_ref[0]["rr_avg_ms"] if at_ref else "n/a"
            if b is None:
                print(f"| {label} | none | 0 | - | - | - | {ref_lat} | - | - |")
                continue
            if sysname == "fo-pair":
                k = sustained.get(sysname)
                sus = k["rate"] if k else "0"
                acked = fnum(b.get("acked"))
                share = f"{acked / completed(b):.2f} (backlog {b.get('backlog')})" \
                    if acked is not None and completed(b) > 0 else "n/a"
            else:
                sus, share = b["rate"], "-"
            print(f"| {label} | {b['offered']} | {b['rate']} | {b['loss_pct']} | "
                  f"{b['sa_avg_ms']} / {b['sa_max_ms']} / {b['sa_std_ms']} | "
                  f"{b['rr_avg_ms']} / {b['rr_max_ms']} / {b['rr_std_ms']} | {ref_lat} | "
                  f"{sus} | {share} |")
        print()

        def rate(s):
            return fnum(sustained[s]["rate"]) if s in sustained else None

        p = rate("fo-pair")
        print(f"Ratios (4-way exchanges/s at <= {threshold}% loss; for the pair its sustained "
              "rate, the partner acknowledging >= 90% of the updates with a bounded backlog): "
              f"product/Kea-alone {ratio(p, rate('kea-alone'))} (target >= 1.0x), "
              f"product/Kea-HA {ratio(p, rate('kea-ha'))} (target >= 4x), "
              f"product/failoverd-alone {ratio(p, rate('fo-alone'))} (target >= 0.9x), "
              f"product/ceiling {ratio(p, rate('ceiling'))}.")
        if ref is not None:
            def lat(s):
                rr = sorted([r for r in rows if r["mode"] == mode and r["system"] == s
                             and int(r["offered"]) == ref], key=lambda r: fnum(r["loss_pct"]) or 0)
                return fnum(rr[0]["rr_avg_ms"]) if rr else None
            lp, lk = lat("fo-pair"), lat("kea-alone")
            if lp is not None and lk is not None:
                verdict = "met" if lp <= lk else "missed"
                print(f"Request-Reply avg latency at {ref}/s: pair {lp} ms, Kea alone {lk} ms "
                      f"(target: pair no worse: {verdict}).")
        print()
    checker = meta.get("checker")
    if checker:
        print("### Model checker (failover-check, configuration ci)")
        print()
        print("```")
        print(checker.replace(" | ", "\n"))
        print("```")
        print()
    try:
        srows = list(csv.DictReader(open(store_path, encoding="utf-8")))
    except FileNotFoundError:
        srows = []
    if srows:
        print("### failoverd holding N leases (restart from the redb store)")
        print()
        print("| leases | store file (MiB) | populate (s) | restart until serving control (s) "
              "| RSS after restart (MiB) | peak RSS (MiB) |")
        print("|---:|---:|---:|---:|---:|---:|")
        for r in srows:
            print(f"| {r['leases']} | {r['store_mib']} | {r['populate_s']} | {r['restart_s']} "
                  f"| {r['rss_mib']} | {r['hwm_mib']} |")
        print()
        big = [r for r in srows if int(r["leases"]) >= 1_000_000]
        if big:
            r = big[-1]
            rss = fnum(r["hwm_mib"])
            rs = fnum(r["restart_s"])
            print(f"Targets for 1M leases: peak RSS {r['hwm_mib']} MiB < 1024 MiB: "
                  f"{'met' if rss is not None and rss < 1024 else 'missed'}; restart "
                  f"{r['restart_s']} s < 10 s: {'met' if rs is not None and rs < 10 else 'missed'}.")
            print()


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "parse":
        parse(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 5 and sys.argv[1] == "summarize":
        summarize(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
