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

/// <summary>
/// A compiled vector-valued function f : R^n -> R^m (no derivative), from a lambda whose body is <c>new[] { e1, ..., em }</c>.
/// Writes f(x) into <paramref name="values"/>. Allocation-free and safe to call from many threads at once.
/// </summary>
/// <param name="x">The point; at least as long as the largest index the function reads, plus one.</param>
/// <param name="values">Receives the m outputs; must have length m.</param>
/// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
public delegate void VectorValueFunc(ReadOnlySpan<double> x, Span<double> values);

/// <summary>A compiled vector-valued function of an array and data (no derivative); <paramref name="data"/> is read at call time.</summary>
/// <param name="x">The point; at least as long as the largest index the function reads, plus one.</param>
/// <param name="data">The data argument (not differentiated).</param>
/// <param name="values">Receives the m outputs; must have length m.</param>
/// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
/// <exception cref="ArgumentNullException"><paramref name="data"/> is null and the function reads it.</exception>
public delegate void VectorValueFunc<TData>(ReadOnlySpan<double> x, TData data, Span<double> values);

/// <summary>
/// A compiled Jacobian of f : R^n -> R^m, from a lambda whose body is <c>new[] { e1, ..., em }</c>. Writes f(x) into
/// <paramref name="values"/> and the dense m x n Jacobian, row-major (entry (k, j) = ∂f_k/∂x_j at <c>k * n + j</c>, with
/// n = <c>x.Length</c>), into <paramref name="jacobian"/>. Allocation-free and safe to call from many threads at once.
/// </summary>
/// <param name="x">The point; at least as long as the largest index the function reads, plus one.</param>
/// <param name="values">Receives the m outputs; must have length m.</param>
/// <param name="jacobian">Receives the Jacobian; must have length m * <c>x.Length</c>, and must not share memory with
/// <paramref name="x"/> when the function reads x inside a loop (the Jacobian is then accumulated while x is read).</param>
/// <exception cref="ArgumentException">A span has the wrong length (the message names it and the expected length), or
/// <paramref name="jacobian"/> overlaps <paramref name="x"/> where that is not allowed.</exception>
public delegate void JacobianFunc(ReadOnlySpan<double> x, Span<double> values, Span<double> jacobian);

/// <summary>
/// A compiled Jacobian with respect to x of f(x, data) : R^n -> R^m; <paramref name="data"/> is read at call time and never
/// differentiated. Writes f(x, data) into <paramref name="values"/> and the m x n Jacobian, row-major, into
/// <paramref name="jacobian"/>. Allocation-free and thread-safe.
/// </summary>
/// <param name="x">The point; at least as long as the largest index the function reads, plus one.</param>
/// <param name="data">The data argument (not differentiated).</param>
/// <param name="values">Receives the m outputs; must have length m.</param>
/// <param name="jacobian">Receives the Jacobian; must have length m * <c>x.Length</c> (see <see cref="JacobianFunc"/> on overlap).</param>
/// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
/// <exception cref="ArgumentNullException"><paramref name="data"/> is null and the function reads it.</exception>
public delegate void JacobianFunc<TData>(ReadOnlySpan<double> x, TData data, Span<double> values, Span<double> jacobian);

/// <summary>
/// A compiled Hessian-vector product of f : R^n -> R (forward mode over reverse mode). Returns f(x), writes the gradient
/// into <paramref name="gradient"/> and H(x)·v into <paramref name="hv"/>. Allocation-free and thread-safe.
/// </summary>
/// <param name="x">The point; at least as long as the largest index the function reads, plus one.</param>
/// <param name="v">The vector; must have the length of <paramref name="x"/>.</param>
/// <param name="gradient">Receives the gradient; must have the length of <paramref name="x"/>.</param>
/// <param name="hv">Receives H(x)·v; must have the length of <paramref name="x"/>, and must not share memory with x.</param>
/// <exception cref="ArgumentException">A span has the wrong length (the message names it and the expected length), or overlaps x.</exception>
public delegate double HessianVectorFunc(ReadOnlySpan<double> x, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv);

/// <summary>A compiled Hessian-vector product of f(x, data) with respect to x; <paramref name="data"/> is read at call time, never differentiated.</summary>
/// <param name="x">The point.</param>
/// <param name="data">The data argument (not differentiated).</param>
/// <param name="v">The vector; must have the length of <paramref name="x"/>.</param>
/// <param name="gradient">Receives the gradient; must have the length of <paramref name="x"/>.</param>
/// <param name="hv">Receives H(x)·v; must have the length of <paramref name="x"/>.</param>
/// <exception cref="ArgumentException">A span has the wrong length, or overlaps x.</exception>
/// <exception cref="ArgumentNullException"><paramref name="data"/> is null and the function reads it.</exception>
public delegate double HessianVectorFunc<TData>(ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv);

/// <summary>
/// A compiled dense Hessian of f : R^n -> R. Returns f(x), writes the gradient into <paramref name="gradient"/> and the
/// n x n Hessian, row-major (entry (i, j) = ∂²f/∂x_i∂x_j at <c>i * n + j</c>), into <paramref name="hessian"/>.
/// Allocation-free after the first call for a length, and thread-safe.
/// </summary>
/// <param name="x">The point (n = its length).</param>
/// <param name="gradient">Receives the gradient; length n.</param>
/// <param name="hessian">Receives the Hessian; length n * n, not sharing memory with x.</param>
/// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
public delegate double HessianFunc(ReadOnlySpan<double> x, Span<double> gradient, Span<double> hessian);

/// <summary>A compiled dense Hessian of f(x, data) with respect to x; <paramref name="data"/> is read at call time.</summary>
/// <param name="x">The point (n = its length).</param>
/// <param name="data">The data argument (not differentiated).</param>
/// <param name="gradient">Receives the gradient; length n.</param>
/// <param name="hessian">Receives the Hessian, row-major; length n * n.</param>
/// <exception cref="ArgumentException">A span has the wrong length.</exception>
/// <exception cref="ArgumentNullException"><paramref name="data"/> is null and the function reads it.</exception>
public delegate double HessianFunc<TData>(ReadOnlySpan<double> x, TData data, Span<double> gradient, Span<double> hessian);

/// <summary>
/// A compiled Laplacian of f : R^n -> R (the trace of its Hessian, Σ ∂²f/∂x_i²). Returns f(x) and sets
/// <paramref name="laplacian"/>. Allocation-free after the first call for a length, and thread-safe.
/// </summary>
/// <param name="x">The point.</param>
/// <param name="laplacian">Receives the Laplacian.</param>
public delegate double LaplacianFunc(ReadOnlySpan<double> x, out double laplacian);

/// <summary>
/// A compiled Jacobian-vector product of f : R^n -> R^m (forward mode): writes f(x) into <paramref name="values"/> and
/// J(x)·v into <paramref name="jv"/>. Allocation-free and thread-safe.
/// </summary>
/// <param name="x">The point.</param>
/// <param name="v">The direction; the length of <paramref name="x"/>.</param>
/// <param name="values">Receives the m outputs.</param>
/// <param name="jv">Receives J·v; length m.</param>
/// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
public delegate void JacobianVectorFunc(ReadOnlySpan<double> x, ReadOnlySpan<double> v, Span<double> values, Span<double> jv);

/// <summary>A compiled Jacobian-vector product of f(x, data) : R^n -> R^m with respect to x.</summary>
/// <param name="x">The point.</param>
/// <param name="data">The data argument (not differentiated).</param>
/// <param name="v">The direction; the length of <paramref name="x"/>.</param>
/// <param name="values">Receives the m outputs.</param>
/// <param name="jv">Receives J·v; length m.</param>
/// <exception cref="ArgumentException">A span has the wrong length.</exception>
public delegate void JacobianVectorFunc<TData>(ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> v, Span<double> values, Span<double> jv);

/// <summary>
/// A compiled vector-Jacobian product of f : R^n -> R^m (reverse mode): writes f(x) into <paramref name="values"/> and
/// uᵀ J(x) into <paramref name="uj"/>. Allocation-free and thread-safe.
/// </summary>
/// <param name="x">The point.</param>
/// <param name="u">The weights of the outputs; length m.</param>
/// <param name="values">Receives the m outputs.</param>
/// <param name="uj">Receives uᵀ J; the length of <paramref name="x"/>, not sharing memory with it.</param>
/// <exception cref="ArgumentException">A span has the wrong length; the message names it and the expected length.</exception>
public delegate void VectorJacobianFunc(ReadOnlySpan<double> x, ReadOnlySpan<double> u, Span<double> values, Span<double> uj);

/// <summary>A compiled vector-Jacobian product of f(x, data) : R^n -> R^m with respect to x.</summary>
/// <param name="x">The point.</param>
/// <param name="data">The data argument (not differentiated).</param>
/// <param name="u">The weights of the outputs; length m.</param>
/// <param name="values">Receives the m outputs.</param>
/// <param name="uj">Receives uᵀ J; the length of <paramref name="x"/>.</param>
/// <exception cref="ArgumentException">A span has the wrong length.</exception>
public delegate void VectorJacobianFunc<TData>(ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> u, Span<double> values, Span<double> uj);
