namespace ExprAD;

/// <summary>
/// Marks a static method whose body ExprAD may inline where a lambda given to <see cref="AD"/> calls it, so that
/// <c>x =&gt; Sigmoid(x[0] * x[1])</c> is differentiated through <c>Sigmoid</c>.
/// </summary>
/// <remarks>
/// The body is turned into an expression tree at build time by the ExprAD.Generators source generator, which must be
/// referenced as an analyzer (the ExprAD package does this; from a project reference, add
/// <c>&lt;ProjectReference Include=".../ExprAD.Generators.csproj" OutputItemType="Analyzer" ReferenceOutputAssembly="false" /&gt;</c>).
/// The body may be an expression, or a block of local declarations, assignments to locals, <c>if</c>/<c>else</c>,
/// <c>return</c>, and <c>for</c> loops over a range of integers that add into a local. Anything else, and recursion (direct or
/// through other <c>[Differentiable]</c> methods), is a build error (EXPRAD001..EXPRAD006). Called outside a lambda, the
/// method runs as written.
/// </remarks>
[AttributeUsage(AttributeTargets.Method, AllowMultiple = false, Inherited = false)]
public sealed class DifferentiableAttribute : Attribute
{
}
