#!/usr/bin/env python3
"""Runs the ExprAD GradBench tool over every input of the given modules in ../shared/benchdata/gradbench
and prints the markdown table of bench/README.md: problem, size, function, ExprAD fastest run (ns), the C++
reference (reference_timings_ns.csv), their ratio, and ExprAD's derivative / objective ratio.

Usage (from the repository root, after `dotnet build -c Release`):
    python3 bench/scripts/gradbench_table.py [--runs 3] [--seconds 0.3] [--processes 1] [--cases 32_25_1000 ...] gmm lstm ba ode lse llsq ht_simple ht_complicated kmeans det
"""
import argparse, csv, json, os, subprocess, sys

FUNCTIONS = {"gmm": ("objective", "jacobian"), "lstm": ("objective", "jacobian"), "ba": ("objective", "jacobian"),
             "ode": ("primal", "gradient"), "lse": ("primal", "gradient"), "llsq": ("primal", "gradient"),
             "ht_simple": ("objective", "jacobian"), "ht_complicated": ("objective", "jacobian"),
             "kmeans": ("cost", "dir"), "det": ("primal", "gradient")}

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("modules", nargs="+")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.3)
    parser.add_argument("--processes", type=int, default=1, help="run the tool this many times and keep each fastest run")
    parser.add_argument("--cases", nargs="*", help="only these inputs (names without .input.json)")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    data = os.path.join(os.path.dirname(root), "shared", "benchdata", "gradbench")
    print("| problem | size | function | ExprAD (min ns) | C++ reference (min ns) | ratio | ExprAD derivative / objective |")
    print("|---|---|---|---:|---:|---:|---:|")
    for module in args.modules:
        reference = {}
        with open(os.path.join(data, module, "reference_timings_ns.csv")) as f:
            for row in csv.DictReader(f):
                reference[(row["description"], row["function"])] = int(row["min_ns"])
        cases = sorted(n[: -len(".input.json")] for n in os.listdir(os.path.join(data, module)) if n.endswith(".input.json"))
        cases = [c for c in cases if not args.cases or c in args.cases]
        messages = [{"id": 0, "kind": "start", "eval": module}, {"id": 1, "kind": "define", "module": module}]
        for case in cases:
            with open(os.path.join(data, module, case + ".input.json")) as f:
                payload = json.load(f)
            payload["min_runs"], payload["min_seconds"] = args.runs, args.seconds
            for function in FUNCTIONS[module]:
                messages.append({"id": len(messages), "kind": "evaluate", "module": module, "function": function,
                                 "input": payload, "description": case})
        # The same build measures up to 2x apart in different processes on a shared VM: with --processes, each
        # message keeps its fastest run over all the processes.
        for _ in range(args.processes):
            tool = subprocess.run(["dotnet", "run", "--project", os.path.join(root, "bench", "ExprAD.GradBench"), "-c", "Release", "--no-build"],
                                  input="\n".join(json.dumps(m) for m in messages) + "\n", capture_output=True, text=True)
            replies = {r["id"]: r for r in (json.loads(line) for line in tool.stdout.splitlines() if line.strip())}
            for message in messages[2:]:
                reply = replies.get(message["id"], {})
                if not reply.get("success"):
                    message["error"] = reply.get("error", tool.stderr[-200:])
                    continue
                best = min(t["nanoseconds"] for t in reply["timings"] if t["name"] == "evaluate")
                message["best"] = min(best, message.get("best", best))
        for message in messages[2:]:
            if "best" not in message:
                print(f"| {module} | {message['description']} | {message['function']} | failed: {message.get('error')} | | | |")
        for i in range(2, len(messages), 2):
            primal, derivative = messages[i], messages[i + 1]
            for m in (primal, derivative):
                if "best" not in m: continue
                ref = reference.get((m["description"], m["function"]))
                ratio = f"{m['best'] / ref:.2f}" if ref else ""
                over = f"{derivative['best'] / primal['best']:.2f}" if m is derivative and "best" in primal else ""
                print(f"| {module} | {m['description']} | {m['function']} | {m['best']:,} | {f'{ref:,}' if ref else ''} | {ratio} | {over} |")
        sys.stdout.flush()

if __name__ == "__main__":
    main()
