namespace ExprAD.GradBench;

/// <summary>
/// The options every module compiles with: <see cref="ADOptions.Default"/>, or <see cref="ADOptions.FastMath"/> when the
/// environment variable <c>EXPRAD_FAST_MATH</c> is 1 (for measuring it: <c>EXPRAD_FAST_MATH=1 python3
/// bench/scripts/gradbench_table.py ...</c>; the CI tests run with the defaults).
/// </summary>
public static class ToolOptions
{
    /// <summary>The options chosen when the tool started.</summary>
    public static ADOptions Chosen { get; } =
        Environment.GetEnvironmentVariable("EXPRAD_FAST_MATH") == "1" ? new ADOptions { FastMath = true } : ADOptions.Default;
}
