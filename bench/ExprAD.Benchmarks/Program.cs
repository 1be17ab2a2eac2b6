using System.Runtime.CompilerServices;
using BenchmarkDotNet.Running;
using ExprAD.Benchmarks;

// `--first-call` first, before anything else is touched: a fresh process's first AD.Gradient (see CompileCost.Cold).
if (args.Length > 0 && args[0] == "--first-call")
{
    CompileCost.FirstCall();
    return;
}

// Modes that run no BenchmarkDotNet benchmark; anything else goes to BenchmarkDotNet, e.g. `-- --filter '*'` or
// `-- --filter '*Rosenbrock*'`.
var modes = new Dictionary<string, Action<string[]>>
{
    // For every benchmarked function, how ExprAD compiled it (trace lengths, compiler, compile time); checks each ExprAD
    // gradient against its hand-written twin.
    ["--info"] = _ => Info.Print(),
    // FastExpressionCompiler declining large blocks at random (see bench/README.md).
    ["--fec-repro"] = _ => FecRepro.Run(),
    // `--parallel [rounds]`: the logistic gradient sequential vs ParallelLoops with a Stopwatch (interleaved rounds).
    ["--parallel"] = rest => ParallelSpeedup.Run(rest.Length > 0 ? int.Parse(rest[0]) : 100),
    // The tape memory and gradient time of ADOptions.CheckpointInterval on a 1e6-step fold.
    ["--checkpoint"] = _ => CheckpointTrade.Run(),
    // A LINQ-written one-hidden-layer network's gradient against its loss and a hand-written backward pass.
    ["--mlp"] = _ => LinqMlp.Run(),
    // `--compile-cost [hit|big|cold] [...]`: cache hits on new tree instances, compile plus first call of long traces,
    // and the first AD.Gradient of fresh processes (bench/README.md, "Compile cost").
    ["--compile-cost"] = rest => CompileCost.Run(rest),
    // `--mgh-table [seconds] [--fast-math]`: ExprAD's L-BFGS against MathNet's L-BFGS and BFGS on the Moré–Garbow–Hillstrom problems
    // (issue 11; bench/README.md, "Optimisers against MathNet").
    ["--mgh-table"] = rest => MghTable.Run(rest),
    // Evaluation counts only of ExprAD's and MathNet's L-BFGS on the same problems (no timing).
    ["--mgh-evals"] = rest => MghEvaluations.Run(rest.Contains("--fast-math")),
};
if (args.Length > 0 && modes.TryGetValue(args[0], out var mode)) mode(args[1..]);
else RunBenchmarks(args);

// Apart from the top-level code, so that the modes above do not load BenchmarkDotNet.
[MethodImpl(MethodImplOptions.NoInlining)]
static void RunBenchmarks(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
