namespace ExprAD;

public static partial class AD
{
    private const string NestedOnly = "is a derivative taken inside a lambda given to ExprAD (where it is differentiated where it stands); to differentiate a function here, use AD.Derivative or AD.Gradient.";

    /// <summary>
    /// f'(x), written inside a lambda given to ExprAD: <c>AD.Derivative(x => x * AD.Diff(y => x + y, 1.0))</c>. The inner
    /// derivative is taken by forward mode where it stands and is itself differentiated by the outer request, to any
    /// depth; variables of enclosing lambdas are held fixed inside (no perturbation confusion).
    /// </summary>
    /// <param name="f">The function, a lambda written in place.</param>
    /// <param name="x">The point.</param>
    /// <returns>Never returns when called directly.</returns>
    /// <exception cref="InvalidOperationException">Always, when called outside a lambda given to ExprAD.</exception>
    public static double Diff(Func<double, double> f, double x) => throw new InvalidOperationException($"AD.Diff {NestedOnly}");

    /// <summary>
    /// The gradient of f at x, an array to index or loop over, written inside a lambda given to ExprAD (for example in the
    /// step of an <c>Aggregate</c> doing gradient descent). It is computed where it stands by forward mode, one direction
    /// per element of x (so it suits arrays of tens to hundreds of elements), and differentiated again by the outer request.
    /// </summary>
    /// <param name="f">The function, a lambda written in place.</param>
    /// <param name="x">The point: the lambda's array parameter, an array built in it, or a data array.</param>
    /// <returns>Never returns when called directly.</returns>
    /// <exception cref="InvalidOperationException">Always, when called outside a lambda given to ExprAD.</exception>
    public static double[] Grad(Func<double[], double> f, double[] x) => throw new InvalidOperationException($"AD.Grad {NestedOnly}");

    /// <summary>The gradient with respect to x of f(x, data), written inside a lambda given to ExprAD; see <see cref="Grad(Func{double[], double}, double[])"/>.</summary>
    /// <typeparam name="TData">The data argument's type.</typeparam>
    /// <param name="f">The function, a lambda written in place.</param>
    /// <param name="x">The point.</param>
    /// <param name="data">The data argument passed to f.</param>
    /// <returns>Never returns when called directly.</returns>
    /// <exception cref="InvalidOperationException">Always, when called outside a lambda given to ExprAD.</exception>
    public static double[] Grad<TData>(Func<double[], TData, double> f, double[] x, TData data) => throw new InvalidOperationException($"AD.Grad {NestedOnly}");

    /// <summary>
    /// The directional derivative ∇f(x)·v, written inside a lambda given to ExprAD: one forward sweep where it stands, cheap
    /// at any length of x. Its gradient, <c>AD.Grad(w => AD.DirectionalDiff(f, w, v), x)</c>, is the Hessian-vector product H v.
    /// </summary>
    /// <param name="f">The function, a lambda written in place.</param>
    /// <param name="x">The point.</param>
    /// <param name="v">The direction, as long as x.</param>
    /// <returns>Never returns when called directly.</returns>
    /// <exception cref="InvalidOperationException">Always, when called outside a lambda given to ExprAD.</exception>
    public static double DirectionalDiff(Func<double[], double> f, double[] x, double[] v) => throw new InvalidOperationException($"AD.DirectionalDiff {NestedOnly}");
}
