using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Transforms;

/// <summary>
/// Univariate Taylor mode: Trace -> Trace for f : R -> R. Every scalar v becomes its Taylor coefficients v_0 .. v_K about x
/// (v_k = v^(k)(x) / k!), propagated by the recurrences of products, quotients and the elementary functions, so that the
/// K-th derivative costs O(K²) per operation rather than the growth of forward mode applied K times. Integers, booleans
/// and values that do not depend on x keep one coefficient (their value). Sums and folds carry the coefficients of their
/// results and states through their bodies. The result's single output is K! y_K. <see cref="Apply"/> returns null for
/// what it does not cover (maps, arg-extrema, arrays carried by folds, a few functions), and the caller falls back to
/// repeated forward mode.
/// </summary>
internal static class TaylorMode
{
    public static Trace? Apply(Trace source, int order)
    {
        if (source.Outputs.Length != 1) return null;
        var b = new TraceBuilder(source.Environment, capacity: source.Count * (order + 1) * 4);
        var series = new Series(b, order).Of(source, _ => throw new InvalidOperationException("A top-level trace captures nothing."), [], null);
        if (series?[source.Outputs[0].Index] is not { } output) return null;
        double factorial = 1;
        for (int k = 2; k <= order; k++) factorial *= k;
        return b.Build([b.Mul(b.Constant(factorial), output[order])]);
    }

    /// <summary>The coefficient recurrences, emitted into one builder (a loop body gets its own).</summary>
    private sealed class Series(TraceBuilder b, int K)
    {
        private Value Zero() => b.Constant(0.0);

        private Value[] Constant(Value c)
        {
            var s = new Value[K + 1];
            s[0] = c;
            for (int k = 1; k <= K; k++) s[k] = Zero();
            return s;
        }

        /// <summary>Σ_{j=lo}^{hi} w(j) a_j c_{k-j} with w a constant weight (null: 1).</summary>
        private Value Convolve(Value[] a, Value[] c, int k, int lo, int hi, Func<int, double>? w = null)
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

        /// <summary>y = g(a) with y' = h a', h's series known up to k - 1: y_k = (1/k) Σ_{j=1}^{k} j a_j h_{k-j}.</summary>
        private Value Chain(Value[] a, Value[] h, int k) => b.Div(Convolve(a, h, k, 1, k, j => j), b.Constant(k));

        private Value[] Product(Value[] a, Value[] c)
        {
            var y = new Value[K + 1];
            for (int k = 0; k <= K; k++) y[k] = Convolve(a, c, k, 0, k);
            return y;
        }

        private Value[] Quotient(Value[] a, Value[] c)
        {
            var y = new Value[K + 1];
            for (int k = 0; k <= K; k++) y[k] = b.Div(b.Sub(a[k], Convolve(c, y, k, 1, k)), c[0]);
            return y;
        }

        private Value[] Add(Value[] p, Value[] q) => p.Select((v, k) => b.Add(v, q[k])).ToArray();

        private Value[] Scale(double c, Value[] p) => p.Select(v => b.Mul(b.Constant(c), v)).ToArray();

        /// <summary>√a: y² = a, y_k = (a_k - Σ_{j=1}^{k-1} y_j y_{k-j}) / (2 y_0); y_0 as given (the primal's own value).</summary>
        private Value[] Sqrt(Value[] a, Value y0)
        {
            var y = new Value[K + 1];
            y[0] = y0;
            var twice = b.Mul(b.Constant(2.0), y0);
            for (int k = 1; k <= K; k++) y[k] = b.Div(b.Sub(a[k], Convolve(y, y, k, 1, k - 1)), twice);
            return y;
        }

        /// <summary>log a: y' = a' / a, y_k = (a_k - (1/k) Σ_{j=1}^{k-1} j y_j a_{k-j}) / a_0.</summary>
        private Value[] Log(Value[] a, Value y0)
        {
            var y = new Value[K + 1];
            y[0] = y0;
            for (int k = 1; k <= K; k++) y[k] = b.Div(b.Sub(a[k], b.Div(Convolve(y, a, k, 1, k - 1, j => j), b.Constant(k))), a[0]);
            return y;
        }

        /// <summary>exp a: y' = y a'.</summary>
        private Value[] Exp(Value[] a, Value y0)
        {
            var y = new Value[K + 1];
            y[0] = y0;
            for (int k = 1; k <= K; k++) y[k] = Chain(a, y, k);
            return y;
        }

        /// <summary>g(a) whose derivative series h = g'(a) is known in full beforehand (inverse trigonometric and hyperbolic functions).</summary>
        private Value[] Integrate(Value[] a, Value y0, Value[] h)
        {
            var y = new Value[K + 1];
            y[0] = y0;
            for (int k = 1; k <= K; k++) y[k] = Chain(a, h, k);
            return y;
        }

        /// <summary>The pair (sin a, cos a) or, with <paramref name="hyperbolic"/>, (sinh a, cosh a).</summary>
        private (Value[] S, Value[] C) SinCos(Value[] a, bool hyperbolic)
        {
            var s = new Value[K + 1];
            var c = new Value[K + 1];
            s[0] = b.Emit(hyperbolic ? Op.Sinh : Op.Sin, a[0]);
            c[0] = b.Emit(hyperbolic ? Op.Cosh : Op.Cos, a[0]);
            for (int k = 1; k <= K; k++)
            {
                s[k] = Chain(a, c, k);
                c[k] = hyperbolic ? Chain(a, s, k) : b.Neg(Chain(a, s, k));
            }
            return (s, c);
        }

        /// <summary>a^r for a constant r: a y' = r y a', so a_0 y_k = (1/k) Σ_{j=1}^{k} ((r + 1) j - k) a_j y_{k-j}.</summary>
        private Value[] ConstantPower(Value[] a, double r, Value y0)
        {
            if (r == Math.Floor(r) && Math.Abs(r) <= 64)
            {
                // An integer power by repeated squaring: exact where a_0 = 0, which the recurrence divides by.
                Value[]? power = null;
                var square = a;
                for (int e = (int)Math.Abs(r); e > 0; e >>= 1)
                {
                    if ((e & 1) != 0) power = power is null ? square : Product(power, square);
                    if (e > 1) square = Product(square, square);
                }
                power ??= Constant(b.Constant(1.0));
                var p = r < 0 ? Quotient(Constant(b.Constant(1.0)), power) : power;
                p[0] = y0;
                return p;
            }
            var y = new Value[K + 1];
            y[0] = y0;
            for (int k = 1; k <= K; k++)
            {
                Value? sum = null;
                for (int j = 1; j <= k; j++)
                {
                    var term = b.Mul(b.Constant((r + 1) * j - k), b.Mul(a[j], y[k - j]));
                    sum = sum is { } s ? b.Add(s, term) : term;
                }
                y[k] = b.Div(sum!.Value, b.Mul(b.Constant(k), a[0]));
            }
            return y;
        }

        /// <summary>a^r for an exponent r that does not depend on x but is known only at call time (data): the recurrence of <see cref="ConstantPower"/>.</summary>
        private Value[] Power(Value[] a, Value r, Value y0)
        {
            var y = new Value[K + 1];
            y[0] = y0;
            var rPlusOne = b.Add(r, b.Constant(1.0));
            for (int k = 1; k <= K; k++)
            {
                Value? sum = null;
                for (int j = 1; j <= k; j++)
                {
                    var weight = b.Sub(b.Mul(rPlusOne, b.Constant(j)), b.Constant(k));
                    var term = b.Mul(weight, b.Mul(a[j], y[k - j]));
                    sum = sum is { } s ? b.Add(s, term) : term;
                }
                y[k] = b.Div(sum!.Value, b.Mul(b.Constant(k), a[0]));
            }
            return y;
        }

        /// <summary>The operation on the first coefficients (the values) of its operands.</summary>
        private Value Emit(Op op, Value[][] operands) => operands.Length switch
        {
            1 => b.Emit(op, operands[0][0]),
            2 => b.Emit(op, operands[0][0], operands[1][0]),
            _ => b.Emit(op, operands[0][0], operands[1][0], operands[2][0]),
        };

        private bool IsConstant(Value[] s) => s.Length == 1 || s.Skip(1).All(v => b.TryGetConstant(v, out double c) && c == 0);

        /// <summary>
        /// The series of every instruction of <paramref name="source"/> (one value for integers, booleans and arrays; K + 1
        /// for scalars), or null when something is not covered. Captures and states come from the enclosing level.
        /// </summary>
        public Value[]?[]? Of(Trace source, Func<int, Value[]> capture, Value[][] states, Value? loopIndex)
        {
            var series = new Value[]?[source.Count];
            var results = new Dictionary<int, Value[][]>();
            for (int i = 0; i < source.Count; i++)
            {
                var ins = source.Instructions[i];
                switch (ins.Op)
                {
                    case Op.Input when ins.Kind == ValueKind.Scalar:
                    {
                        var y = Constant(b.Emit(ins));
                        if (K >= 1) y[1] = b.Constant(1.0);
                        series[i] = y;
                        continue;
                    }
                    case Op.Capture: series[i] = capture(ins.A); continue;
                    case Op.State: series[i] = states[ins.A]; continue;
                    case Op.LoopIndex: series[i] = [loopIndex!.Value]; continue;
                    case Op.Project: series[i] = results[ins.A][ins.B]; continue;
                    case Op.Sum or Op.Fold:
                        if (Loop(source, ins, series) is not { } loop) return null;
                        results[i] = loop;
                        continue;
                    case Op.Map or Op.ArgMax or Op.ArgMin or Op.TapedState or Op.ScatterAdd or Op.ZeroArray or Op.ArrayAdd or Op.InputAt or Op.InputLength:
                        return null;
                }
                if (ins.IsLeaf)
                {
                    // Constants and data: values that do not depend on x.
                    var value = b.Emit(ins);
                    series[i] = ins.Kind == ValueKind.Scalar ? Constant(value) : [value];
                    continue;
                }
                var operands = Enumerable.Range(0, ins.Arity).Select(k => series[ins.Operand(k).Index]!).ToArray();
                if (ins.Kind != ValueKind.Scalar || operands.All(IsConstant))
                {
                    // Nothing to propagate: the operation on the values (a scalar result's higher coefficients are zero). Re-emitted
                    // whole, so that what the instruction holds besides its operands (the accessor of a read of an object, the
                    // definition a user's method call names) stays.
                    var value = b.Emit(ins.WithOperands(v => series[v.Index]![0]));
                    series[i] = ins.Kind == ValueKind.Scalar ? Constant(value) : [value];
                    continue;
                }
                if (Scalar(ins, operands) is not { } result) return null;
                series[i] = result;
            }
            return series;
        }

        /// <summary>The series of a scalar operation with at least one operand that depends on x; null when not covered.</summary>
        private Value[]? Scalar(Instruction ins, Value[][] o)
        {
            Value[] A() => o[0];
            Value[] B() => o[1];
            Value Primal() => Emit(ins.Op, o);
            var one = Constant(b.Constant(1.0));
            switch (ins.Op)
            {
                case Op.Add or Op.Sub: return Enumerable.Range(0, K + 1).Select(k => b.Emit(ins.Op, A()[k], B()[k])).ToArray();
                case Op.Neg: return A().Select(b.Neg).ToArray();
                case Op.Mul: return Product(A(), B());
                case Op.Div: return Quotient(A(), B());
                case Op.FusedMultiplyAdd: return Add(Product(A(), B()), o[2]);
                case Op.Exp: return Exp(A(), Primal());
                case Op.Log: return Log(A(), Primal());
                case Op.Log10 or Op.Log2:
                    return Replace0(Scale(1 / Math.Log(ins.Op == Op.Log10 ? 10 : 2), Log(A(), b.Emit(Op.Log, A()[0]))), Primal());
                case Op.Sqrt: return Sqrt(A(), Primal());
                case Op.Sin: return SinCos(A(), hyperbolic: false).S;
                case Op.Cos: return SinCos(A(), hyperbolic: false).C;
                case Op.Sinh: return SinCos(A(), hyperbolic: true).S;
                case Op.Cosh: return SinCos(A(), hyperbolic: true).C;
                case Op.Pow when IsConstant(B()):
                    return b.TryGetConstant(B()[0], out double r) ? ConstantPower(A(), r, Primal()) : Power(A(), B()[0], Primal());
                case Op.Pow:
                    // a^c = exp(c log a), y_0 as Math.Pow computes it.
                    return Replace0(Exp(Product(B(), Log(A(), b.Emit(Op.Log, A()[0]))), Primal()), Primal());
                case Op.Tanh or Op.Tan:
                {
                    // tanh' = 1 - y², tan' = 1 + y²: h_{k-1} from y_0 .. y_{k-1}.
                    var a = A();
                    var y = new Value[K + 1];
                    var h = new Value[K + 1];
                    y[0] = Primal();
                    for (int k = 1; k <= K; k++)
                    {
                        int m = k - 1;
                        h[m] = ins.Op == Op.Tanh ? b.Sub(one[m], Convolve(y, y, m, 0, m)) : b.Add(one[m], Convolve(y, y, m, 0, m));
                        y[k] = Chain(a, h, k);
                    }
                    return y;
                }
                case Op.Atan: return Integrate(A(), Primal(), Quotient(one, Add(one, Product(A(), A()))));
                case Op.Atanh: return Integrate(A(), Primal(), Quotient(one, Add(one, Scale(-1, Product(A(), A())))));
                case Op.Asin or Op.Acos:
                {
                    // asin' = 1 / √(1 - a²), acos' = -asin'.
                    var inner = Add(one, Scale(-1, Product(A(), A())));
                    var h = Quotient(one, Sqrt(inner, b.Emit(Op.Sqrt, inner[0])));
                    return Integrate(A(), Primal(), ins.Op == Op.Asin ? h : Scale(-1, h));
                }
                case Op.Asinh or Op.Acosh:
                {
                    // asinh' = 1 / √(a² + 1), acosh' = 1 / √(a² - 1).
                    var inner = Add(Product(A(), A()), Constant(b.Constant(ins.Op == Op.Asinh ? 1.0 : -1.0)));
                    return Integrate(A(), Primal(), Quotient(one, Sqrt(inner, b.Emit(Op.Sqrt, inner[0]))));
                }
                case Op.Cbrt: return ConstantPower(A(), 1.0 / 3, Primal());
                case Op.Abs:
                {
                    // |a| = sign(a_0) a away from 0 (at 0 the derivative rule's choice: sign 0).
                    var sign = b.Emit(Op.IntToDouble, b.Emit(Op.Sign, A()[0]));
                    var y = A().Select(v => b.Mul(sign, v)).ToArray();
                    y[0] = Primal();
                    return y;
                }
                case Op.Select:
                    return Enumerable.Range(0, K + 1).Select(k => b.Emit(Op.Select, o[0][0], Coefficient(o[1], k), Coefficient(o[2], k))).ToArray();
                case Op.Max or Op.Min:
                {
                    // The branch the primal takes (the first operand on ties, as the derivative rule).
                    var first = b.Emit(ins.Op == Op.Max ? Op.GreaterOrEqual : Op.LessOrEqual, A()[0], B()[0]);
                    return Enumerable.Range(0, K + 1).Select(k => k == 0 ? Primal() : b.Emit(Op.Select, first, A()[k], B()[k])).ToArray();
                }
                case Op.Floor or Op.Ceiling or Op.Round or Op.Truncate or Op.Sign: return Constant(Primal());
                default: return null;
            }
        }

        private Value Coefficient(Value[] s, int k) => k < s.Length ? s[k] : Zero();

        private static Value[] Replace0(Value[] s, Value y0)
        {
            s[0] = y0;
            return s;
        }

        /// <summary>A sum or fold: its body transformed in a child builder, each scalar result and state carried as K + 1 values.</summary>
        private Value[][]? Loop(Trace source, Instruction ins, Value[]?[] series)
        {
            var region = source.Regions[ins.C];
            if (region.Backward || region.TapeOf is not null || region.RecordedCount > 0) return null;
            var child = b.CreateBody();
            var inner = new Series(child, K);
            var captured = region.Captures.Select(c => series[c.Index]!).ToArray();
            // The fold's states: K + 1 scalar states each (arrays are not covered).
            if (region.Initial.Any(v => source[v].Kind != ValueKind.Scalar)) return null;
            var initial = region.Initial.Select(v => series[v.Index]!).ToArray();
            var states = Enumerable.Range(0, initial.Length).Select(s => Enumerable.Range(0, K + 1).Select(k => child.State(s * (K + 1) + k)).ToArray()).ToArray();
            var body = inner.Of(region.Body, c => captured[c].Select(v => child.Capture(v)).ToArray(), states, child.LoopIndex());
            if (body is null) return null;
            var outputs = region.Body.Outputs.Select(o => body[o.Index]!).ToArray();
            if (outputs.Any(s => s.Length != K + 1)) return null; // a scalar output (sum or state) carries its coefficients
            var flat = outputs.SelectMany(s => s).ToList();
            Value[] values;
            if (ins.Op == Op.Sum) values = b.EmitSum(series[ins.A]![0], series[ins.B]![0], child, flat, region.Style);
            else
            {
                // Results: the states' final coefficients, then the sums'.
                values = b.EmitFold(series[ins.A]![0], series[ins.B]![0], initial.SelectMany(s => s).ToArray(), child, flat).Results;
            }
            return Enumerable.Range(0, outputs.Length).Select(o => values[(o * (K + 1))..((o + 1) * (K + 1))]).ToArray();
        }
    }
}
