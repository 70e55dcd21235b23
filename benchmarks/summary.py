"""Print a pytest-benchmark JSON file as a Markdown table: median, GB/s, ratio to the fastest.

    python benchmarks/summary.py results.json
"""
import json
import sys


def main(path: str) -> None:
    with open(path) as handle:
        run = json.load(handle)
    print(f"machine: {run['machine_info'].get('cpu', {}).get('brand_raw', '?')}; date: {run['datetime']}")
    groups: dict[str, list] = {}
    for bench in run["benchmarks"]:
        groups.setdefault(bench["group"] or "", []).append(bench)
    for group, benches in groups.items():
        fastest = min(b["stats"]["median"] for b in benches)
        print(f"\n{group}\n| benchmark | median (ms) | GB/s | x fastest |\n|---|---|---|---|")
        for b in sorted(benches, key=lambda b: b["stats"]["median"]):
            median = b["stats"]["median"]
            nbytes = b.get("extra_info", {}).get("bytes")
            rate = f"{nbytes / median / 1e9:.0f}" if nbytes else ""
            print(f"| {b['name']} | {median * 1e3:.3f} | {rate} | {median / fastest:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1])
