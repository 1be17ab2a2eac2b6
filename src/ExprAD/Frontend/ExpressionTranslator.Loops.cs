using System.Linq.Expressions;
using ExprAD.Errors;
using ExprAD.IR;
using ExprAD.Rules;
using static ExprAD.Frontend.DataTypes;

namespace ExprAD.Frontend;

// LINQ pipelines as loop regions.
internal sealed partial class ExpressionTranslator
{
    /// <summary>A pipeline runs over a range or a sequence, and zips with sequences.</summary>
    private bool IsLoopSource(LinqLoops.Pipeline loop) => UnsupportedSourceOf(loop) is null;

    /// <summary>The source of <paramref name="loop"/> (or a sequence it zips with) that is not a sequence, or null.</summary>
    private Expression? UnsupportedSourceOf(LinqLoops.Pipeline loop) =>
        loop.Array is { } source && !IsSequence(source) ? source
        : loop.Stages.FirstOrDefault(s => s.Kind == LinqLoops.StageKind.Zip && !IsSequence(s.Other!)).Other;

    /// <summary>
    /// True for a sequence a loop runs over: the active array, an array built in the lambda (a small array, a map's result),
    /// or data: an array or a list (<see cref="DataTypes.ElementType"/>) of numbers, arrays or objects.
    /// </summary>
    private bool IsSequence(Expression e) =>
        ArrayParameterOf(e) is not null || IsVector(e) || IsArrayValue(e) || ElementType(e.Type) is not null && IsDataValue(e);

    private NotSupportedException UnsupportedSource(MethodCallExpression node, LinqLoops.Pipeline loop)
    {
        var source = UnsupportedSourceOf(loop)!;
        return Error.CannotDifferentiate(node, $"cannot loop over `{Error.Quote(source)}` of type `{Name(source.Type)}`: loops run over arrays, lists and `Enumerable.Range`"
            + (ElementType(source.Type) is null ? "" : ", and this one is computed from active values"));
    }

    private int? ArrayParameterOf(Expression e) =>
        e is ParameterExpression p && _bindings.TryGetValue(p, out var b) && b.Kind == BindingKind.ArrayInput ? b.Parameter : null;

    /// <summary>
    /// Element <paramref name="index"/> of a sequence (see <see cref="IsSequence"/>): of the active array, a data array or an
    /// array value (translated, so hoisted), or a small array (see <see cref="IsVector"/>: its element itself at a constant
    /// index, else read from the array it is built into); of a list or an array of objects, read through the sequence (an
    /// object element is not read whole: its members are read where they are used).
    /// </summary>
    private Item ElementOf(Expression array, Value index)
    {
        if (ArrayParameterOf(array) is { } parameter) return new(_b.InputAt(parameter, index));
        if (IsVector(array))
            return new(_b.TryGetConstant(index, out double k) ? TranslateVector(array)[(int)k] : _b.Emit(Op.Element, SmallArray(array), index));
        var sequence = Translate(array);
        if (_b.KindOf(sequence) != ValueKind.Object) return new(_b.Emit(Op.Element, sequence, index));
        var element = ElementRef(sequence, array.Type, index);
        return IsObjectType(ElementType(array.Type)!) ? new(default, element) : new(Read(element, array));
    }

    /// <summary>The number of elements of a sequence (see <see cref="IsSequence"/>): its length, or a list's count.</summary>
    private Value LengthOf(Expression array)
    {
        if (ArrayParameterOf(array) is { } parameter) return _b.InputLength(parameter);
        if (IsVector(array)) return _b.Integer(TranslateVector(array).Length);
        var sequence = Translate(array);
        if (_b.KindOf(sequence) != ValueKind.Object) return _b.Emit(Op.ArrayLength, sequence);
        var held = Held(sequence, array.Type);
        return Read(held with { Template = CountOf(held.Template) }, array);
    }

    /// <summary>
    /// A small array (see <see cref="IsVector"/>) that a LINQ operator runs over, built into an array at run time: a map
    /// over its positions whose element k is its element k (a chain of selects on the position). Hoisted and cached
    /// like any translated node.
    /// </summary>
    private Value SmallArray(Expression node)
    {
        if (TryKnownOrHoisted(node, SmallArray, out var known)) return known;
        var elements = TranslateVector(node);
        var body = _b.CreateBody();
        var position = body.LoopIndex();
        var element = body.Capture(elements[^1]);
        for (int k = elements.Length - 2; k >= 0; k--)
            element = body.Select(body.Emit(Op.Equal, position, body.Integer(k)), body.Capture(elements[k]), element);
        return _scope.Translated[node] = _b.EmitMap(_b.Integer(0), _b.Integer(elements.Length), body, [element])[0];
    }

    /// <summary>
    /// A LINQ pipeline ending in Sum, Average, Max or Min: one loop region whose body computes each element through the
    /// fused stages. The body is translated in a scope of its own, where only the nodes that depend on the stages'
    /// parameters are emitted; the rest are hoisted and captured.
    /// </summary>
    private Value VisitPipeline(MethodCallExpression node, LinqLoops.Pipeline loop)
    {
        if (loop.End != LinqLoops.Terminal.Count && node.Type != typeof(double))
            throw Error.CannotDifferentiate(node, $"`{node.Method.Name}` of values of type `{Name(node.Type)}` is not supported; select doubles (`(double)...`)");
        var (rangeStart, count) = LoopRange(loop);
        var first = _b.Integer(0);
        bool masked = loop.Stages.Any(s => s.Kind == LinqLoops.StageKind.Where);
        // Without a Where, the count is the length: LINQ's Count of a Select over an array or list runs no selector either
        // (its selectors being pure, that changes nothing).
        if (loop.End == LinqLoops.Terminal.Count && !masked) return count;
        return InLoopBody(loop, rangeStart, (body, position, start, outer, dependent) =>
        {
            if (loop.End == LinqLoops.Terminal.Count)
            {
                // The kept elements counted in doubles, exact to 2^53, then as LINQ's int.
                var kept = PipelineItem(loop, position, start).Mask!.Value;
                var keptCount = outer.Builder.EmitSum(first, count, body, [body.Select(kept, body.Constant(1.0), body.Constant(0.0))])[0];
                return outer.Builder.Emit(Op.DoubleToInt, keptCount);
            }
            var (element, mask) = PipelineElement(node, loop, position, start);
            if (loop.End is LinqLoops.Terminal.Max or LinqLoops.Terminal.Min)
            {
                // The extremum is the element at its arg-extremum: found by a loop (a position, not differentiated) as LINQ
                // scans (NaN included; an exception for no element), then read again outside the loop, so that its
                // derivative is that of the element chosen.
                var at = outer.Builder.EmitArgExtremum(loop.End == LinqLoops.Terminal.Max ? Op.ArgMax : Op.ArgMin, first, count, body, element, mask);
                // Re-read in the enclosing scope; nodes that depend on the stage parameters must stay there too.
                _scope = outer.Keeping(dependent.Contains);
                return PipelineElement(node, loop, at, rangeStart).Element;
            }
            // LINQ's Average over a sequence (anything but an array itself) starts its sum at the first element, so the
            // average of -0.0s is -0.0: that sum starts at -0.0, and an element a mask drops adds -0.0 (no change).
            // A written-out sum rolled into this loop (Rerolling) adds its terms from -0.0 as the chain did.
            bool negativeZeroStart = loop.End == LinqLoops.Terminal.Average && !(loop.Array is not null && loop.Stages.Count == 0)
                                     || _rolled?.NegativeZeroStarts.Contains(node) == true;
            var zero = body.Constant(negativeZeroStart ? -0.0 : 0.0);
            var summands = new List<Value> { mask is { } keep ? body.Select(keep, element, zero) : element };
            if (mask is { } counted && loop.End == LinqLoops.Terminal.Average) summands.Add(body.Select(counted, body.Constant(1.0), zero));
            var sums = outer.Builder.EmitSum(first, count, body, summands, new SumStyle(NegativeZeroStart: negativeZeroStart));
            if (loop.End == LinqLoops.Terminal.Sum) return sums[0];
            // Average: the sum over the number of elements kept; as LINQ, an exception when there is none.
            var b = outer.Builder;
            return b.Div(sums[0], b.Emit(Op.NonEmpty, summands.Count > 1 ? sums[1] : b.Emit(Op.IntToDouble, count)));
        });
    }

    /// <summary>
    /// How many iterations a pipeline's loop runs (Zip stops at the shorter sequence), and for a range its first element.
    /// Every loop runs its iterations 0 .. count - 1 (element i of a range is start + i), so its end never overflows, even for
    /// a range that ends at int.MaxValue; a range's count is checked as <c>Enumerable.Range</c> checks it, when the loop runs.
    /// </summary>
    private (Value? RangeStart, Value Count) LoopRange(LinqLoops.Pipeline loop)
    {
        Value? rangeStart = null;
        Value count;
        if (loop.Range is { } range)
        {
            rangeStart = Translate(range.Arguments[0]);
            count = CheckedRangeCount(range);
        }
        else count = LengthOf(loop.Array!);
        foreach (var stage in loop.Stages.Where(s => s.Kind == LinqLoops.StageKind.Zip))
        {
            var other = LengthOf(stage.Other!);
            count = _b.Select(_b.Emit(Op.LessThan, other, count), other, count);
        }
        return (rangeStart, count);
    }

    /// <summary>
    /// The checked count of <c>Enumerable.Range(start, count)</c>, computed (and hoisted out of loops) with the range's own
    /// node, so that a loop over a captured count still sees a captured count.
    /// </summary>
    private Value CheckedRangeCount(Expression range)
    {
        if (TryKnownOrHoisted(range, CheckedRangeCount, out var known)) return known;
        var call = (MethodCallExpression)range;
        return _scope.Translated[range] = _b.Emit(Op.RangeCount, Translate(call.Arguments[0]), Translate(call.Arguments[1]));
    }

    private delegate T LoopBodyTranslation<T>(TraceBuilder body, Value position, Value? rangeStart, Scope outer, HashSet<Expression> dependent);

    /// <summary>
    /// Translates the body of a pipeline's loop with <paramref name="translate"/>, in a scope of its own on a new child
    /// builder, where only the nodes that depend on the lambdas' parameters (<c>dependent</c>) are emitted and the rest
    /// are hoisted and captured. It gets the loop index (the position in the sequence) and, over a range, the range's
    /// start captured in the body; the scope and the bindings of the lambdas' parameters are undone afterwards.
    /// </summary>
    private T InLoopBody<T>(LinqLoops.Pipeline loop, Value? rangeStart, LoopBodyTranslation<T> translate)
    {
        var variables = loop.Lambdas.SelectMany(l => l.Parameters).ToHashSet();
        var dependent = LinqLoops.DependentOn(loop.Lambdas.Select(l => l.Body), variables);
        var body = _scope.Builder.CreateBody();
        var outer = _scope;
        _scope = new Scope(body, outer, dependent.Contains);
        try
        {
            return translate(body, body.LoopIndex(), rangeStart is { } start ? body.Capture(start) : null, outer, dependent);
        }
        finally
        {
            _scope = outer;
            foreach (var v in variables) _bindings.Remove(v);
        }
    }

    /// <summary>
    /// <c>....Select(...).ToArray()</c>: a map region building the array, element r computed by the fused stages at
    /// position r. As for sums, the body holds only what depends on the stages' parameters; the rest is hoisted.
    /// </summary>
    private Value VisitMap(MethodCallExpression node, LinqLoops.Pipeline loop)
    {
        if (loop.Stages.Any(s => s.Kind == LinqLoops.StageKind.Where))
            throw Error.CannotDifferentiate(node, "Where before ToArray() makes the length depend on the data; use a mask (a ? b : 0) in Select instead");
        var (rangeStart, count) = LoopRange(loop);
        var first = _b.Integer(0);
        return InLoopBody(loop, rangeStart, (body, position, start, outer, _) =>
            outer.Builder.EmitMap(first, count, body, [PipelineElement(node, loop, position, start).Element])[0]);
    }

    /// <summary>
    /// Translates, in the current scope, the element of a pipeline at <paramref name="position"/> in the sequence through
    /// every stage (the element of a range is <paramref name="rangeStart"/> + position), as a scalar; also returns the Where
    /// mask, if any.
    /// </summary>
    private (Value Element, Value? Mask) PipelineElement(MethodCallExpression node, LinqLoops.Pipeline loop, Value position, Value? rangeStart)
    {
        var (item, mask) = PipelineItem(loop, position, rangeStart);
        if (item.Object is not null) throw Error.UnsupportedType(node, node.Type);
        var element = item.Value;
        if (_b.KindOf(element) == ValueKind.Integer) element = _b.Emit(Op.IntToDouble, element);
        if (_b.KindOf(element) != ValueKind.Scalar) throw Error.UnsupportedType(node, node.Type);
        return (element, mask);
    }

    /// <summary>
    /// The element of a pipeline at <paramref name="position"/> through every stage, whatever it is (a number, an array, an
    /// object), and the Where mask, if any; see <see cref="PipelineElement"/>. As LINQ runs a stage after a Where only for
    /// the elements kept, a number a later stage computes that could fail (a member of an element that may be null, an
    /// element at a computed index) is a branch taken where the mask holds (<see cref="Branch"/>); an array a later stage
    /// reads is read for every element (arrays are not branch results).
    /// </summary>
    private (Item Element, Value? Mask) PipelineItem(LinqLoops.Pipeline loop, Value position, Value? rangeStart)
    {
        var element = rangeStart is { } start ? new Item(_b.Add(position, start)) : ElementOf(loop.Array!, position);
        Value? mask = null;
        foreach (var stage in loop.Stages)
        {
            var parameters = stage.Lambda.Parameters;
            _bindings[parameters[0]] = BindingOf(element);
            if (stage.Kind == LinqLoops.StageKind.SelectWithIndex)
            {
                if (mask is not null) throw Error.CannotDifferentiate(stage.Lambda, "an indexed Select after Where is not supported");
                _bindings[parameters[1]] = new Binding(BindingKind.Value, -1, position);
            }
            if (stage.Kind == LinqLoops.StageKind.Zip) _bindings[parameters[1]] = BindingOf(ElementOf(stage.Other!, position));
            var result = stage.Lambda.Body;
            if (stage.Kind == LinqLoops.StageKind.Where)
            {
                var keep = mask is { } kept ? Branch(result, kept) : Translate(result);
                mask = mask is { } m ? _b.Emit(Op.And, m, keep) : keep;
            }
            else element = mask is { } taken && KindOf(result.Type) is not null ? new Item(Branch(result, taken)) : ItemOf(result);
        }
        return (element, mask);
    }

    /// <summary>
    /// <c>Aggregate(seed, (state, element) =&gt; next)</c>: one fold region carrying the state (a number, or each element of
    /// a small array) through the pipeline's elements; a Where stage keeps the state where its mask is false. Returns
    /// the final state, or the result selector applied to it. As for sums, the body holds only what depends on the
    /// state or the element; the rest is hoisted and captured.
    /// </summary>
    private Value[] VisitAggregate(MethodCallExpression node, LinqLoops.Pipeline loop)
    {
        var seedExpression = loop.Seed!;
        // A double[] seed is either a small array (new[] { ... }: carried element by element) or an array of run-time length.
        bool vector = IsSmallArraySeed(seedExpression);
        bool array = !vector && seedExpression.Type == typeof(double[]);
        var seed = vector ? TranslateVector(seedExpression) : [array ? Translate(seedExpression) : Scalar(Operand(seedExpression, node))];
        if (array && _b.KindOf(seed[0]) != ValueKind.Array) throw Error.UnsupportedType(seedExpression, seedExpression.Type);
        if (seed.Length == 0) throw Error.CannotDifferentiate(seedExpression, "an Aggregate state needs at least one element");
        var (rangeStart, count) = LoopRange(loop);
        var first = _b.Integer(0);
        var accumulator = loop.Accumulator!;
        var (body, next) = InLoopBody(loop, rangeStart, (body, position, start, _, _) =>
        {
            var state = seed.Select((_, k) => body.State(k, array ? ValueKind.Array : ValueKind.Scalar)).ToArray();
            var (element, mask) = PipelineItem(loop, position, start);
            _bindings[accumulator.Parameters[0]] = vector
                ? new Binding(BindingKind.Vector, -1, default, state)
                : new Binding(BindingKind.Value, -1, state[0]);
            _bindings[accumulator.Parameters[1]] = BindingOf(element);
            if (mask is not null && array) throw Error.CannotDifferentiate(node, "Where before an Aggregate with an array state is not supported; choose inside the step instead");
            // After a Where, the step runs only for the elements kept (see PipelineItem).
            var next = mask is { } taken ? (vector ? BranchVector(accumulator.Body, taken) : [Scalar(Branch(accumulator.Body, taken))])
                : vector ? TranslateVector(accumulator.Body) : [array ? Translate(accumulator.Body) : Scalar(Operand(accumulator.Body, accumulator))];
            if (next.Length != state.Length)
                throw Error.CannotDifferentiate(accumulator.Body, $"the next state has {next.Length} elements where the seed has {state.Length}");
            foreach (var v in next)
                if (body.KindOf(v) != (array ? ValueKind.Array : ValueKind.Scalar)) throw Error.UnsupportedType(accumulator.Body, accumulator.Body.Type);
            if (mask is { } keep) next = next.Select((v, k) => body.Select(keep, v, state[k])).ToArray();
            return (body, next);
        });
        var (_, results) = _b.EmitFold(first, count, seed, body, next);
        if (loop.ResultSelector is not { } selector) return results;
        var parameter = selector.Parameters[0];
        _bindings[parameter] = vector ? new Binding(BindingKind.Vector, -1, default, results) : new Binding(BindingKind.Value, -1, results[0]);
        // The selector runs here, after the loop; inside an enclosing loop, what depends on its parameter must stay here too.
        var scope = _scope;
        if (scope.Dependent is not null)
            _scope = scope.Keeping(LinqLoops.DependentOn([selector.Body], new HashSet<ParameterExpression> { parameter }).Contains);
        try
        {
            return selector.Body.Type == typeof(double[]) ? TranslateVector(selector.Body) : [Scalar(Operand(selector.Body, selector))];
        }
        finally
        {
            _scope = scope;
            _bindings.Remove(parameter);
        }
    }
}
