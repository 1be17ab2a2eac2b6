using System.Collections;
using System.Diagnostics;
using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.Benchmarks;

/// <summary>
/// Diagnostic only (`--info`): times the phases of one AD.Gradient cache miss by calling ExprAD's
/// internal pipeline through reflection, in the order AD.Gradient runs it. Internal names may
/// change; if they do, this prints why and the benchmarks themselves are unaffected.
/// </summary>
public static class Phases
{
    private const BindingFlags Any = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static;

    public static void Print(LambdaExpression f, string label)
    {
        try
        {
            var asm = typeof(AD).Assembly;
            Type T(string name) => asm.GetType(name, throwOnError: true)!;
            var role = T("ExprAD.IR.ParameterRole");
            var roles = typeof(System.Collections.Immutable.ImmutableArray).GetMethods()
                .Single(m => m.Name == "Create" && m.GetParameters().Length == 1 && !m.GetParameters()[0].ParameterType.IsArray
                             && !m.GetParameters()[0].ParameterType.IsGenericType)
                .MakeGenericMethod(role).Invoke(null, [Enum.Parse(role, "Array")]);
            var kernelType = T("ExprAD.Codegen.GradientKernel");
            var times = new List<(string, double)>();
            object? Time(string phase, Func<object?> work)
            {
                var clock = Stopwatch.StartNew();
                var result = work();
                times.Add((phase, clock.Elapsed.TotalMilliseconds));
                return result;
            }

            var keyAndConstants = Time("structural key", () => T("ExprAD.Caching.StructuralKey").GetMethods(Any).Single(m => m.Name == "Of" && m.GetParameters().Length == 2).Invoke(null, [f, "gradient"]))!;
            var constants = keyAndConstants.GetType().GetField("Item2")!.GetValue(keyAndConstants);
            var translated = Time("translate", () => T("ExprAD.Frontend.ExpressionTranslator").GetMethod("Translate", Any)!.Invoke(null, [f, roles, constants, Type.Missing]))!;
            var source = Time("single-iteration loops", () => T("ExprAD.Passes.SingleIterationLoops").GetMethod("Apply", Any)!.Invoke(null, [translated]))!;
            var inputs = typeof(AD).GetMethod("InputsOf", Any)!.Invoke(null, [source]);
            var reversed = Time("reverse mode", () => T("ExprAD.Transforms.ReverseMode").GetMethod("Apply", Any)!.Invoke(null,
                [source, Delegate.CreateDelegate(T("ExprAD.Transforms.ReverseMode").GetMethod("Apply", Any)!.GetParameters()[1].ParameterType,
                    typeof(Phases).GetMethod(nameof(Seed), Any)!.MakeGenericMethod(T("ExprAD.IR.TraceBuilder"), T("ExprAD.IR.Value"))),
                    1 /* checkpoint interval: every state taped */]))!;
            var trace = Time("loop fusion, cross-loop sharing, dead code elimination", () => typeof(AD).GetMethod("AfterReverse", Any)!.Invoke(null, [reversed, ADOptions.Default]))!;
            var plan = Time("lowering plan", () => T("ExprAD.Codegen.LoweringPlans").GetMethod("Gradient", Any)!.Invoke(null, [trace, inputs]))!;
            // Long traces are cut into chunks, each compiled while lowering; that compile time is reported apart.
            var compileOne = T("ExprAD.Codegen.KernelCompiler").GetMethods(Any)
                .Single(m => m.Name == "Compile" && !m.IsGenericMethod);
            // Chunks are compiled on several threads at once (and JIT-compiled there too, which this does not time).
            long chunkTicks = 0;
            int chunks = 0;
            var compilers = new HashSet<string>();
            Func<LambdaExpression, Delegate> compileChunk = chunk =>
            {
                long start = Stopwatch.GetTimestamp();
                var r = compileOne.Invoke(null, [chunk])!;
                Interlocked.Add(ref chunkTicks, Stopwatch.GetTimestamp() - start);
                Interlocked.Increment(ref chunks);
                lock (compilers) compilers.Add(r.GetType().GetField("Item2")!.GetValue(r)!.ToString()!);
                return (Delegate)r.GetType().GetField("Item1")!.GetValue(r)!;
            };
            var lower = T("ExprAD.Codegen.TraceLowering").GetMethod("Lower", Any)!.MakeGenericMethod(kernelType);
            var lowered = (LambdaExpression)Time("lower, with chunks compiled and JIT-compiled alongside", () =>
                lower.Invoke(null, lower.GetParameters().Length == 2 ? [trace, plan] : [trace, plan, compileChunk, Type.Missing]))!;
            times.Add(("  IL compile of " + chunks + " chunk methods (summed over threads)", Stopwatch.GetElapsedTime(0, chunkTicks).TotalMilliseconds));
            var compiled = Time("IL compile of the entry method", () => compileOne.Invoke(null, [lowered]))!;
            compilers.Add(compiled.GetType().GetField("Item2")!.GetValue(compiled)!.ToString()!);
            var compiler = string.Join(" + ", compilers);
            Time("(for comparison) lowered tree, Expression.Compile()", () => lowered.Compile());

            Console.WriteLine($"  {label}: {((ICollection)source.GetType().GetProperty("Instructions")!.GetValue(source)!).Count} -> " +
                              $"{((ICollection)trace.GetType().GetProperty("Instructions")!.GetValue(trace)!).Count} instructions, " +
                              $"{chunks} chunk methods, compiled by {compiler}");
            foreach (var (phase, ms) in times) Console.WriteLine($"      {phase,-52} {ms,10:F1} ms");
        }
        catch (Exception e)
        {
            Console.WriteLine($"  {label}: phase breakdown unavailable ({e.GetBaseException().Message})");
        }
    }

    // ReverseMode.Apply's seed: output 0 gets adjoint 1.0 (as AD.Gradient does).
    private static TValue? Seed<TBuilder, TValue>(TBuilder b, int output) where TValue : struct =>
        (TValue)typeof(TBuilder).GetMethod("Constant", [typeof(double)])!.Invoke(b, [1.0])!;
}
