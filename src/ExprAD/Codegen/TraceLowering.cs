using System.Linq.Expressions;
using ExprAD.IR;
using ExprAD.Rules;

namespace ExprAD.Codegen;

/// <summary>How a trace meets the delegate it is lowered into: parameters, inputs, checks, outputs.</summary>
internal sealed class LoweringPlan
{
    /// <summary>The lambda's parameters in order; must include the trace environment's parameters that data reads use.</summary>
    public required IReadOnlyList<ParameterExpression> Parameters { get; init; }

    /// <summary>Reads the value of an <see cref="Op.Input"/> instruction.</summary>
    public required Func<Instruction, Expression> ReadInput { get; init; }

    /// <summary>Statements run before anything else (argument checks, clearing outputs).</summary>
    public IReadOnlyList<Expression> Prologue { get; init; } = [];

    /// <summary>Given the expressions of the trace outputs, the final statements; the last one is the delegate's result.</summary>
    public required Func<IReadOnlyList<Expression>, IEnumerable<Expression>> Epilogue { get; init; }
}

/// <summary>
/// Code generation: lowers a trace into one block expression, one assignment per
/// instruction, with locals reused by liveness so that the number of locals is the largest
/// number of values live at once rather than the length of the trace (the JIT stops
/// optimising methods with thousands of locals).
/// </summary>
internal static class TraceLowering
{
    public static Expression<TDelegate> Lower<TDelegate>(Trace trace, LoweringPlan plan)
    {
        int n = trace.Count;
        var lastUse = new int[n];
        Array.Fill(lastUse, -1);
        for (int i = 0; i < n; i++)
        {
            var ins = trace.Instructions[i];
            for (int k = 0; k < ins.Arity; k++) lastUse[ins.Operand(k).Index] = i;
        }
        foreach (var o in trace.Outputs) lastUse[o.Index] = int.MaxValue;

        var values = new Expression[n];
        var free = new Dictionary<Type, Stack<ParameterExpression>>();
        var locals = new List<ParameterExpression>();
        var body = new List<Expression>(plan.Prologue);
        var operands = new Expression[3];

        for (int i = 0; i < n; i++)
        {
            var ins = trace.Instructions[i];
            var type = ClrType(ins.Kind);
            if (ins.Op == Op.Const)
            {
                values[i] = ins.Kind switch
                {
                    ValueKind.Scalar => Expression.Constant(ins.Number),
                    ValueKind.Integer => Expression.Constant((int)ins.Number),
                    _ => Expression.Constant(ins.Number != 0),
                };
                continue;
            }
            if (lastUse[i] < 0) continue; // dead: nothing reads it

            Expression value;
            switch (ins.Op)
            {
                case Op.Input: value = plan.ReadInput(ins); break;
                case Op.Data: value = trace.DataReads[ins.A].Accessor; break;
                default:
                    var p = RuleTable.Get(ins.Op);
                    var args = new Expression[p.Arity];
                    for (int k = 0; k < p.Arity; k++) args[k] = values[ins.Operand(k).Index];
                    value = p.Emit(args);
                    // Operands whose last use is here give their locals back before the result takes one,
                    // so `t = t * u` reuses t's slot.
                    for (int k = 0; k < p.Arity; k++)
                    {
                        int operand = ins.Operand(k).Index;
                        if (lastUse[operand] == i && values[operand] is ParameterExpression local && IsOwnedLocal(trace, operand))
                        {
                            Pool(free, local.Type).Push(local);
                            values[operand] = null!; // a second operand slot naming the same value must not push it twice
                        }
                    }
                    break;
            }
            var pool = Pool(free, type);
            if (!pool.TryPop(out var target))
            {
                target = Expression.Variable(type, "t" + locals.Count);
                locals.Add(target);
            }
            body.Add(Expression.Assign(target, value));
            values[i] = target;
        }

        var outputs = trace.Outputs.Select(o => values[o.Index]).ToArray();
        body.AddRange(plan.Epilogue(outputs));
        var block = Expression.Block(body[^1].Type, locals, body);
        return Expression.Lambda<TDelegate>(block, plan.Parameters);
    }

    private static bool IsOwnedLocal(Trace trace, int index) => trace.Instructions[index].Op != Op.Const;

    private static Stack<ParameterExpression> Pool(Dictionary<Type, Stack<ParameterExpression>> free, Type type)
    {
        if (!free.TryGetValue(type, out var pool)) free.Add(type, pool = new Stack<ParameterExpression>());
        return pool;
    }

    public static Type ClrType(ValueKind kind) => kind switch
    {
        ValueKind.Scalar => typeof(double),
        ValueKind.Integer => typeof(int),
        _ => typeof(bool),
    };
}
