namespace ExprAD.Optimization;

/// <summary>
/// Minimisers of smooth functions given by ExprAD's compiled derivatives (<see cref="AD.Gradient(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>,
/// <see cref="AD.HessianVector(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>, <see cref="AD.SparseHessian(System.Linq.Expressions.Expression{Func{double[], double}}, ADOptions?)"/>).
/// Each allocates its workspace once per run and nothing per iteration (beyond what a <see cref="MinimizeOptions.Progress"/>
/// handler does), and returns a <see cref="MinimizeResult"/>; the starting point is never changed.
/// </summary>
public static partial class Minimize
{
}
