using BenchmarkDotNet.Running;
using ExprAD.Benchmarks;

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
};
if (args.Length > 0 && modes.TryGetValue(args[0], out var mode)) mode(args[1..]);
else BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
