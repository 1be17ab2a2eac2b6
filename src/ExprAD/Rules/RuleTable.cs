using System.Linq.Expressions;
using System.Reflection;
using ExprAD.IR;

namespace ExprAD.Rules;

/// <summary>
/// The one table of primitives and their derivative rules. Adding an operation means adding
/// one entry here (and one row to the rule test). Partial derivatives may reuse the primal
/// result <c>y</c> (d/dx exp x = y, d/dx sqrt x = 0.5 / y).
/// </summary>
/// <remarks>
/// Conventions at non-smooth points: Abs'(0) = 0; Max and Min send the derivative to the first
/// operand on ties; Floor, Ceiling, Round, Truncate and Sign have derivative 0; Clamp passes the
/// derivative of x inside [lo, hi] (ends included) and of the bound it is clamped to outside;
/// the remainder a % b has partials (1, -trunc(a / b)); d/dq p^q = 0 at p = 0; a select
/// (<c>c ? a : b</c>), Max, Min and Clamp have the derivative of the operand they pass through,
/// and the operands they do not pass through contribute nothing, even where their own derivative
/// is infinite or NaN.
/// </remarks>
internal static class RuleTable
{
    private static readonly Primitive?[] ByOp = new Primitive?[Enum.GetValues<Op>().Length];
    private static readonly Dictionary<MethodInfo, Primitive> ByMethod = new();

    /// <summary>The entry of <paramref name="op"/>; leaves (Const, Input, Data) have none.</summary>
    public static Primitive Get(Op op) =>
        ByOp[(int)op] ?? throw new InvalidOperationException($"{op} has no rule-table entry.");

    /// <summary>The entry of an instruction: its operation's, or for <see cref="Op.Call"/> the user's definition it calls.</summary>
    public static Primitive Of(Instruction ins) => ins.Op == Op.Call ? CustomRules.Get((int)ins.Number) : Get(ins.Op);

    /// <summary>The primitive a <see cref="System.Math"/> method maps to, or the user's latest definition for the method, if any.</summary>
    public static bool TryGetByMethod(MethodInfo method, out Primitive primitive) =>
        ByMethod.TryGetValue(method, out primitive!) || CustomRules.TryGet(method, out primitive);

    /// <summary>All primitives, in <see cref="Op"/> order.</summary>
    public static IEnumerable<Primitive> All => ByOp.Where(p => p is not null)!;

    /// <summary>
    /// Evaluates <paramref name="p"/> on constant operands. Integer arithmetic wraps like unchecked C#;
    /// integer division by zero throws <see cref="DivideByZeroException"/> as it would at run time.
    /// </summary>
    public static double Evaluate(Primitive p, ValueKind operandKind, double[] operands)
    {
        if (p.Signature == OpSignature.Numeric && operandKind == ValueKind.Integer && p.Op is Op.Neg or Op.Add or Op.Sub or Op.Mul or Op.Div or Op.Rem)
        {
            int x = (int)operands[0], y = operands.Length > 1 ? (int)operands[1] : 0;
            return p.Op switch
            {
                Op.Neg => unchecked(-x),
                Op.Add => unchecked(x + y),
                Op.Sub => unchecked(x - y),
                Op.Mul => unchecked(x * y),
                Op.Div => x / y,
                Op.Rem => x % y,
                _ => throw new InvalidOperationException($"{p.Op} is not an integer operation."),
            };
        }
        return p.Evaluate(operands);
    }

    static RuleTable()
    {
        static MethodInfo MathMethod(string name, int arity) =>
            typeof(Math).GetMethod(name, Enumerable.Repeat(typeof(double), arity).ToArray())
            ?? throw new MissingMethodException(nameof(Math), name);
        static Func<Expression[], Expression> Call(MethodInfo m) => a => Expression.Call(m, a);

        // One scalar function of System.Math: y = f(x), dy/dx = partial(b, x, y).
        void Function(Op op, string name, string method, Func<TraceBuilder, Value, Value, Value?> partial, bool costly = true)
        {
            var m = MathMethod(method, 1);
            var f = m.CreateDelegate<Func<double, double>>();
            Add(new Primitive
            {
                Op = op, Name = name, Arity = 1, Signature = OpSignature.Scalar, IsCostly = costly,
                Evaluate = a => f(a[0]), Emit = Call(m), Methods = [m],
                Partials = (b, a, y) => [partial(b, a[0], y)],
            });
        }

        // A scalar function of two operands.
        void Function2(Op op, string name, string method, PartialsRule partials)
        {
            var m = MathMethod(method, 2);
            var f = m.CreateDelegate<Func<double, double, double>>();
            Add(new Primitive
            {
                Op = op, Name = name, Arity = 2, Signature = OpSignature.Scalar, IsCostly = true,
                Evaluate = a => f(a[0], a[1]), Emit = Call(m), Methods = [m], Partials = partials,
            });
        }

        // A piecewise-constant function: derivative zero everywhere it exists.
        void Step(Op op, string name, string method) => Function(op, name, method, (_, _, _) => null, costly: false);

        void Arithmetic(Op op, string symbol, int arity, Func<double[], double> evaluate,
            Func<Expression[], Expression> emit, PartialsRule partials, bool commutative = false) =>
            Add(new Primitive
            {
                Op = op, Name = symbol, IsInfix = arity == 2, Arity = arity, Signature = OpSignature.Numeric,
                IsCommutative = commutative, Evaluate = evaluate, Emit = emit, Partials = partials,
            });

        void Comparison(Op op, string symbol, Func<double, double, bool> evaluate, Func<Expression, Expression, Expression> emit) =>
            Add(new Primitive
            {
                Op = op, Name = symbol, IsInfix = true, Arity = 2, Signature = OpSignature.Compare,
                IsCommutative = op is Op.Equal or Op.NotEqual,
                Evaluate = a => evaluate(a[0], a[1]) ? 1 : 0, Emit = a => emit(a[0], a[1]),
            });

        Value One(TraceBuilder b) => b.Constant(1.0);
        Value Square(TraceBuilder b, Value x) => b.Mul(x, x);
        // p^(q-1), the factor of pow's derivative in p: for q a constant integer from 2 to 8, by multiplications (a call of
        // Math.Pow costs about ten multiplications, and a derivative, unlike the value, need not round as C#'s Math.Pow does).
        Value PowerBelow(TraceBuilder b, Value p, Value q)
        {
            if (!b.TryGetConstant(q, out var k) || k != Math.Floor(k) || k < 2 || k > 8) return b.Emit(Op.Pow, p, b.Sub(q, One(b)));
            var power = p;
            for (int i = 2; i < k; i++) power = b.Mul(power, p);
            return power;
        }

        Arithmetic(Op.Neg, "-", 1, a => -a[0], a => Expression.Negate(a[0]), (b, a, y) => [b.Constant(-1.0)]);
        Arithmetic(Op.Add, "+", 2, a => a[0] + a[1], a => Expression.Add(a[0], a[1]), (b, a, y) => [One(b), One(b)], commutative: true);
        Arithmetic(Op.Sub, "-", 2, a => a[0] - a[1], a => Expression.Subtract(a[0], a[1]), (b, a, y) => [One(b), b.Constant(-1.0)]);
        Arithmetic(Op.Mul, "×", 2, a => a[0] * a[1], a => Expression.Multiply(a[0], a[1]), (b, a, y) => [a[1], a[0]], commutative: true);
        Arithmetic(Op.Div, "/", 2, a => a[0] / a[1], a => Expression.Divide(a[0], a[1]),
            (b, a, y) => [b.Div(One(b), a[1]), b.Neg(b.Div(y, a[1]))]);
        Arithmetic(Op.Rem, "%", 2, a => a[0] % a[1], a => Expression.Modulo(a[0], a[1]),
            (b, a, y) => [One(b), b.Neg(b.Emit(Op.Truncate, b.Div(a[0], a[1])))]);

        Function(Op.Sin, "sin", nameof(Math.Sin), (b, x, y) => b.Emit(Op.Cos, x));
        Function(Op.Cos, "cos", nameof(Math.Cos), (b, x, y) => b.Neg(b.Emit(Op.Sin, x)));
        Function(Op.Tan, "tan", nameof(Math.Tan), (b, x, y) => b.Add(One(b), Square(b, y)));
        Function(Op.Asin, "asin", nameof(Math.Asin), (b, x, y) => b.Div(One(b), b.Emit(Op.Sqrt, b.Sub(One(b), Square(b, x)))));
        Function(Op.Acos, "acos", nameof(Math.Acos), (b, x, y) => b.Neg(b.Div(One(b), b.Emit(Op.Sqrt, b.Sub(One(b), Square(b, x))))));
        Function(Op.Atan, "atan", nameof(Math.Atan), (b, x, y) => b.Div(One(b), b.Add(One(b), Square(b, x))));
        Function2(Op.Atan2, "atan2", nameof(Math.Atan2), (b, a, y) =>
        {
            // atan2(p, q): d/dp = q / (p^2 + q^2), d/dq = -p / (p^2 + q^2).
            var r2 = b.Add(Square(b, a[0]), Square(b, a[1]));
            return [b.Div(a[1], r2), b.Neg(b.Div(a[0], r2))];
        });
        Function(Op.Sinh, "sinh", nameof(Math.Sinh), (b, x, y) => b.Emit(Op.Cosh, x));
        Function(Op.Cosh, "cosh", nameof(Math.Cosh), (b, x, y) => b.Emit(Op.Sinh, x));
        Function(Op.Tanh, "tanh", nameof(Math.Tanh), (b, x, y) => b.Sub(One(b), Square(b, y)));
        Function(Op.Asinh, "asinh", nameof(Math.Asinh), (b, x, y) => b.Div(One(b), b.Emit(Op.Sqrt, b.Add(Square(b, x), One(b)))));
        // sqrt(x - 1) sqrt(x + 1) rather than sqrt(x^2 - 1): no overflow of x^2 for large x.
        Function(Op.Acosh, "acosh", nameof(Math.Acosh), (b, x, y) =>
            b.Div(One(b), b.Mul(b.Emit(Op.Sqrt, b.Sub(x, One(b))), b.Emit(Op.Sqrt, b.Add(x, One(b))))));
        Function(Op.Atanh, "atanh", nameof(Math.Atanh), (b, x, y) => b.Div(One(b), b.Sub(One(b), Square(b, x))));
        Function(Op.Exp, "exp", nameof(Math.Exp), (b, x, y) => y);
        Function(Op.Log, "ln", nameof(Math.Log), (b, x, y) => b.Div(One(b), x));
        Function2(Op.LogBase, "log", nameof(Math.Log), (b, a, y) =>
        {
            // log_q p = ln p / ln q: d/dp = 1 / (p ln q), d/dq = -y / (q ln q).
            var lnBase = b.Emit(Op.Log, a[1]);
            return [b.Div(One(b), b.Mul(a[0], lnBase)), b.Neg(b.Div(y, b.Mul(a[1], lnBase)))];
        });
        Function(Op.Log10, "log10", nameof(Math.Log10), (b, x, y) => b.Div(b.Constant(1 / Math.Log(10)), x));
        Function(Op.Log2, "log2", nameof(Math.Log2), (b, x, y) => b.Div(b.Constant(1 / Math.Log(2)), x));
        Function(Op.Sqrt, "sqrt", nameof(Math.Sqrt), (b, x, y) => b.Div(b.Constant(0.5), y), costly: false);
        Function(Op.Cbrt, "cbrt", nameof(Math.Cbrt), (b, x, y) => b.Div(One(b), b.Mul(b.Constant(3.0), Square(b, y))));
        Function2(Op.Pow, "pow", nameof(Math.Pow), (b, a, y) =>
            // d/dp p^q = q p^(q-1); d/dq p^q = p^q ln p, taken as 0 at p = 0 (its limit from p > 0 when
            // q > 0), not 0 * -inf = NaN. For p < 0 it is NaN, which only matters when q is active.
            [b.Mul(a[1], PowerBelow(b, a[0], a[1])),
             b.Select(b.Emit(Op.Equal, a[0], b.Constant(0.0)), b.Constant(0.0), b.Mul(y, b.Emit(Op.Log, a[0])))]);
        Function(Op.Abs, "abs", nameof(Math.Abs), (b, x, y) =>
            b.Select(b.Emit(Op.GreaterThan, x, b.Constant(0.0)), One(b),
                b.Select(b.Emit(Op.LessThan, x, b.Constant(0.0)), b.Constant(-1.0), b.Constant(0.0))), costly: false);
        // Max and Min pass one operand through: the first on ties, and the one that is NaN (Math.Max and Math.Min return a NaN
        // operand, the first when both are), so that the derivative is that of the operand returned.
        void Chooser(Op op, string name, string method, Op firstWhen)
        {
            var m = MathMethod(method, 2);
            var f = m.CreateDelegate<Func<double, double, double>>();
            Add(new Primitive
            {
                Op = op, Name = name, Arity = 2, Signature = OpSignature.Scalar,
                Evaluate = a => f(a[0], a[1]), Emit = Call(m), Methods = [m],
                PassThrough = (b, a) =>
                {
                    var first = b.Emit(Op.Or, b.Emit(firstWhen, a[0], a[1]), b.Emit(Op.NotEqual, a[0], a[0]));
                    return [first, b.Emit(Op.Not, first)];
                },
            });
        }
        Chooser(Op.Max, "max", nameof(Math.Max), Op.GreaterOrEqual);
        Chooser(Op.Min, "min", nameof(Math.Min), Op.LessOrEqual);
        var clamp = MathMethod(nameof(Math.Clamp), 3);
        Add(new Primitive
        {
            Op = Op.Clamp, Name = "clamp", Arity = 3, Signature = OpSignature.Scalar, MayThrow = true,
            Evaluate = a => Math.Clamp(a[0], a[1], a[2]), Emit = Call(clamp), Methods = [clamp],
            PassThrough = (b, a) =>
            {
                var below = b.Emit(Op.LessThan, a[0], a[1]);
                var above = b.Emit(Op.And, b.Emit(Op.Not, below), b.Emit(Op.GreaterThan, a[0], a[2]));
                return [b.Emit(Op.Not, b.Emit(Op.Or, below, above)), below, above];
            },
        });
        var fma = MathMethod(nameof(Math.FusedMultiplyAdd), 3);
        Add(new Primitive
        {
            Op = Op.FusedMultiplyAdd, Name = "fma", Arity = 3, Signature = OpSignature.Scalar,
            Evaluate = a => Math.FusedMultiplyAdd(a[0], a[1], a[2]), Emit = Call(fma), Methods = [fma],
            Partials = (b, a, y) => [a[1], a[0], One(b)],
        });
        Step(Op.Floor, "floor", nameof(Math.Floor));
        Step(Op.Ceiling, "ceiling", nameof(Math.Ceiling));
        Step(Op.Round, "round", nameof(Math.Round));
        Step(Op.Truncate, "truncate", nameof(Math.Truncate));

        // a (x) b = (a == 0 ? 0 : a * b). The reverse transform multiplies an adjoint that a select
        // may have zeroed by a local partial with this product, so that the untaken branch of
        // c ? ln(x) : 0 at x = 0 contributes 0, not 0 * infinity = NaN.
        Add(new Primitive
        {
            Op = Op.MaskedMul, Name = "⊙", IsInfix = true, Arity = 2, Signature = OpSignature.Scalar,
            Evaluate = a => a[0] == 0 ? 0 : a[0] * a[1],
            Emit = a => Expression.Condition(Expression.Equal(a[0], Expression.Constant(0.0)), Expression.Constant(0.0), Expression.Multiply(a[0], a[1])),
            Tangent = (b, a, y, t) =>
            {
                Value? fromAdjoint = t[0] is { } t0 ? b.Emit(Op.MaskedMul, t0, a[1]) : null;
                Value? fromFactor = t[1] is { } t1 ? b.Emit(Op.MaskedMul, a[0], t1) : null;
                return fromAdjoint is { } p ? (fromFactor is { } q ? b.Add(p, q) : p) : fromFactor;
            },
            Adjoint = (b, a, y, adjoint, contribute) =>
            {
                contribute(0, b.Emit(Op.MaskedMul, adjoint, a[1]));
                contribute(1, b.Emit(Op.MaskedMul, adjoint, a[0]));
            },
        });

        var sign = typeof(Math).GetMethod(nameof(Math.Sign), [typeof(double)])!;
        Add(new Primitive
        {
            Op = Op.Sign, Name = "sign", Arity = 1, Signature = OpSignature.ScalarToInteger, MayThrow = true,
            Evaluate = a => Math.Sign(a[0]), Emit = Call(sign), Methods = [sign],
        });
        Add(new Primitive
        {
            Op = Op.IntToDouble, Name = "double", Arity = 1, Signature = OpSignature.IntegerToScalar,
            Evaluate = a => a[0], Emit = a => Expression.Convert(a[0], typeof(double)),
        });
        Add(new Primitive
        {
            Op = Op.DoubleToInt, Name = "int", Arity = 1, Signature = OpSignature.ScalarToInteger,
            Evaluate = a => (int)a[0], Emit = a => Expression.Convert(a[0], typeof(int)),
        });

        var rangeCount = typeof(Codegen.Runtime).GetMethod(nameof(Codegen.Runtime.RangeCount))!;
        Add(new Primitive
        {
            Op = Op.RangeCount, Name = "rangecount", Arity = 2, Signature = OpSignature.Numeric, MayThrow = true,
            Evaluate = a => Codegen.Runtime.RangeCount((int)a[0], (int)a[1]), Emit = Call(rangeCount),
        });
        Add(new Primitive
        {
            Op = Op.NonEmpty, Name = "nonempty", Arity = 1, Signature = OpSignature.Numeric, MayThrow = true,
            Evaluate = a => Codegen.Runtime.NonEmpty(a[0]),
            Emit = a => Expression.Call(typeof(Codegen.Runtime).GetMethod(nameof(Codegen.Runtime.NonEmpty), [a[0].Type])!, a[0]),
        });

        Comparison(Op.LessThan, "<", (p, q) => p < q, Expression.LessThan);
        Comparison(Op.LessOrEqual, "≤", (p, q) => p <= q, Expression.LessThanOrEqual);
        Comparison(Op.GreaterThan, ">", (p, q) => p > q, Expression.GreaterThan);
        Comparison(Op.GreaterOrEqual, "≥", (p, q) => p >= q, Expression.GreaterThanOrEqual);
        Comparison(Op.Equal, "=", (p, q) => p == q, Expression.Equal);
        Comparison(Op.NotEqual, "≠", (p, q) => p != q, Expression.NotEqual);
        Add(new Primitive
        {
            Op = Op.And, Name = "∧", IsInfix = true, Arity = 2, Signature = OpSignature.Logic, IsCommutative = true,
            Evaluate = a => a[0] != 0 && a[1] != 0 ? 1 : 0, Emit = a => Expression.And(a[0], a[1]),
        });
        Add(new Primitive
        {
            Op = Op.Or, Name = "∨", IsInfix = true, Arity = 2, Signature = OpSignature.Logic, IsCommutative = true,
            Evaluate = a => a[0] != 0 || a[1] != 0 ? 1 : 0, Emit = a => Expression.Or(a[0], a[1]),
        });
        Add(new Primitive
        {
            Op = Op.Not, Name = "¬", Arity = 1, Signature = OpSignature.Logic,
            Evaluate = a => a[0] != 0 ? 0 : 1, Emit = a => Expression.Not(a[0]),
        });
        Add(new Primitive
        {
            Op = Op.Select, Name = "select", Arity = 3, Signature = OpSignature.Select,
            Evaluate = a => a[0] != 0 ? a[1] : a[2], Emit = a => Expression.Condition(a[0], a[1], a[2]),
            PassThrough = (b, a) => [null, a[0], b.Emit(Op.Not, a[0])],
        });
        AddArrayAccess();
    }

    private static void AddArrayAccess()
    {
        var element = typeof(Codegen.Runtime).GetMethod(nameof(Codegen.Runtime.Element), [typeof(double[]), typeof(int)])!;
        var integer = typeof(Codegen.Runtime).GetMethod(nameof(Codegen.Runtime.Element), [typeof(int[]), typeof(int)])!;
        var row = typeof(Codegen.Runtime).GetMethod(nameof(Codegen.Runtime.Row))!;
        Add(new Primitive
        {
            Op = Op.Element, Name = "element", Arity = 2, Signature = OpSignature.ArrayElement,
            Evaluate = _ => throw new NotSupportedException("The interpreter does not evaluate data arrays."),
            Emit = a => Expression.Call(a[0].Type == typeof(double[]) ? element : a[0].Type == typeof(int[]) ? integer : row, a[0], a[1]),
        });
        Add(new Primitive
        {
            Op = Op.ArrayLength, Name = "length", Arity = 1, Signature = OpSignature.ArrayLength,
            Evaluate = _ => throw new NotSupportedException("The interpreter does not evaluate data arrays."),
            Emit = a => Expression.ArrayLength(a[0]),
        });
        // Reads of objects are data: no derivative rules. They are lowered through their accessors, which the table does not hold.
        foreach (var (op, arity) in new[] { (Op.Read, 1), (Op.ReadAt, 2) })
            Add(new Primitive
            {
                Op = op, Name = "read", Arity = arity, Signature = OpSignature.Read, MayThrow = true,
                Evaluate = _ => throw new NotSupportedException("The interpreter does not evaluate reads of objects."),
                Emit = _ => throw new InvalidOperationException("A read is lowered through its accessor (Trace.DataReads)."),
            });
    }

    private static void Add(Primitive p)
    {
        if (ByOp[(int)p.Op] is not null) throw new InvalidOperationException($"{p.Op} has two entries.");
        ByOp[(int)p.Op] = p;
        foreach (var m in p.Methods) ByMethod.Add(m, p);
    }
}
