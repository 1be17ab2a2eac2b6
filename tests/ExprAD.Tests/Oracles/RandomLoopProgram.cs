using System.Linq.Expressions;
using System.Reflection;
using System.Text;

namespace ExprAD.Tests.Oracles;

/// <summary>
/// A random program with loops, built with the System.Linq.Expressions API from a seed: a lambda
/// <c>x =&gt; ...</c> over the active array whose body mixes the loop forms the frontend supports
/// (see <c>LinqLoops</c>): sources <c>Enumerable.Range(a, n)</c>, x, or a data array (a captured field);
/// stages <c>Select</c> (with and without the index, chained), <c>Where</c> (on indices, or on active values
/// against constants, elements of x or enclosing loop variables), <c>Zip</c> with a data array or with x,
/// <c>ToArray</c>; terminals <c>Sum</c>, <c>Max</c>, <c>Min</c>, <c>Average</c> (with or without a selector) and
/// <c>Aggregate</c> with a scalar or a 2- or 3-element <c>new[] { ... }</c> state, with or without a result
/// selector. Loop bodies read x at constant and computed indices (<c>x[(i + c) % x.Length]</c>), data arrays
/// at computed indices, the loop index as a double, and invoke small lambdas; loops nest three levels (sums in
/// sums, folds in sums, sums and folds in fold bodies, sums of sums in fold bodies, loops in seeds and result selectors).
/// </summary>
/// <remarks>
/// Values stay finite and moderate so that both the compiled code and the finite-difference oracle
/// are meaningful: the Math functions are applied only inside their domains (logarithms of 1 + a²,
/// divisions by 1 + b², exponentials of sines), the loop index enters as a small multiple of itself
/// (0.1 i) or as a computed index <c>x[(i + c) % x.Length]</c>, and every fold update is bounded
/// whatever its body (tanh, sin, a contraction such as 0.5 s + sin(E), or s · cos(E)), so that a fold
/// of 30 steps cannot overflow. Trip counts are 0 to 30 (constants, x.Length ± c, a data array's length,
/// or an outer loop variable plus a constant); Max, Min and Average always run over at least one element,
/// where LINQ would throw on none. All loop indices are non-negative, so computed indices stay in bounds.
/// </remarks>
internal sealed class RandomLoopProgram
{
    /// <summary>
    /// Data arrays, read through fields of a closure-like object, as a C# lambda capturing locals reads them; the k-th
    /// array of a program is field Data{k}, so that the printed lambda tells them apart.
    /// </summary>
    public sealed class Closure
    {
        public double[] Data0 = [], Data1 = [], Data2 = [], Data3 = [];
    }

    private const int MaxDataArrays = 4;

    private static readonly MethodInfo Sin = Math1(nameof(Math.Sin)), Cos = Math1(nameof(Math.Cos)),
        Tanh = Math1(nameof(Math.Tanh)), Atan = Math1(nameof(Math.Atan)), Asinh = Math1(nameof(Math.Asinh)),
        Exp = Math1(nameof(Math.Exp)), Log = Math1(nameof(Math.Log)), Sqrt = Math1(nameof(Math.Sqrt)),
        Cbrt = Math1(nameof(Math.Cbrt)), Sinh = Math1(nameof(Math.Sinh)),
        Pow = Math2(nameof(Math.Pow)), Atan2 = Math2(nameof(Math.Atan2));

    private static MethodInfo Math1(string name) => typeof(Math).GetMethod(name, [typeof(double)])!;
    private static MethodInfo Math2(string name) => typeof(Math).GetMethod(name, [typeof(double), typeof(double)])!;

    private static readonly MethodInfo RangeMethod = typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!;
    private static readonly MethodInfo SumOfDoubles = Plain(nameof(Enumerable.Sum)), AverageOfDoubles = Plain(nameof(Enumerable.Average)),
        MaxOfDoubles = Plain(nameof(Enumerable.Max)), MinOfDoubles = Plain(nameof(Enumerable.Min));
    private static readonly MethodInfo SumBy = BySelector(nameof(Enumerable.Sum)), AverageBy = BySelector(nameof(Enumerable.Average)),
        MaxBy = BySelector(nameof(Enumerable.Max)), MinBy = BySelector(nameof(Enumerable.Min));
    private static readonly MethodInfo SelectMethod = Generic(nameof(Enumerable.Select), 2, typeof(Func<,>)),
        SelectWithIndexMethod = Generic(nameof(Enumerable.Select), 2, typeof(Func<,,>)),
        WhereMethod = Generic(nameof(Enumerable.Where), 2, typeof(Func<,>)),
        ZipMethod = Generic(nameof(Enumerable.Zip), 3, typeof(Func<,,>)),
        AggregateMethod = Generic(nameof(Enumerable.Aggregate), 3, typeof(Func<,,>)),
        AggregateWithSelectorMethod = Generic(nameof(Enumerable.Aggregate), 4, typeof(Func<,,>));
    private static readonly MethodInfo ToArrayMethod = typeof(Enumerable).GetMethod(nameof(Enumerable.ToArray))!;

    /// <summary>The non-generic overload over IEnumerable&lt;double&gt; (not the generic Max&lt;T&gt;, which compares with a Comparer).</summary>
    private static MethodInfo Plain(string name) => typeof(Enumerable).GetMethod(name, [typeof(IEnumerable<double>)])!;

    /// <summary>The overload with a selector returning double: <c>Sum&lt;T&gt;(IEnumerable&lt;T&gt;, Func&lt;T, double&gt;)</c>.</summary>
    private static MethodInfo BySelector(string name) => typeof(Enumerable).GetMethods().Single(m =>
        m.Name == name && m.IsGenericMethodDefinition && m.GetParameters() is { Length: 2 } p &&
        p[1].ParameterType.IsGenericType && p[1].ParameterType.GetGenericTypeDefinition() == typeof(Func<,>) &&
        p[1].ParameterType.GetGenericArguments()[1] == typeof(double));

    /// <summary>The generic overload with <paramref name="count"/> parameters whose second (for Select, Where) or third argument is a <paramref name="func"/>.</summary>
    private static MethodInfo Generic(string name, int count, Type func) => typeof(Enumerable).GetMethods().Single(m =>
        m.Name == name && m.IsGenericMethodDefinition && m.GetParameters() is var p && p.Length == count &&
        p[count == 4 ? 2 : count - 1].ParameterType is { IsGenericType: true } t && t.GetGenericTypeDefinition() == func);

    /// <summary>The greatest loop nesting: a loop inside a loop, no deeper.</summary>
    private const int MaxDepth = 3;

    private readonly Random _rng;
    private readonly ParameterExpression _x = Expression.Parameter(typeof(double[]), "x");
    private readonly List<(string Name, double[] Values, Expression Read)> _data = new();
    private int _names;

    private RandomLoopProgram(int seed)
    {
        Seed = seed;
        _rng = new Random(seed);
    }

    public int Seed { get; }

    /// <summary>The length of x for this program (1 to 6); the points have this length.</summary>
    public int InputCount { get; private set; }

    public Expression<Func<double[], double>> Lambda { get; private set; } = null!;

    /// <summary>The same lambda compiled by <see cref="LambdaExpression.Compile()"/>: it runs the LINQ operators themselves.</summary>
    public Func<double[], double> Linq => _linq ??= Lambda.Compile();
    private Func<double[], double>? _linq;

    /// <summary>The features the program contains ("fold", "sum in fold", "where", ...), for the generator's own coverage test.</summary>
    public HashSet<string> Features { get; } = new();

    /// <summary>True when the program contains an Aggregate (checkpointing only matters then).</summary>
    public bool HasFold => Features.Contains("fold");

    /// <summary>The seed, the data arrays and the lambda, for failure messages.</summary>
    public override string ToString() => _text ??= Describe();
    private string? _text;

    private string Describe()
    {
        var text = new StringBuilder($"loop program seed {Seed} (reproduce with RandomLoopProgram.Generate({Seed})), {InputCount} inputs");
        foreach (var (name, values, _) in _data)
            text.Append($"\n  {name} = [{string.Join(", ", values.Select(v => v.ToString("R")))}]");
        text.Append("\n  ").Append(Lambda);
        return text.ToString();
    }

    /// <summary>Deterministic points in [-1.5, 1.5]^n for this program (full-precision doubles, printed with "R").</summary>
    public IEnumerable<double[]> Points(int count)
    {
        var rng = new Random(Seed ^ 0x100f);
        for (int p = 0; p < count; p++)
            yield return Enumerable.Range(0, InputCount).Select(_ => rng.NextDouble() * 3 - 1.5).ToArray();
    }

    /// <summary>What is in scope where an expression is generated.</summary>
    private sealed class Scope
    {
        /// <summary>double-valued variables: pipeline elements, fold states (s or s[k]), elements of the enclosing loops.</summary>
        public List<Expression> Doubles = new();

        /// <summary>Variables bound by the innermost loop: leaves prefer them, so that a body depends on its loop.</summary>
        public List<Expression> Innermost = new();

        /// <summary>Non-negative int variables: range indices and Select indices.</summary>
        public List<ParameterExpression> Ints = new();

        /// <summary>"sum", "extremum" or "fold" for each enclosing loop, outermost first.</summary>
        public List<string> Enclosing = new();

        public int Depth => Enclosing.Count;

        /// <summary>The scope of a loop body of kind <paramref name="kind"/> binding <paramref name="doubles"/> and <paramref name="ints"/>.</summary>
        public Scope Enter(string kind, IEnumerable<Expression> doubles, IEnumerable<ParameterExpression> ints)
        {
            var inner = new Scope
            {
                Doubles = new List<Expression>(Doubles),
                Ints = new List<ParameterExpression>(Ints),
                Enclosing = new List<string>(Enclosing) { kind },
            };
            foreach (var d in doubles) { inner.Doubles.Add(d); inner.Innermost.Add(d); }
            foreach (var i in ints) { inner.Ints.Add(i); inner.Innermost.Add(i); }
            return inner;
        }
    }

    public static RandomLoopProgram Generate(int seed)
    {
        var program = new RandomLoopProgram(seed);
        program.Build();
        return program;
    }

    private void Build()
    {
        InputCount = _rng.Next(1, 7);
        var top = new Scope();
        // Every program has a loop at the top; often combined with more code, which may hold more loops.
        var body = Loop(top, _rng.Next(2, 9));
        if (_rng.Next(10) < 6)
        {
            var more = Expr(top, _rng.Next(1, 8));
            body = _rng.Next(4) switch
            {
                0 => Expression.Multiply(body, more),
                1 => Expression.Subtract(more, body),
                2 => Expression.Divide(body, OnePlusSquare(more)),
                _ => Expression.Add(body, more),
            };
        }
        Lambda = Expression.Lambda<Func<double[], double>>(body, _x);
    }

    private string Name(string stem) => stem + _names++;
    private double Constant() => Math.Round(_rng.NextDouble() * 4 - 2, 2) is var c && c != 0 ? c : 0.5;
    private static Expression C(double c) => Expression.Constant(c);
    private static Expression I(int c) => Expression.Constant(c);

    /// <summary>
    /// e · e. A compound e is passed to an invoked lambda <c>(u =&gt; u * u)(e)</c> (which ExprAD inlines) rather
    /// than written twice: a tree that repeats a subtree, squared again inside it, prints (and runs under LINQ) in
    /// exponential size.
    /// </summary>
    private Expression Square(Expression e)
    {
        if (e is ParameterExpression or ConstantExpression || e is BinaryExpression { NodeType: ExpressionType.ArrayIndex, Right: ConstantExpression })
            return Expression.Multiply(e, e);
        Features.Add("invoke");
        var u = Expression.Parameter(typeof(double), Name("a"));
        return Expression.Invoke(Expression.Lambda<Func<double, double>>(Expression.Multiply(u, u), u), e);
    }

    private Expression OnePlusSquare(Expression e) => Expression.Add(C(1.0), Square(e));
    private static Expression Call(MethodInfo definition, Type[] types, params Expression[] arguments) =>
        Expression.Call(definition.MakeGenericMethod(types), arguments);
    private Expression Length => Expression.ArrayLength(_x);

    /// <summary>A random expression of about <paramref name="size"/> nodes, possibly with loops.</summary>
    private Expression Expr(Scope scope, int size)
    {
        if (size <= 1) return Leaf(scope);
        int loopPercent = scope.Depth >= MaxDepth ? 0 : scope.Depth == 0 ? 25 : 35;
        int r = _rng.Next(100);
        if (r < loopPercent && size >= 3) return Loop(scope, size - 1);
        if (_rng.Next(2) == 0) return Unary(Expr(scope, size - 1));
        int left = _rng.Next(1, size);
        return Binary(scope, Expr(scope, left), Expr(scope, Math.Max(1, size - 1 - left)));
    }

    /// <summary>
    /// A loop body: an expression that, most of the time, reads a variable the loop binds (a body that does not is
    /// hoisted out of the loop, which is worth testing too, but not in most programs).
    /// </summary>
    private Expression Body(Scope scope, int size)
    {
        var body = Expr(scope, size);
        var bound = scope.Innermost.SelectMany(Parameters).ToHashSet();
        if (bound.Count == 0 || Parameters(body).Any(bound.Contains) || _rng.Next(5) == 0) return body;
        var v = scope.Innermost[_rng.Next(scope.Innermost.Count)];
        return Binary(scope, body, v.Type == typeof(int) ? IntLeaf(scope, (ParameterExpression)v) : v);
    }

    /// <summary>The parameters an expression reads.</summary>
    private static HashSet<ParameterExpression> Parameters(Expression e)
    {
        var finder = new ParameterFinder();
        finder.Visit(e);
        return finder.Found;
    }

    private sealed class ParameterFinder : ExpressionVisitor
    {
        public readonly HashSet<ParameterExpression> Found = new();

        protected override Expression VisitParameter(ParameterExpression node)
        {
            Found.Add(node);
            return node;
        }
    }

    private Expression Leaf(Scope scope)
    {
        int r = _rng.Next(100);
        if (scope.Innermost.Count > 0 && r < 45)
        {
            var v = scope.Innermost[_rng.Next(scope.Innermost.Count)];
            return v.Type == typeof(int) ? IntLeaf(scope, (ParameterExpression)v) : v;
        }
        if (scope.Doubles.Count > 0 && r < 55) return scope.Doubles[_rng.Next(scope.Doubles.Count)];
        if (scope.Ints.Count > 0 && r < 65) return IntLeaf(scope, scope.Ints[_rng.Next(scope.Ints.Count)]);
        if (r < 90) return Expression.ArrayIndex(_x, I(_rng.Next(InputCount)));
        return C(Constant());
    }

    /// <summary>A double that uses the loop index <paramref name="i"/>: scaled, or as a computed index into x or a data array.</summary>
    private Expression IntLeaf(Scope scope, ParameterExpression i)
    {
        Features.Add("index");
        switch (_rng.Next(6))
        {
            case 0:
            case 1:
                return Expression.Multiply(Expression.Convert(i, typeof(double)), C(_rng.Next(2) == 0 ? 0.1 : 0.05));
            case 2:
                Features.Add("computed index");
                return Expression.ArrayIndex(_x, Expression.Modulo(i, Length));
            case 3:
            {
                Features.Add("computed index");
                // (i + c) % x.Length or, with two indices in scope, (i * c + j) % n with n the known length.
                var other = scope.Ints[_rng.Next(scope.Ints.Count)];
                Expression index = other != i
                    ? Expression.Add(Expression.Multiply(i, I(_rng.Next(1, 4))), other)
                    : Expression.Add(i, I(_rng.Next(0, 5)));
                return Expression.ArrayIndex(_x, Expression.Modulo(index, _rng.Next(2) == 0 ? Length : I(InputCount)));
            }
            case 4:
            {
                Features.Add("data index");
                var data = Data();
                return Expression.ArrayIndex(data, Expression.Modulo(i, Expression.ArrayLength(data)));
            }
            default:
                // An integer conditional: a choice without a kink.
                Features.Add("conditional");
                return Expression.Condition(Expression.Equal(Expression.Modulo(i, I(2)), I(0)),
                    Expression.ArrayIndex(_x, I(_rng.Next(InputCount))), Expression.Multiply(Expression.Convert(i, typeof(double)), C(0.1)));
        }
    }

    /// <summary>The source of a pipeline over an array: mostly x, sometimes a data array.</summary>
    private Expression Source()
    {
        if (_rng.Next(4) != 0) return _x;
        Features.Add("data source");
        return Data();
    }

    /// <summary>A data array (new, or one already made), read through a closure field.</summary>
    private Expression Data()
    {
        if (_data.Count == MaxDataArrays || _data.Count > 0 && _rng.Next(2) == 0) return _data[_rng.Next(_data.Count)].Read;
        var values = Enumerable.Range(0, _rng.Next(1, 9)).Select(_ => Math.Round(_rng.NextDouble() * 2 - 1, 3)).ToArray();
        var field = typeof(Closure).GetField("Data" + _data.Count)!;
        var closure = new Closure();
        field.SetValue(closure, values);
        var read = Expression.Field(Expression.Constant(closure), field);
        _data.Add((field.Name, values, read));
        return read;
    }

    private Expression Unary(Expression a)
    {
        return _rng.Next(15) switch
        {
            0 => Expression.Call(Sin, a),
            1 => Expression.Call(Cos, a),
            2 => Expression.Call(Tanh, a),
            3 => Expression.Call(Atan, a),
            4 => Expression.Call(Asinh, a),
            5 => Expression.Call(Exp, Expression.Call(Sin, a)),
            6 => Expression.Call(Log, OnePlusSquare(a)),
            7 => Expression.Call(Sqrt, OnePlusSquare(a)),
            8 => Expression.Call(Cbrt, OnePlusSquare(a)),
            9 => Expression.Negate(a),
            10 => Expression.Call(Sinh, Expression.Call(Tanh, a)),
            11 => Expression.Call(Pow, Expression.Call(Tanh, a), C(_rng.Next(2, 4))),
            12 => Square(Expression.Call(Sin, a)),
            _ => Expression.Multiply(a, C(Constant())),
        };
    }

    private Expression Binary(Scope scope, Expression a, Expression b)
    {
        int r = _rng.Next(8);
        if (_rng.Next(15) == 0)
        {
            // A choice on active values: a jump where the comparison flips (rare, so finite differences are rarely unreliable).
            Features.Add("active conditional");
            return Expression.Condition(Expression.GreaterThan(Leaf(scope), Leaf(scope)), a, b);
        }
        if (r == 7 && scope.Ints.Count > 0)
        {
            Features.Add("conditional");
            var i = scope.Ints[_rng.Next(scope.Ints.Count)];
            return Expression.Condition(Expression.NotEqual(Expression.Modulo(i, I(3)), I(1)), a, b);
        }
        return r switch
        {
            0 or 1 => Expression.Add(a, b),
            2 => Expression.Subtract(a, b),
            3 or 4 => Expression.Multiply(a, b),
            5 => Expression.Divide(a, OnePlusSquare(b)),
            _ => Expression.Call(Atan2, a, OnePlusSquare(b)),
        };
    }

    /// <summary>A trip count between 0 and about 30: a constant, x.Length ± c, or an enclosing loop's index plus a constant.</summary>
    private Expression TripCount(Scope scope, bool atLeastOne)
    {
        int r = _rng.Next(100);
        int low = atLeastOne ? 1 : 0;
        if (!atLeastOne && r < 10) { Features.Add("zero trips"); return I(0); }
        if (r < 55) return I(_rng.Next(Math.Max(1, low), 13));
        if (r < 70) { Features.Add("long loop"); return I(_rng.Next(13, 31)); }
        if (r < 72 || scope.Ints.Count == 0)
            return _rng.Next(4) switch
            {
                0 => Length,
                1 when !atLeastOne => Expression.Subtract(Length, I(1)),
                1 => Length,
                2 => Expression.Add(Length, I(_rng.Next(1, 6))),
                _ => Expression.ArrayLength(Data()),
            };
        Features.Add("trip count from a loop index");
        var outer = scope.Ints[_rng.Next(scope.Ints.Count)];
        return Expression.Add(outer, I(atLeastOne ? _rng.Next(1, 4) : _rng.Next(0, 4)));
    }

    private Expression Start(Scope scope) =>
        scope.Ints.Count > 0 && _rng.Next(4) == 0 ? scope.Ints[_rng.Next(scope.Ints.Count)] : I(_rng.Next(0, 4));

    private Expression Range(Scope scope, bool atLeastOne) => Expression.Call(RangeMethod, Start(scope), TripCount(scope, atLeastOne));

    private void Nesting(Scope scope, string kind)
    {
        Features.Add(kind);
        if (scope.Depth > 0) Features.Add($"{kind} in {scope.Enclosing[^1]}");
        if (scope.Depth > 1) Features.Add($"{kind} in {scope.Enclosing[^1]} in {scope.Enclosing[^2]}");
    }

    /// <summary>A loop: a sum, a masked sum, a zip, an extremum, an average, or a fold.</summary>
    private Expression Loop(Scope scope, int size)
    {
        int r = _rng.Next(100);
        // Inside a loop, prefer the other kind of loop: folds in sums and sums in fold bodies are the rarer mixtures.
        if (scope.Depth > 0 && _rng.Next(2) == 0) r = scope.Enclosing[^1] == "fold" ? _rng.Next(50) : 61 + _rng.Next(39);
        return r switch
        {
            < 22 => RangeSum(scope, size),
            < 34 => ArraySum(scope, size),
            < 44 => MaskedSum(scope, size),
            < 50 => ZipSum(scope, size),
            < 57 => Extremum(scope, size),
            < 61 => Average(scope, size),
            < 80 => ScalarFold(scope, size),
            _ => ArrayFold(scope, size),
        };
    }

    private Expression RangeSum(Scope scope, int size)
    {
        Nesting(scope, "sum");
        var i = Expression.Parameter(typeof(int), Name("i"));
        var range = Range(scope, atLeastOne: false);
        var inner = scope.Enter("sum", [], [i]);
        var body = Body(inner, size);
        switch (_rng.Next(4))
        {
            case 0:
            {
                // Range(a, n).Select(i => ...).Sum(w => ...)
                var selected = Call(SelectMethod, [typeof(int), typeof(double)], range, Expression.Lambda(body, i));
                var w = Expression.Parameter(typeof(double), Name("w"));
                var then = Body(scope.Enter("sum", [w], []), 2);
                return Call(SumBy, [typeof(double)], selected, Expression.Lambda(then, w));
            }
            case 1:
                return Expression.Call(SumOfDoubles, MaybeToArray(Call(SelectMethod, [typeof(int), typeof(double)], range, Expression.Lambda(body, i))));
            case 2:
            {
                // A mask on the index: no kink.
                Features.Add("where");
                var j = Expression.Parameter(typeof(int), Name("i"));
                var mask = Expression.NotEqual(Expression.Modulo(j, I(_rng.Next(2, 4))), I(_rng.Next(0, 2)));
                var masked = Call(WhereMethod, [typeof(int)], range, Expression.Lambda(mask, j));
                return Call(SumBy, [typeof(int)], masked, Expression.Lambda(body, i));
            }
            default:
                return Call(SumBy, [typeof(int)], range, Expression.Lambda(body, i));
        }
    }

    private Expression ArraySum(Scope scope, int size)
    {
        Nesting(scope, "sum");
        Features.Add("array source");
        var v = Expression.Parameter(typeof(double), Name("v"));
        switch (_rng.Next(6))
        {
            case 0:
                return Expression.Call(SumOfDoubles, Source());
            case 1:
            {
                Expression selected = Call(SelectMethod, [typeof(double), typeof(double)], Source(), Expression.Lambda(Body(scope.Enter("sum", [v], []), size), v));
                if (_rng.Next(3) == 0)
                {
                    // Two Selects in a row.
                    var w = Expression.Parameter(typeof(double), Name("w"));
                    selected = Call(SelectMethod, [typeof(double), typeof(double)], selected, Expression.Lambda(Body(scope.Enter("sum", [w], []), 2), w));
                }
                return Expression.Call(SumOfDoubles, MaybeToArray(selected));
            }
            case 2:
            case 5:
            {
                Features.Add("select with index");
                var k = Expression.Parameter(typeof(int), Name("k"));
                var body = Body(scope.Enter("sum", [v], [k]), size);
                return Expression.Call(SumOfDoubles, Call(SelectWithIndexMethod, [typeof(double), typeof(double)], Source(), Expression.Lambda(body, v, k)));
            }
            default:
                return Call(SumBy, [typeof(double)], Source(), Expression.Lambda(Body(scope.Enter("sum", [v], []), size), v));
        }
    }

    /// <summary>x.Where(v =&gt; v &gt; c).Sum(...): a mask on an active value, so a kink where an element crosses c.</summary>
    private Expression MaskedSum(Scope scope, int size)
    {
        Nesting(scope, "sum");
        Features.Add("where");
        Features.Add("array source");
        var v = Expression.Parameter(typeof(double), Name("v"));
        Expression source = Source();
        var u = Expression.Parameter(typeof(double), Name("u"));
        if (_rng.Next(3) == 0)
        {
            // Select before Where: the mask tests a computed value.
            source = Call(SelectMethod, [typeof(double), typeof(double)], source, Expression.Lambda(Unary(u), u));
        }
        var threshold = Threshold(scope);
        var mask = _rng.Next(2) == 0 ? Expression.GreaterThan(v, threshold) : (Expression)Expression.LessThan(v, threshold);
        var masked = Call(WhereMethod, [typeof(double)], source, Expression.Lambda(mask, v));
        var w = Expression.Parameter(typeof(double), Name("w"));
        switch (_rng.Next(4))
        {
            case 0:
                return Expression.Call(SumOfDoubles, masked);
            case 1:
            {
                // Where, then Select, then Sum(): the selector runs on kept elements only.
                var selected = Call(SelectMethod, [typeof(double), typeof(double)], masked, Expression.Lambda(Body(scope.Enter("sum", [w], []), size), w));
                return Expression.Call(SumOfDoubles, MaybeToArray(selected));
            }
            default:
                return Call(SumBy, [typeof(double)], masked, Expression.Lambda(Body(scope.Enter("sum", [w], []), size), w));
        }
    }

    /// <summary>
    /// The threshold of a mask on an active value: a constant, an element of x, or a variable of an enclosing loop
    /// (a fold state, an element), so that the set of kept elements moves with the inputs.
    /// </summary>
    private Expression Threshold(Scope scope)
    {
        int r = _rng.Next(10);
        if (r < 2) { Features.Add("active mask"); return Expression.ArrayIndex(_x, I(_rng.Next(InputCount))); }
        if (r < 4 && scope.Doubles.Count > 0) { Features.Add("active mask"); return scope.Doubles[_rng.Next(scope.Doubles.Count)]; }
        return C(Math.Round(_rng.NextDouble() * 2 - 1.2, 2));
    }

    /// <summary>Sometimes <c>.ToArray()</c> between a pipeline and its terminal (the frontend skips it; LINQ materialises it).</summary>
    private Expression MaybeToArray(Expression sequence)
    {
        if (_rng.Next(5) != 0) return sequence;
        Features.Add("to array");
        return Call(ToArrayMethod, [typeof(double)], sequence);
    }

    /// <summary>x.Zip(data, (p, q) =&gt; ...).Sum(), or zipped with x itself: stops at the shorter array.</summary>
    private Expression ZipSum(Scope scope, int size)
    {
        Nesting(scope, "sum");
        Features.Add("zip");
        var p = Expression.Parameter(typeof(double), Name("p"));
        var q = Expression.Parameter(typeof(double), Name("q"));
        var other = _rng.Next(4) == 0 ? _x : Data();
        var body = Body(scope.Enter("sum", [p, q], []), size);
        return Expression.Call(SumOfDoubles, Call(ZipMethod, [typeof(double), typeof(double), typeof(double)], Source(), other, Expression.Lambda(body, p, q)));
    }

    /// <summary>Max or Min, over x or over a range of at least one element, with or without a selector.</summary>
    private Expression Extremum(Scope scope, int size)
    {
        Nesting(scope, "extremum");
        bool max = _rng.Next(2) == 0;
        var v = Expression.Parameter(typeof(double), Name("v"));
        switch (_rng.Next(5))
        {
            case 0:
                return Expression.Call(max ? MaxOfDoubles : MinOfDoubles, Source());
            case 4:
            {
                var i = Expression.Parameter(typeof(int), Name("i"));
                var body = Body(scope.Enter("extremum", [], [i]), size);
                return Call(max ? MaxBy : MinBy, [typeof(int)], EvenIndices(scope), Expression.Lambda(body, i));
            }
            case 1:
            {
                var i = Expression.Parameter(typeof(int), Name("i"));
                var body = Body(scope.Enter("extremum", [], [i]), size);
                return Call(max ? MaxBy : MinBy, [typeof(int)], Range(scope, atLeastOne: true), Expression.Lambda(body, i));
            }
            case 2:
            {
                var selected = Call(SelectMethod, [typeof(double), typeof(double)], Source(), Expression.Lambda(Body(scope.Enter("extremum", [v], []), size), v));
                return Expression.Call(max ? MaxOfDoubles : MinOfDoubles, selected);
            }
            default:
                return Call(max ? MaxBy : MinBy, [typeof(double)], Source(), Expression.Lambda(Body(scope.Enter("extremum", [v], []), size), v));
        }
    }

    /// <summary>
    /// <c>Range(a, n).Where(i =&gt; i % 2 == 0)</c> with a even and n at least 1: a masked range that keeps at least its
    /// first element, for Max, Min and Average (which LINQ refuses on an empty sequence).
    /// </summary>
    private Expression EvenIndices(Scope scope)
    {
        Features.Add("where");
        Features.Add("masked extremum or average");
        var j = Expression.Parameter(typeof(int), Name("i"));
        var range = Expression.Call(RangeMethod, I(2 * _rng.Next(2)), TripCount(scope, atLeastOne: true));
        return Call(WhereMethod, [typeof(int)], range, Expression.Lambda(Expression.Equal(Expression.Modulo(j, I(2)), I(0)), j));
    }

    private Expression Average(Scope scope, int size)
    {
        Nesting(scope, "average");
        var v = Expression.Parameter(typeof(double), Name("v"));
        if (_rng.Next(2) == 0)
        {
            var i = Expression.Parameter(typeof(int), Name("i"));
            var source = _rng.Next(3) == 0 ? EvenIndices(scope) : Range(scope, atLeastOne: true);
            return Call(AverageBy, [typeof(int)], source, Expression.Lambda(Body(scope.Enter("sum", [], [i]), size), i));
        }
        return _rng.Next(3) == 0
            ? Expression.Call(AverageOfDoubles, Source())
            : Call(AverageBy, [typeof(double)], Source(), Expression.Lambda(Body(scope.Enter("sum", [v], []), size), v));
    }

    /// <summary>
    /// The source of a fold: a range (int elements), x, x.Select, x.Where (a kink where an element crosses
    /// the threshold), a range with Select or an index mask, or x zipped with a data array.
    /// </summary>
    private (Expression Source, Type Element) FoldSource(Scope scope)
    {
        var u = Expression.Parameter(typeof(double), Name("u"));
        var t = Expression.Parameter(typeof(int), Name("t"));
        switch (_rng.Next(10))
        {
            case 0:
            case 1:
            case 2:
                return (Range(scope, atLeastOne: false), typeof(int));
            case 3:
                Features.Add("array source");
                return (Source(), typeof(double));
            case 4:
                Features.Add("array source");
                return (Call(SelectMethod, [typeof(double), typeof(double)], Source(), Expression.Lambda(Unary(u), u)), typeof(double));
            case 5:
                Features.Add("where");
                Features.Add("array source");
                return (Call(WhereMethod, [typeof(double)], Source(), Expression.Lambda(Expression.GreaterThan(u, Threshold(scope)), u)), typeof(double));
            case 7:
            {
                // x.Select((u, k) => u * (0.1 k + c)): the position as well as the element.
                Features.Add("select with index");
                Features.Add("array source");
                var k = Expression.Parameter(typeof(int), Name("k"));
                var weight = Expression.Add(Expression.Multiply(Expression.Convert(k, typeof(double)), C(0.1)), C(Constant()));
                return (Call(SelectWithIndexMethod, [typeof(double), typeof(double)], Source(), Expression.Lambda(Expression.Multiply(u, weight), u, k)), typeof(double));
            }
            case 8:
                // Range(a, n).Select(t => x[t % x.Length] * 0.1 t): elements that are computed reads of x.
                Features.Add("computed index");
                return (Call(SelectMethod, [typeof(int), typeof(double)], Range(scope, atLeastOne: false), Expression.Lambda(
                    Expression.Multiply(Expression.ArrayIndex(_x, Expression.Modulo(t, Length)), Expression.Multiply(Expression.Convert(t, typeof(double)), C(0.1))), t)), typeof(double));
            case 6:
                Features.Add("where");
                return (Call(WhereMethod, [typeof(int)], Range(scope, atLeastOne: false),
                    Expression.Lambda(Expression.Equal(Expression.Modulo(t, I(2)), I(_rng.Next(2))), t)), typeof(int));
            default:
            {
                Features.Add("zip");
                var q = Expression.Parameter(typeof(double), Name("q"));
                return (Call(ZipMethod, [typeof(double), typeof(double), typeof(double)], Source(), Data(),
                    Expression.Lambda(Expression.Multiply(u, Expression.Add(q, C(1.0))), u, q)), typeof(double));
            }
        }
    }

    /// <summary>A small seed: a leaf of the enclosing scope, maybe through a function, sometimes a small expression.</summary>
    private Expression SeedOf(Scope scope)
    {
        switch (_rng.Next(8))
        {
            case 0: return C(Constant());
            case 1: return Unary(Leaf(scope));
            case 2:
                // A seed that may hold a loop of its own (bounded, as the fold's updates are).
                Features.Add("computed seed");
                return Expression.Call(Tanh, Expr(scope, 3));
            default: return Leaf(scope);
        }
    }

    /// <summary>
    /// A next state that stays bounded whatever <paramref name="e"/> is: squashed, a contraction, or a
    /// rotation-like product, so that 30 steps from a bounded seed cannot overflow.
    /// </summary>
    private Expression Bounded(Expression s, Expression e) => _rng.Next(6) switch
    {
        0 => Expression.Call(Tanh, Expression.Add(Expression.Multiply(C(Math.Round(_rng.NextDouble() * 3 - 1.5, 2)), s), e)),
        1 => Expression.Add(Expression.Multiply(C(0.5), s), Expression.Call(Sin, e)),
        2 => Expression.Call(Sin, Expression.Add(s, e)),
        3 => Expression.Add(s, Expression.Multiply(C(0.1), Expression.Call(Tanh, e))),
        4 => Expression.Add(Expression.Multiply(C(Math.Round(_rng.NextDouble() * 1.8 - 0.9, 2)), s), Expression.Multiply(C(0.3), Expression.Call(Atan, e))),
        _ => Expression.Multiply(s, Expression.Call(Cos, e)),
    };

    private Expression ScalarFold(Scope scope, int size)
    {
        Nesting(scope, "fold");
        Features.Add("scalar fold");
        var (source, element) = FoldSource(scope);
        var s = Expression.Parameter(typeof(double), Name("s"));
        var e = Expression.Parameter(element, Name(element == typeof(int) ? "t" : "e"));
        var inner = element == typeof(int) ? scope.Enter("fold", [s], [e]) : scope.Enter("fold", [s, e], []);
        var next = Bounded(s, Body(inner, size));
        var seed = SeedOf(scope);
        var accumulate = Expression.Lambda(next, s, e);
        if (_rng.Next(3) == 0)
        {
            Features.Add("result selector");
            var r = Expression.Parameter(typeof(double), Name("r"));
            Expression result = _rng.Next(4) switch
            {
                0 => Expression.Call(Sqrt, OnePlusSquare(r)),
                1 => Expression.Multiply(r, Leaf(scope)),
                // The selector runs once, after the loop, in the enclosing scope: it may hold a loop itself.
                2 => Binary(scope, r, Expr(scope, 3)),
                _ => Expression.Add(Expression.Call(Sin, r), r),
            };
            return Call(AggregateWithSelectorMethod, [element, typeof(double), typeof(double)], source, seed, accumulate, Expression.Lambda(result, r));
        }
        return Call(AggregateMethod, [element, typeof(double)], source, seed, accumulate);
    }

    private Expression ArrayFold(Scope scope, int size)
    {
        Nesting(scope, "fold");
        Features.Add("array fold");
        int m = _rng.Next(2, 4);
        var (source, element) = FoldSource(scope);
        var s = Expression.Parameter(typeof(double[]), Name("s"));
        var e = Expression.Parameter(element, Name(element == typeof(int) ? "t" : "e"));
        Expression Read(ParameterExpression array, int k) => Expression.ArrayIndex(array, I(k));
        var reads = Enumerable.Range(0, m).Select(k => Read(s, k)).ToList();
        var inner = element == typeof(int) ? scope.Enter("fold", reads, [e]) : scope.Enter("fold", reads.Append(e), []);
        var next = Enumerable.Range(0, m).Select(k => Bounded(Read(s, k), Body(inner, Math.Max(1, size / m + _rng.Next(0, 2))))).ToArray();
        var seed = Expression.NewArrayInit(typeof(double), Enumerable.Range(0, m).Select(_ => SeedOf(scope)));
        var accumulate = Expression.Lambda(Expression.NewArrayInit(typeof(double), next), s, e);
        if (_rng.Next(2) == 0)
        {
            Features.Add("result selector");
            var r = Expression.Parameter(typeof(double[]), Name("r"));
            int a = _rng.Next(m), b = _rng.Next(m);
            Expression result = _rng.Next(3) switch
            {
                0 => Expression.Add(Read(r, a), Expression.Multiply(C(Constant()), Read(r, b))),
                1 => Expression.Multiply(Read(r, a), Read(r, b)),
                _ => Expression.Add(Expression.Call(Tanh, Read(r, a)), Read(r, m - 1)),
            };
            return Call(AggregateWithSelectorMethod, [element, typeof(double[]), typeof(double)], source, seed, accumulate, Expression.Lambda(result, r));
        }
        return Expression.ArrayIndex(Call(AggregateMethod, [element, typeof(double[])], source, seed, accumulate), I(_rng.Next(m)));
    }
}
