namespace ExprAD.Tests;

/// <summary>
/// [Differentiable] helpers compiled into this assembly: the ExprAD.Generators analyzer (referenced by the test project)
/// registers their bodies when the assembly loads. Each form the generator supports appears here: expression bodies, locals
/// (read once: substituted; read several times: bound once), if/else with returns, if/else that assigns locals, for loops
/// that add into locals (nested, with locals and conditions inside), int, bool, double[] and data parameters, private helpers
/// (the class is partial, so the generated code can reach them), helpers calling helpers, and an expression-valued helper
/// invoked inside one.
/// </summary>
public static partial class DifferentiableHelpers
{
    /// <summary>Data for <see cref="Loss"/>: rows of features and labels ±1.</summary>
    public sealed class Dataset
    {
        public double[][] X = [];
        public double[] Y = [];
        public double Lambda = 0.01;
    }

    private const double Half = 0.5;

    [Differentiable]
    public static double Sigmoid(double z) => 1 / (1 + Math.Exp(-z));

    /// <summary>log(1 + e^z), computed as z itself where e^z would overflow the 1 it is added to.</summary>
    [Differentiable]
    public static double Softplus(double z)
    {
        if (z > 30) return z;
        return Math.Log(1 + Math.Exp(z));
    }

    [Differentiable]
    private static double SquaredNorm(double[] w)
    {
        double s = 0;
        for (int j = 0; j < w.Length; j++) s += w[j] * w[j];
        return s;
    }

    /// <summary>The squared norm, through the private helper.</summary>
    [Differentiable]
    public static double Norm2(double[] w) => SquaredNorm(w);

    /// <summary>Mean logistic loss over the rows plus a ridge penalty: nested loops, a local inside the outer one, helpers.</summary>
    [Differentiable]
    public static double Loss(double[] w, Dataset d)
    {
        double total = 0;
        for (int i = 0; i < d.Y.Length; i++)
        {
            double z = 0;
            for (int j = 0; j < w.Length; j++) z += w[j] * d.X[i][j];
            total += Softplus(-d.Y[i] * z);
        }
        return total / d.Y.Length + d.Lambda * Half * SquaredNorm(w);
    }

    /// <summary>A local read three times: bound once, so e^z is computed once.</summary>
    [Differentiable]
    public static double Shared(double z)
    {
        var e = Math.Exp(z);
        return e * e + e;
    }

    /// <summary>if/else that only assigns: the local becomes a choice.</summary>
    [Differentiable]
    public static double Piecewise(double x)
    {
        double y;
        if (x < 0) y = -x;
        else if (x < 1) y = x * x;
        else y = 2 * x - 1;
        return y;
    }

    /// <summary>Horner's rule over an int count of coefficients c_k = 1 / (k + 1), with compound assignments.</summary>
    [Differentiable]
    public static double Series(double x, int n)
    {
        double sum = 0;
        double scale = 1;
        for (int k = 1; k <= n; k++) sum += Math.Pow(x, k) / (k + 1);
        scale *= 2;
        scale -= Half;
        return sum * scale;
    }

    [Differentiable]
    public static double Gate(double x, bool square) => square ? x * x : x;

    /// <summary>A loop with a condition inside it, a decrement and a parameter reassigned.</summary>
    [Differentiable]
    public static double PositivePart(double[] x, double shift)
    {
        shift = shift * 2;
        double s = 0;
        for (int i = 0; i < x.Length; i++)
        {
            var v = x[i] - shift;
            if (v > 0) s += v * v;
            else s -= 0.1 * v;
        }
        return s;
    }

    /// <summary>A helper calling helpers, one of them an expression-valued helper.</summary>
    [Differentiable]
    public static double Layered(double a, double b) => Sigmoid(a * b) + Softplus(Sigmoid(a)) + ExpressionHelpers.Cube.Invoke(b);

    /// <summary>The logistic loss of one row: a data row passed as an argument, read at computed indices inside the loop.</summary>
    [Differentiable]
    public static double RowLoss(double[] w, double[] row, double label)
    {
        double z = 0;
        for (int j = 0; j < w.Length; j++) z += w[j] * row[j];
        return Softplus(-label * z);
    }

    /// <summary>Not marked: ExprAD cannot see into it.</summary>
    public static double Unmarked(double z) => z * z;
}

/// <summary>Expression-valued helpers, in LINQKit's style.</summary>
public static class ExpressionHelpers
{
    public static readonly System.Linq.Expressions.Expression<Func<double, double>> Cube = z => z * z * z;
}
