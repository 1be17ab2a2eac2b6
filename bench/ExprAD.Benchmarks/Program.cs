using BenchmarkDotNet.Running;
using ExprAD.Benchmarks;

// `--info` prints, for every benchmarked function, how ExprAD compiled it (trace lengths,
// compiler, compile time) and checks each ExprAD gradient against its hand-written twin.
// `--parallel [rounds]` times the logistic gradient sequential vs ParallelLoops with a Stopwatch (interleaved rounds).
// `--checkpoint` measures the tape memory and gradient time of ADOptions.CheckpointInterval on a 1e6-step fold.
// `--mlp` times a LINQ-written one-hidden-layer network's gradient against its loss and a hand-written backward pass.
// `--fec-repro` shows FastExpressionCompiler declining large blocks at random (see bench/README.md).
// Anything else goes to BenchmarkDotNet, e.g. `-- --filter '*'` or `-- --filter '*Rosenbrock*'`.
if (args.Length > 0 && args[0] == "--info")
{
    Info.Print();
    return;
}
if (args.Length > 0 && args[0] == "--fec-repro")
{
    FecRepro.Run();
    return;
}
if (args.Length > 0 && args[0] == "--mlp")
{
    LinqMlp.Run();
    return;
}
if (args.Length > 0 && args[0] == "--checkpoint")
{
    CheckpointTrade.Run();
    return;
}
if (args.Length > 0 && args[0] == "--parallel")
{
    ParallelSpeedup.Run(args.Length > 1 ? int.Parse(args[1]) : 100);
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
