using System.Collections.Immutable;
using System.Linq.Expressions;
using ExprAD.Errors;
using ExprAD.IR;
using static ExprAD.Frontend.DataTypes;

namespace ExprAD.Frontend;

// The user's objects: classes, structs and records read through fields and properties, and the arrays and lists of them
// that loops run over. An object is never active (see DataTypes.IsObjectType), so everything read from one is data: read at
// call time, never differentiated. An element of a loop over objects is not held in a value: each expression of it that the
// lambda reads (r.Y, r.X, r.Inner.Z, r.X.Length) is one read of the sequence at the loop index, `s[k].Inner.Z`, compiled as
// written, so that a struct element is never copied whole and nothing is read that the lambda does not use.
internal sealed partial class ExpressionTranslator
{
    /// <summary>
    /// One of the user's objects as the translator reaches it without holding it: <see cref="Template"/>, an expression over
    /// <see cref="Parameters"/> whose arguments are <see cref="Operands"/> (values of <see cref="Owner"/>). The template is the
    /// object itself (<c>o</c>, a value of kind <see cref="ValueKind.Object"/>), or an element of a sequence at an index
    /// (<c>s[k]</c>), or an expression of either (<c>s[k].Inner</c>).
    /// </summary>
    private sealed record ObjectRef(Expression Template, ImmutableArray<ParameterExpression> Parameters, ImmutableArray<Value> Operands, TraceBuilder Owner)
    {
        /// <summary>The expression <paramref name="node"/> of the object <paramref name="target"/> (which this reaches), reached the same way.</summary>
        public ObjectRef Through(Expression target, Expression node) =>
            this with { Template = ExpressionNodes.Replace(node, new Dictionary<Expression, Expression>(ReferenceEqualityComparer.Instance) { [target] = Template }) };
    }

    /// <summary>An element of a loop: a number or an array (<see cref="Value"/>), or an object (<see cref="Object"/>, read through, never held).</summary>
    private readonly record struct Item(Value Value, ObjectRef? Object = null);

    private static Binding BindingOf(Item item) =>
        item.Object is { } o ? new Binding(BindingKind.Object, -1, default, Object: o) : new Binding(BindingKind.Value, -1, item.Value);

    /// <summary>The element <paramref name="e"/> of a loop (a stage's result, say): an object when its type is one, else its value.</summary>
    private Item ItemOf(Expression e) => IsObjectType(e.Type) ? new Item(default, ObjectOf(e)) : new Item(Translate(e));

    /// <summary>The object that <paramref name="value"/> (of kind Object, whose CLR type is <paramref name="type"/>) holds.</summary>
    private ObjectRef Held(Value value, Type type)
    {
        var o = Expression.Parameter(type, "o");
        return new ObjectRef(o, [o], [value], _b);
    }

    /// <summary>Element <paramref name="index"/> of <paramref name="sequence"/>, a value of kind Object (an array or list of CLR type <paramref name="type"/>).</summary>
    private ObjectRef ElementRef(Value sequence, Type type, Value index)
    {
        var s = Expression.Parameter(type, "s");
        var k = Expression.Parameter(typeof(int), "k");
        return new ObjectRef(ElementAt(s, k), [s, k], [sequence, index], _b);
    }

    /// <summary>
    /// The object <paramref name="e"/> (of an object type), as <see cref="TryObjectOf"/> reaches it; otherwise it is computed
    /// from active values, which has no meaning as data, and is reported.
    /// </summary>
    private ObjectRef ObjectOf(Expression e) => TryObjectOf(e) ??
        throw Error.CannotDifferentiate(e, "an object computed from active values cannot be read; only data objects (the data argument, captured objects, their members and the elements of loops over them) can");

    /// <summary>
    /// The object <paramref name="e"/> (of an object type) when it is data: a loop element bound to a parameter, an object of
    /// the data or a closure (read once, as any data), an expression of a loop element's object, a member of such an object,
    /// or an element of a sequence at a computed index. Null otherwise.
    /// </summary>
    private ObjectRef? TryObjectOf(Expression e)
    {
        if (e is ParameterExpression p) return _bindings.TryGetValue(p, out var binding) && binding.Kind == BindingKind.Object ? binding.Object : null;
        if (IsDataRead(e)) return Held(Translate(e), e.Type);
        if (ElementParameterOf(e) is { } element) return _bindings[element].Object!.Through(element, e);
        if (e is MemberExpression { Expression: { } target } && IsObjectType(target.Type) && TryObjectOf(target) is { } outer) return outer.Through(target, e);
        if (IsElementAccess(e, out var sequence, out var index) && IsDataValue(sequence))
            return ElementRef(Translate(sequence), sequence.Type, Operand(index, e));
        return null;
    }

    /// <summary>
    /// The value that <paramref name="o"/>'s template reads (<paramref name="quoted"/> is what the user wrote, for errors): one
    /// read of the object (at its index) in the current scope, into which the object's operands are captured.
    /// </summary>
    private Value Read(ObjectRef o, Expression quoted)
    {
        var (accessor, kind) = CallTimeValue(o.Template)
            ?? throw Error.CannotDifferentiate(quoted, $"a value of type `{Name(quoted.Type)}` cannot be used as a number");
        var read = new DataRead(Expression.Lambda(new CallTimeRewriter(this).Visit(accessor)!, o.Parameters), kind);
        var target = Lift(o.Operands[0], o.Owner);
        return _b.Read(target, read, o.Operands.Length > 1 ? Lift(o.Operands[1], o.Owner) : null);
    }

    /// <summary>An element of a sequence of objects or numbers held in an object (a list, an array of objects), read as data.</summary>
    private Value VisitElementAccess(Expression node, Expression sequence, Expression index) =>
        Read(ElementRef(Translate(sequence), sequence.Type, Operand(index, node)), node);

    /// <summary><paramref name="value"/>, a value of <paramref name="owner"/> (this builder or an enclosing one), captured into the current builder.</summary>
    private Value Lift(Value value, TraceBuilder owner)
    {
        static Value Into(TraceBuilder b, Value v, TraceBuilder owner) =>
            b == owner ? v : b.Capture(Into(b.Parent ?? throw new InvalidOperationException("An object is read outside the scope that reaches it."), v, owner));
        return Into(_b, value, owner);
    }

    /// <summary>
    /// When <paramref name="node"/> is an expression of one loop element's object and of data alone, that is not arithmetic the
    /// trace computes (a member, a member's member, an array's length, a method of the object): the element's parameter. The
    /// whole expression is then one read, <see cref="ReadThrough"/>. Null otherwise (a parameter itself, arithmetic, an
    /// expression of a variable, of two elements or holding a loop of its own).
    /// </summary>
    private ParameterExpression? ElementParameterOf(Expression node)
    {
        if (node is ParameterExpression || !_activity.TryGetValue(node, out var activity)
            || (activity & (Activity.Variable | Activity.Element)) != Activity.Element || IsComputed(node)) return null;
        return SingleElementParameter(node) is { } p && p != Several && p != Loop && _bindings.TryGetValue(p, out var binding) && binding.Kind == BindingKind.Object ? p : null;
    }

    /// <summary>
    /// True for a node that would be one read (see <see cref="ElementParameterOf"/>) but reads two loop elements at once (a
    /// method of the user's taking both, say): a read reaches one object.
    /// </summary>
    private bool ReadsSeveralElements(Expression node) =>
        node is not ParameterExpression && _activity.TryGetValue(node, out var activity)
        && (activity & (Activity.Variable | Activity.Element)) == Activity.Element && !IsComputed(node) && SingleElementParameter(node) == Several;

    /// <summary>Reads <paramref name="node"/>, an expression of the loop element <paramref name="element"/> (see <see cref="ElementParameterOf"/>).</summary>
    private Value ReadThrough(ParameterExpression element, Expression node) => Read(_bindings[element].Object!.Through(element, node), node);

    /// <summary>
    /// The one object parameter (a loop element) that <paramref name="root"/> reads, <see cref="Loop"/> when it holds a lambda
    /// (a loop, translated as such), else <see cref="Several"/> when it reads more than one, null when none. Memoised per
    /// node: one walk per node for the whole lambda.
    /// </summary>
    private ParameterExpression? SingleElementParameter(Expression root)
    {
        if (_elementParameters.TryGetValue(root, out var known)) return known;
        var operands = new List<Expression?>();
        foreach (var node in ExpressionNodes.PostOrder(root, (n, list) => ExpressionNodes.TryGetOperands(n, list), _elementParameters.ContainsKey))
        {
            operands.Clear();
            ParameterExpression? found = node switch
            {
                LambdaExpression => Loop,
                ParameterExpression p when p != _dataParameter && IsObjectType(p.Type) => p,
                _ => null,
            };
            if (!ExpressionNodes.TryGetOperands(node, operands)) found = Loop;
            foreach (var operand in operands)
                if (operand is not null && _elementParameters[operand] is { } other)
                    found = found == Loop || other == Loop ? Loop : found is null || found == other ? other : Several;
            _elementParameters[node] = found;
        }
        return _elementParameters[root];
    }

    private readonly Dictionary<Expression, ParameterExpression?> _elementParameters = new(ReferenceEqualityComparer.Instance);

    /// <summary>Stand for "more than one object parameter" and "a lambda, or a node not known here" in <see cref="SingleElementParameter"/>.</summary>
    private static readonly ParameterExpression Several = Expression.Parameter(typeof(object), "several"), Loop = Expression.Parameter(typeof(object), "loop");
}
