using System.Collections.Immutable;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using ExprAD.Generators;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace ExprAD.Generators.Tests;

/// <summary>
/// Runs the generator over a source text as the compiler would (CSharpGeneratorDriver), and compiles and loads the result: what
/// it generated, what it reported, what the compiler then said about the whole, and the loaded assembly.
/// </summary>
internal static class GeneratorHarness
{
    // The framework's assemblies and ExprAD: everything a user's project references. Made once, reused by every compilation.
    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
        ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Where(p => Path.GetFileName(p).StartsWith("System.", StringComparison.Ordinal) || Path.GetFileName(p) is "netstandard.dll" or "mscorlib.dll")
            .Append(typeof(AD).Assembly.Location)
            .Select(p => (MetadataReference)MetadataReference.CreateFromFile(p)).ToImmutableArray());

    private static int s_assemblies;

    public sealed record Run(
        IReadOnlyList<string> Generated, IReadOnlyList<Diagnostic> Reported, IReadOnlyList<Diagnostic> CompilerErrors, Compilation Output)
    {
        /// <summary>All generated text, for assertions on what a method became.</summary>
        public string Text => string.Join("\n", Generated);

        /// <summary>The diagnostics the generator reported, as "ID line:column" (1-based), in order.</summary>
        public string[] Positions => Reported.Select(d =>
        {
            var start = d.Location.GetLineSpan().StartLinePosition;
            return $"{d.Id} {start.Line + 1}:{start.Character + 1}";
        }).ToArray();

        /// <summary>Emits and loads the compiled assembly, and runs its module initializer (which registers the bodies) unless told not to.</summary>
        public Assembly Load(bool initialize = true)
        {
            using var image = new MemoryStream();
            var emitted = Output.Emit(image);
            Assert.That(emitted.Success, Is.True, () => string.Join("\n", emitted.Diagnostics));
            var assembly = Assembly.Load(image.ToArray());
            if (initialize) RuntimeHelpers.RunModuleConstructor(assembly.ManifestModule.ModuleHandle);
            return assembly;
        }
    }

    /// <summary>Compiles <paramref name="source"/> (with <c>using System; using System.Linq; using ExprAD;</c> available) with the generator.</summary>
    /// <param name="source">The user's code.</param>
    /// <param name="withGenerator">False to compile it as a project that does not reference the generator.</param>
    public static Run Generate(string source, bool withGenerator = true)
    {
        var tree = CSharpSyntaxTree.ParseText(source, new CSharpParseOptions(LanguageVersion.Latest), path: "User.cs");
        var name = "UserCode" + Interlocked.Increment(ref s_assemblies);
        var compilation = CSharpCompilation.Create(name, [tree], References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, nullableContextOptions: NullableContextOptions.Enable));
        GeneratorDriver driver = CSharpGeneratorDriver.Create(withGenerator ? [new DifferentiableGenerator().AsSourceGenerator()] : Array.Empty<ISourceGenerator>());
        driver = driver.RunGeneratorsAndUpdateCompilation(compilation, out var output, out _);
        var results = driver.GetRunResult().Results;
        Assert.That(results.Select(r => r.Exception), Has.All.Null);
        return new Run(
            results.SelectMany(r => r.GeneratedSources).Select(s => s.SourceText.ToString()).ToList(),
            results.SelectMany(r => r.Diagnostics).ToList(),
            output.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error).ToList(),
            output);
    }

    /// <summary>Generates, checks that the generator and the compiler reported nothing, and loads the result.</summary>
    public static (Run Run, Assembly Assembly) GenerateAndLoad(string source)
    {
        var run = Generate(source);
        Assert.That(run.Reported, Is.Empty, () => string.Join("\n", run.Reported));
        Assert.That(run.CompilerErrors, Is.Empty, () => string.Join("\n", run.CompilerErrors) + "\n" + run.Text);
        return (run, run.Load());
    }

    /// <summary>The body registered for a static method of the loaded assembly.</summary>
    public static LambdaExpression Registered(Assembly assembly, string type, string method)
    {
        var info = assembly.GetType(type, throwOnError: true)!.GetMethod(method, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!;
        Assert.That(DifferentiableRegistry.TryGetBody(info, out var body), Is.True, $"{type}.{method} is not registered");
        return body!;
    }

    /// <summary>The method itself, to compare its results with its registered body's.</summary>
    public static MethodInfo Method(Assembly assembly, string type, string method) =>
        assembly.GetType(type, throwOnError: true)!.GetMethod(method, BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static)!;
}
