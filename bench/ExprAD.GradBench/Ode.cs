using System.Linq.Expressions;

namespace ExprAD.GradBench;

/// <summary>
/// ode: y' = f(y) with f_0 = x_0 and f_i = x_i y_{i-1}, from y(0) = 0 over t in [0, 2], by classic Runge-Kutta in
/// s equal steps. Written as ExprAD lambdas over arrays of run-time length: each stage is a map, the steps a fold
/// whose state is the array y (taped whole for the gradient).
/// </summary>
public static class Ode
{
    // The right-hand side f(y).
    private static readonly Expression<Func<double[], double[], double[]>> RightHandSide = (x, y) =>
        Enumerable.Range(0, y.Length).Select(i => i == 0 ? x[0] : x[i] * y[i - 1]).ToArray();

    // y + a k.
    private static readonly Expression<Func<double[], double[], double, double[]>> Shift = (y, k, a) =>
        y.Zip(k, (p, q) => p + a * q).ToArray();

    // The Runge-Kutta update from the four stages.
    private static readonly Expression<Func<double[], double[], double[], double[], double[], double, double[]>> Combine = (y, k1, k2, k3, k4, h) =>
        Enumerable.Range(0, y.Length).Select(i => y[i] + h / 6 * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i])).ToArray();

    /// <summary>y(2) as a function of x and the number of steps s.</summary>
    public static readonly Expression<Func<double[], int, double[]>> Solution = Compose();

    /// <summary>The last element of y(2): the function whose gradient GradBench asks for.</summary>
    public static readonly Expression<Func<double[], int, double>> Last = LastOf(Solution);

    private static Expression<Func<double[], int, double[]>> Compose()
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        var s = Expression.Parameter(typeof(int), "s");
        var y = Expression.Parameter(typeof(double[]), "y");
        var step = Expression.Parameter(typeof(int), "step");
        var h = Expression.Divide(Expression.Constant(2.0), Expression.Convert(s, typeof(double)));
        var half = Expression.Divide(h, Expression.Constant(2.0));
        // Each stage is one node, shared by the stages and the update that read it (so each is computed once).
        var k1 = Expression.Invoke(RightHandSide, x, y);
        var k2 = Expression.Invoke(RightHandSide, x, Expression.Invoke(Shift, y, k1, half));
        var k3 = Expression.Invoke(RightHandSide, x, Expression.Invoke(Shift, y, k2, half));
        var k4 = Expression.Invoke(RightHandSide, x, Expression.Invoke(Shift, y, k3, h));
        var next = Expression.Lambda<Func<double[], int, double[]>>(Expression.Invoke(Combine, y, k1, k2, k3, k4, h), y, step);
        var aggregate = typeof(Enumerable).GetMethods().Single(m => m.Name == nameof(Enumerable.Aggregate) && m.GetParameters().Length == 3)
            .MakeGenericMethod(typeof(int), typeof(double[]));
        var steps = Expression.Call(typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!, Expression.Constant(0), s);
        var body = Expression.Call(aggregate, steps, Expression.NewArrayBounds(typeof(double), Expression.ArrayLength(x)), next);
        return Expression.Lambda<Func<double[], int, double[]>>(body, x, s);
    }

    private static Expression<Func<double[], int, double>> LastOf(Expression<Func<double[], int, double[]>> solution)
    {
        var x = Expression.Parameter(typeof(double[]), "x");
        var s = Expression.Parameter(typeof(int), "s");
        var y = Expression.Invoke(solution, x, s);
        return Expression.Lambda<Func<double[], int, double>>(
            Expression.ArrayIndex(y, Expression.Subtract(Expression.ArrayLength(x), Expression.Constant(1))), x, s);
    }
}
