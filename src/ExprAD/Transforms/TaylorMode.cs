using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Transforms;

/// <summary>
/// Univariate Taylor mode: Trace -> Trace for f : R -> R. Every value v becomes its Taylor coefficients v_0 .. v_K about x
/// (v_k = v^(k)(x) / k!), propagated by the recurrences of products, quotients and the elementary functions, so that the
/// K-th derivative costs O(K²) per operation rather than the growth of forward mode applied K times. The result's single
/// output is K! y_K. Straight-line traces of the operations below only; <see cref="Apply"/> returns null for anything else
/// (loops, other operations), and the caller falls back to repeated forward mode.
/// </summary>
internal static class TaylorMode
{
    public static Trace? Apply(Trace source, int order)
    {
        if (source.Regions.Length > 0 || source.Outputs.Length != 1) return null;
        var b = new TraceBuilder(source.Environment, capacity: source.Count * (order + 1) * 4);
        int K = order;
        var series = new Value[source.Count][];
        Value Zero() => b.Constant(0.0);
        Value[] Constant(Value c) { var s = new Value[K + 1]; s[0] = c; for (int k = 1; k <= K; k++) s[k] = Zero(); return s; }
        // Σ_{j=lo}^{hi} w(j) a_j c_{k-j} with w a constant weight (null: 1).
        Value Convolve(Value[] a, Value[] c, int k, int lo, int hi, Func<int, double>? w = null)
        {
            Value? sum = null;
            for (int j = lo; j <= hi; j++)
            {
                var term = b.Mul(a[j], c[k - j]);
                if (w is not null) term = b.Mul(b.Constant(w(j)), term);
                sum = sum is { } s ? b.Add(s, term) : term;
            }
            return sum ?? Zero();
        }
        // y = g(a) with y' = h a', h's series known up to k - 1: y_k = (1/k) Σ_{j=1}^{k} j a_j h_{k-j}.
        Value Chain(Value[] a, Value[] h, int k) => b.Div(Convolve(a, h, k, 1, k, j => j), b.Constant(k));
        Value[] Product(Value[] a, Value[] c) { var y = new Value[K + 1]; for (int k = 0; k <= K; k++) y[k] = Convolve(a, c, k, 0, k); return y; }
        Value[] Quotient(Value[] a, Value[] c)
        {
            var y = new Value[K + 1];
            for (int k = 0; k <= K; k++) y[k] = b.Div(b.Sub(a[k], Convolve(c, y, k, 1, k)), c[0]);
            return y;
        }

        for (int i = 0; i < source.Count; i++)
        {
            var ins = source.Instructions[i];
            Value[] A() => series[ins.A];
            Value[] B() => series[ins.B];
            var y = new Value[K + 1];
            switch (ins.Op)
            {
                case Op.Const when ins.Kind == ValueKind.Scalar: series[i] = Constant(b.Constant(ins.Number)); continue;
                case Op.Input when ins.Kind == ValueKind.Scalar:
                    y = Constant(b.Emit(ins));
                    if (K >= 1) y[1] = b.Constant(1.0);
                    series[i] = y;
                    continue;
                case Op.Add or Op.Sub when ins.Kind == ValueKind.Scalar:
                    for (int k = 0; k <= K; k++) y[k] = b.Emit(ins.Op, A()[k], B()[k]);
                    break;
                case Op.Neg: for (int k = 0; k <= K; k++) y[k] = b.Neg(A()[k]); break;
                case Op.Mul when ins.Kind == ValueKind.Scalar: y = Product(A(), B()); break;
                case Op.Div when ins.Kind == ValueKind.Scalar: y = Quotient(A(), B()); break;
                case Op.Exp:
                    y[0] = b.Emit(Op.Exp, A()[0]);
                    for (int k = 1; k <= K; k++) y[k] = Chain(A(), y, k);
                    break;
                case Op.Log:
                {
                    // y' = a' / a: y_k = (a_k - (1/k) Σ_{j=1}^{k-1} j y_j a_{k-j}) / a_0.
                    var a = A();
                    y[0] = b.Emit(Op.Log, a[0]);
                    for (int k = 1; k <= K; k++) y[k] = b.Div(b.Sub(a[k], b.Div(Convolve(y, a, k, 1, k - 1, j => j), b.Constant(k))), a[0]);
                    break;
                }
                case Op.Sin or Op.Cos:
                {
                    var a = A();
                    var s = new Value[K + 1];
                    var c = new Value[K + 1];
                    s[0] = b.Emit(Op.Sin, a[0]);
                    c[0] = b.Emit(Op.Cos, a[0]);
                    for (int k = 1; k <= K; k++)
                    {
                        s[k] = Chain(a, c, k);
                        c[k] = b.Neg(Chain(a, s, k));
                    }
                    y = ins.Op == Op.Sin ? s : c;
                    break;
                }
                case Op.Sqrt:
                {
                    // y² = a: y_k = (a_k - Σ_{j=1}^{k-1} y_j y_{k-j}) / (2 y_0).
                    var a = A();
                    y[0] = b.Emit(Op.Sqrt, a[0]);
                    var twice = b.Mul(b.Constant(2.0), y[0]);
                    for (int k = 1; k <= K; k++) y[k] = b.Div(b.Sub(a[k], Convolve(y, y, k, 1, k - 1)), twice);
                    break;
                }
                case Op.Pow when b.TryGetConstant(series[ins.B][0], out double r) && IsConstantSeries(b, series[ins.B])
                                 && r == Math.Floor(r) && Math.Abs(r) <= 64:
                {
                    // An integer power by repeated squaring of series: exact where a_0 = 0, unlike the recurrence of a^r that
                    // divides by a_0 (other exponents are left to forward mode). y_0 stays Math.Pow, as the primal computes it.
                    var a = A();
                    Value[]? power = null;
                    var square = a;
                    for (int e = (int)Math.Abs(r); e > 0; e >>= 1)
                    {
                        if ((e & 1) != 0) power = power is null ? square : Product(power, square);
                        if (e > 1) square = Product(square, square);
                    }
                    power ??= Constant(b.Constant(1.0));
                    y = r < 0 ? Quotient(Constant(b.Constant(1.0)), power) : power;
                    y[0] = b.Emit(Op.Pow, a[0], series[ins.B][0]);
                    break;
                }
                case Op.Tanh or Op.Atan or Op.Tan:
                {
                    // Through derivatives written with the series above: tanh' = 1 - y², tan' = 1 + y², atan' = 1 / (1 + a²).
                    var a = A();
                    y[0] = b.Emit(ins.Op, a[0]);
                    var one = Constant(b.Constant(1.0));
                    var h = new Value[K + 1];
                    var aa = ins.Op == Op.Atan ? Quotient(one, Sum(b, one, Product(a, a))) : null;
                    for (int k = 1; k <= K; k++)
                    {
                        // h_{k-1} from y_0 .. y_{k-1} (or from a alone for atan).
                        int m = k - 1;
                        h[m] = ins.Op == Op.Atan ? aa![m]
                            : ins.Op == Op.Tanh ? b.Sub(one[m], Convolve(y, y, m, 0, m)) : b.Add(one[m], Convolve(y, y, m, 0, m));
                        y[k] = Chain(a, h, k);
                    }
                    break;
                }
                default:
                    return null;
            }
            series[i] = y;
        }
        double factorial = 1;
        for (int k = 2; k <= K; k++) factorial *= k;
        var output = series[source.Outputs[0].Index];
        return output is null ? null : b.Build([b.Mul(b.Constant(factorial), output[K])]);
    }

    private static Value[] Sum(TraceBuilder b, Value[] p, Value[] q) => p.Select((v, k) => b.Add(v, q[k])).ToArray();

    private static bool IsConstantSeries(TraceBuilder b, Value[] s) => s.Skip(1).All(v => b.TryGetConstant(v, out double c) && c == 0);
}
