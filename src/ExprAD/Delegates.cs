namespace ExprAD;

/// <summary>
/// A compiled gradient of f : R^n -> R. Returns f(x) and writes ∂f/∂x into <paramref name="gradient"/>.
/// Allocation-free and safe to call from many threads at once.
/// </summary>
/// <param name="x">The point; at least as long as the largest index the function reads, plus one.</param>
/// <param name="gradient">Receives the gradient; must have the length of <paramref name="x"/>.</param>
/// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
public delegate double GradientFunc(ReadOnlySpan<double> x, Span<double> gradient);

/// <summary>
/// A compiled gradient of f(x, data) with respect to x; <paramref name="data"/> is read at call time and never differentiated.
/// Returns f(x, data) and writes ∂f/∂x into <paramref name="gradient"/>. Allocation-free and thread-safe.
/// </summary>
/// <param name="x">The point; at least as long as the largest index the function reads, plus one.</param>
/// <param name="data">The data argument (not differentiated).</param>
/// <param name="gradient">Receives the gradient; must have the length of <paramref name="x"/>.</param>
/// <exception cref="ArgumentException">A span has the wrong length.</exception>
/// <exception cref="ArgumentNullException"><paramref name="data"/> is null and the function reads it.</exception>
public delegate double GradientFunc<TData>(ReadOnlySpan<double> x, TData data, Span<double> gradient);

/// <summary>A compiled function of an array (no derivative): the primal alone, from the same trace and code generator.</summary>
/// <param name="x">The point; at least as long as the largest constant index the function reads, plus one.</param>
/// <exception cref="ArgumentException"><paramref name="x"/> is too short.</exception>
public delegate double ValueFunc(ReadOnlySpan<double> x);

/// <summary>A compiled function of an array and data (no derivative).</summary>
/// <param name="x">The point.</param>
/// <param name="data">The data argument.</param>
/// <exception cref="ArgumentException"><paramref name="x"/> is too short.</exception>
/// <exception cref="ArgumentNullException"><paramref name="data"/> is null and the function reads it.</exception>
public delegate double ValueFunc<TData>(ReadOnlySpan<double> x, TData data);

/// <summary>
/// A compiled forward-mode directional derivative (Jacobian-vector product) of f : R^n -> R.
/// Returns f(x) and sets <paramref name="derivative"/> to ∇f(x) · <paramref name="direction"/>. Allocation-free and thread-safe.
/// </summary>
/// <param name="x">The point; at least as long as the largest index the function reads, plus one.</param>
/// <param name="direction">The direction v; must have the length of <paramref name="x"/>.</param>
/// <param name="derivative">Receives the directional derivative.</param>
/// <exception cref="ArgumentException">A span has the wrong length.</exception>
public delegate double DirectionalDerivativeFunc(ReadOnlySpan<double> x, ReadOnlySpan<double> direction, out double derivative);
