using System.Diagnostics;
using System.Text.Json.Nodes;

namespace ExprAD.GradBench;

/// <summary>
/// The protocol: answers each message of the suite with the same id. Modules are compiled once per
/// module and shape (the compile time is reported as a timing of its own); each evaluation runs
/// the function at least <c>min_runs</c> times and until <c>min_seconds</c> have passed, timing
/// the function alone (no JSON work).
/// </summary>
public sealed class Tool
{
    private readonly Dictionary<string, Module> _modules = Modules.All.ToDictionary(m => m.Name);

    /// <summary>Handles one message and returns the one-line answer.</summary>
    public string Handle(string line)
    {
        var message = JsonNode.Parse(line)!.AsObject();
        var id = message["id"]!.DeepClone();
        var reply = new JsonObject { ["id"] = id };
        switch ((string?)message["kind"])
        {
            case "start":
                reply["tool"] = "exprad";
                break;
            case "define":
                var name = (string)message["module"]!;
                reply["success"] = _modules.ContainsKey(name);
                if (!_modules.ContainsKey(name)) reply["error"] = $"ExprAD has no module {name}";
                break;
            case "evaluate":
                Evaluate(message, reply);
                break;
        }
        return reply.ToJsonString();
    }

    private void Evaluate(JsonObject message, JsonObject reply)
    {
        try
        {
            var module = _modules[(string)message["module"]!];
            var function = (string)message["function"]!;
            var input = message["input"]!;
            int minRuns = input is JsonObject withRuns ? (int?)withRuns["min_runs"] ?? 1 : 1;
            double minSeconds = input is JsonObject withSeconds ? (double?)withSeconds["min_seconds"] ?? 0 : 0;

            CompileClock.TakeNanoseconds();
            var clock = Stopwatch.StartNew();
            var run = module.Prepare(function, input);
            long prepare = (long)(clock.Elapsed.TotalMilliseconds * 1e6);
            // compile: getting the ExprAD delegates (a cache hit for a shape seen before); prepare: all of the set-up, input reading included.
            var timings = new JsonArray
            {
                new JsonObject { ["name"] = "compile", ["nanoseconds"] = CompileClock.TakeNanoseconds() },
                new JsonObject { ["name"] = "prepare", ["nanoseconds"] = prepare },
            };
            var total = Stopwatch.StartNew();
            for (int runs = 0; runs < minRuns || total.Elapsed.TotalSeconds < minSeconds; runs++)
            {
                long start = Stopwatch.GetTimestamp();
                run.Run();
                long ns = (long)((Stopwatch.GetTimestamp() - start) * (1e9 / Stopwatch.Frequency));
                timings.Add(new JsonObject { ["name"] = "evaluate", ["nanoseconds"] = ns });
            }
            reply["success"] = true;
            reply["output"] = run.Output();
            reply["timings"] = timings;
        }
        catch (Exception e) when (e is NotSupportedException or ArgumentException or KeyNotFoundException or InvalidOperationException)
        {
            // Reported to the suite as a failed evaluation, with the reason.
            reply["success"] = false;
            reply["error"] = e.Message;
        }
    }
}

/// <summary>A prepared evaluation: <see cref="Run"/> computes (timed), <see cref="Output"/> converts the last result to JSON (not timed).</summary>
public sealed record Evaluation(Action Run, Func<JsonNode> Output);

/// <summary>A GradBench module: its name and how to prepare each of its functions for an input.</summary>
public sealed record Module(string Name, Func<string, JsonNode, Evaluation> Prepare);
