using System.Linq.Expressions;
using System.Numerics;
using System.Runtime.CompilerServices;

namespace ExprAD.Caching;

/// <summary>
/// The structure of a lambda plus the request made of it, as a value: node types, result types,
/// methods and members, baked constants by value, runtime constants by type and first-occurrence
/// number, parameters by first-occurrence number. Two lambdas with equal keys compile to the same
/// kernel. Built by one walk that also collects the lambda's <see cref="RuntimeConstants"/>.
/// </summary>
/// <remarks>
/// A cache hit on a new tree instance (a lambda literal, rebuilt by the C# compiler on every evaluation) costs this
/// walk, so the walk allocates nothing per node: its tokens go into buffers kept per thread, and
/// <see cref="Probe"/> returns a key that reads them in place. Such a key is only good for one lookup; the
/// cache keeps a key only when it compiles for it, and the compile step first calls <see cref="Detach"/>, which
/// copies the tokens into arrays of the key's own and retires the buffers (they are never written again, so a
/// concurrent lookup comparing against them reads stable data).
/// </remarks>
internal sealed class StructuralKey : IEquatable<StructuralKey>
{
    private long[] _numbers;
    private object?[] _references;
    private readonly int _numberCount, _referenceCount;
    private readonly int _hash;
    // The walker whose buffers _numbers and _references are, until Detach.
    private Walker? _lender;

    private StructuralKey(Walker walker)
    {
        walker.Hash = (int)(walker.Hash64 ^ (walker.Hash64 >> 32));
        _numbers = walker.Numbers;
        _numberCount = walker.NumberCount;
        _references = walker.References;
        _referenceCount = walker.ReferenceCount;
        _hash = walker.Hash;
        _lender = walker;
    }

    /// <summary>
    /// The key of (<paramref name="lambda"/>, <paramref name="request"/>) and the lambda's runtime constants;
    /// the key is null when the lambda contains a node kind the key does not encode (such lambdas are not cached).
    /// The key owns its tokens.
    /// </summary>
    public static (StructuralKey? Key, RuntimeConstants Constants) Of(LambdaExpression lambda, string request)
    {
        var (key, constants) = Probe(lambda, request);
        key?.Detach();
        return (key, constants);
    }

    /// <summary>
    /// As <see cref="Of(LambdaExpression, string)"/>, but the key reads the calling thread's walk buffers: it is good for
    /// one cache lookup on this thread, and must be <see cref="Detach"/>ed before anything keeps it.
    /// </summary>
    public static (StructuralKey? Key, RuntimeConstants Constants) Probe(LambdaExpression lambda, string request)
    {
        var walker = Walker.Rent();
        var constants = new RuntimeConstants();
        walker.Begin(constants, tracking: false);
        walker.AddReference(request);
        walker.Visit(lambda);
        if (walker.OverBudget)
        {
            constants = new RuntimeConstants();
            walker.Begin(constants, tracking: true);
            walker.AddReference(request);
            walker.Visit(lambda);
        }
        // Only a complete walk knows that there is no invocation to inline.
        constants.MayHaveInvocations = !walker.Cacheable || walker.SawInvocation;
        var key = walker.Cacheable ? new StructuralKey(walker) : null;
        walker.End(lent: key is not null);
        return (key, constants);
    }

    /// <summary>The key of an expression on its own: used to tell data reads apart exactly. The key owns its tokens; null for an expression it cannot encode or that holds an object constant.</summary>
    public static StructuralKey? Of(Expression expression)
    {
        // Not the thread's pooled walker: this runs while a lambda is being compiled, possibly with a probe key outstanding.
        var walker = new Walker();
        var constants = new RuntimeConstants();
        walker.Begin(constants, tracking: true);
        walker.Visit(expression);
        // An object constant is encoded by its place among the constants, not by which object it is: two expressions
        // reading different objects (tables baked into a kernel) would get one key. Such an expression has no key.
        var key = walker.Cacheable && constants.Count == 0 ? new StructuralKey(walker) : null;
        walker.End(lent: key is not null);
        key?.Detach();
        return key;
    }

    /// <summary>Gives the key arrays of its own (a no-op when it has them) and retires the walk buffers it read.</summary>
    public void Detach()
    {
        lock (this)
        {
            if (_lender is not { } lender) return;
            _numbers = _numbers.AsSpan(0, _numberCount).ToArray();
            _references = _references.AsSpan(0, _referenceCount).ToArray();
            lender.Retire();
            _lender = null;
        }
    }

    public bool Equals(StructuralKey? other) =>
        other is not null && _hash == other._hash && _numberCount == other._numberCount && _referenceCount == other._referenceCount &&
        _numbers.AsSpan(0, _numberCount).SequenceEqual(other._numbers.AsSpan(0, other._numberCount)) &&
        _references.AsSpan(0, _referenceCount).SequenceEqual(other._references.AsSpan(0, other._referenceCount));

    public override bool Equals(object? obj) => Equals(obj as StructuralKey);

    public override int GetHashCode() => _hash;

    /// <summary>The number of tokens: about three per node of the tree.</summary>
    public int Size => _numberCount + _referenceCount;

    /// <summary>
    /// Writes the tokens of a tree in pre-order with an explicit stack (no recursion per node), into buffers that are reused
    /// from walk to walk on a thread. Nothing is allocated per node: operands are read through <see cref="IArgumentProvider"/>
    /// (MethodCallExpression.Arguments would allocate a collection on a fresh tree), and the table of nodes seen holds only
    /// nodes that are worth finding again.
    /// </summary>
    private sealed class Walker
    {
        [ThreadStatic] private static Walker? t_walker;

        public long[] Numbers = new long[256];
        public object?[] References = new object?[128];
        public int NumberCount, ReferenceCount, Hash;
        public bool Cacheable;
        private RuntimeConstants _constants = null!;
        private Expression?[] _stack = new Expression?[64];
        private int _stackHigh;
        private ParameterExpression?[] _parameters = new ParameterExpression?[8];
        private int _parameterCount;
        private Dictionary<ParameterExpression, int>? _manyParameters;
        // Nodes seen, by reference (open addressing, linear probing): a node of a tree built with the Expression API may be
        // shared, and a shared node is walked once and referred to by number afterwards, so the walk is linear in the
        // number of distinct nodes. Leaves, and nodes whose few operands are all leaves, are not entered: walking them
        // again costs as little as finding them.
        // The first walk of a lambda tracks nothing, because hashing a node by reference for the first time is the most
        // costly step of a walk (the runtime stores a new hash code in the object's header), and trees written as lambda
        // literals share no nodes. That walk is exact for a tree and, for a tree with shared nodes, encodes the tree they
        // stand for (the same function); it gives up beyond a budget of tokens, which a small lambda never reaches and
        // which bounds what a tree of many shared nodes costs, and the walk is redone with tracking. Which walk encodes a
        // lambda depends only on its structure, so equal structures still get equal keys.
        private bool _tracking;
        public bool OverBudget;
        public bool SawInvocation;
        private const int UntrackedBudget = 16384;
        private Expression?[] _seenKeys = new Expression?[64];
        private int[] _seenValues = new int[64];
        private int _seenCount;
        private ulong _hash;
        public ulong Hash64 => _hash;
        // Set when a key took the buffers (Detach): the next walk on this thread starts with new ones.
        private volatile bool _retired;

        public static Walker Rent()
        {
            var walker = t_walker;
            if (walker is null || walker._retired) t_walker = walker = new Walker();
            return walker;
        }

        public void Retire() => _retired = true;

        public void Begin(RuntimeConstants constants, bool tracking)
        {
            _constants = constants;
            _tracking = tracking;
            OverBudget = false;
            SawInvocation = false;
            NumberCount = ReferenceCount = 0;
            _parameterCount = 0;
            _manyParameters = null;
            _seenCount = 0;
            _hash = 0;
            Cacheable = true;
            AddNumber(tracking ? 1 : 0);
        }

        /// <summary>Finishes a walk: drops the references to the tree, and to the buffers' contents unless a key reads them.</summary>
        public void End(bool lent)
        {
            Array.Clear(_parameters, 0, _parameterCount);
            _constants = null!;
            // The table is cleared whole, so a large one is kept only while the walks it serves are large too; so are
            // the token buffers (a thread that once walked a huge tree does not keep megabytes for small ones).
            if (_seenKeys.Length > 4096 && _seenKeys.Length > 8 * _seenCount)
            {
                _seenKeys = new Expression?[64];
                _seenValues = new int[64];
            }
            else if (_seenCount > 0) Array.Clear(_seenKeys);
            Array.Clear(_stack, 0, _stackHigh);
            if (_stack.Length > 4096 && _stack.Length > 8 * _stackHigh) _stack = new Expression?[64];
            _stackHigh = 0;
            if (lent) return;
            Array.Clear(References, 0, ReferenceCount);
            if (Numbers.Length > 65536 && Numbers.Length > 8 * NumberCount) Numbers = new long[256];
            if (References.Length > 65536 && References.Length > 8 * ReferenceCount) References = new object?[128];
        }

        public void Visit(Expression root)
        {
            int sp = 0;
            var stack = Reserve(0, 1);
            stack[sp++] = root;
            while (sp > 0)
            {
                var node = stack[--sp];
                if (node is null) { AddNumber(-1); continue; }
                if (!_tracking && NumberCount > UntrackedBudget) { OverBudget = true; break; }
                switch (node)
                {
                    case ParameterExpression parameter:
                        AddNumber((long)ExpressionType.Parameter);
                        AddReference(parameter.Type);
                        AddNumber(ParameterNumber(parameter));
                        AddNumber(parameter.IsByRef ? 1 : 0);
                        continue;
                    case ConstantExpression constant:
                        AddNumber((long)ExpressionType.Constant);
                        AddReference(constant.Type);
                        WriteConstant(constant);
                        continue;
                    case BinaryExpression binary:
                    {
                        if (binary.Conversion is not null || !IsEncoded(binary.NodeType)) break;
                        var (left, right) = (binary.Left, binary.Right);
                        if (!(IsLeaf(left) && IsLeaf(right)) && Seen(node)) continue;
                        // Whether a binary node is lifted to null follows from its method and operand and result types,
                        // all of which are in the key.
                        Head(node);
                        AddReference(binary.Method);
                        stack = Reserve(sp, 2);
                        stack[sp++] = right;
                        stack[sp++] = left;
                        continue;
                    }
                    case MethodCallExpression call:
                    {
                        var arguments = (IArgumentProvider)call;
                        int count = arguments.ArgumentCount;
                        if (!IsEncoded(call.NodeType)) break;
                        // A call that stands for a lambda (a [Differentiable] method's body, an expression's Invoke) is encoded
                        // with that lambda in place of its receiver: the lambda is part of the function being compiled.
                        if (Frontend.InlineTargets.TryResolve(call.Method, count > 0 ? arguments.GetArgument(0) : null, out var callee, out int skip))
                        {
                            SawInvocation = true;
                            if (callee is null) break; // an Invoke of an expression that cannot be read: translation reports it
                            if (skip > 0) _constants.RecordInvoked(call, callee);
                            if (Seen(node)) continue;
                            Head(node);
                            AddReference(call.Method);
                            AddNumber(count);
                            stack = Reserve(sp, count + 1);
                            for (int k = count - 1; k >= skip; k--) stack[sp++] = arguments.GetArgument(k);
                            stack[sp++] = callee;
                            continue;
                        }
                        if (!IsSmall(call.Object, arguments, count) && Seen(node)) continue;
                        stack = PushInvocation(node, call.Method, call.Object, arguments, count, ref sp);
                        continue;
                    }
                    case UnaryExpression unary:
                    {
                        if (!IsEncoded(unary.NodeType)) break;
                        var operand = unary.Operand;
                        if (!IsLeaf(operand) && Seen(node)) continue;
                        Head(node);
                        AddReference(unary.Method);
                        stack = Reserve(sp, 1);
                        stack[sp++] = operand;
                        continue;
                    }
                    case MemberExpression member:
                    {
                        var target = member.Expression;
                        if (!IsLeaf(target) && Seen(node)) continue;
                        Head(node);
                        AddReference(member.Member);
                        stack = Reserve(sp, 1);
                        stack[sp++] = target;
                        continue;
                    }
                    case ConditionalExpression conditional:
                        if (Seen(node)) continue;
                        Head(node);
                        stack = Reserve(sp, 3);
                        stack[sp++] = conditional.IfFalse;
                        stack[sp++] = conditional.IfTrue;
                        stack[sp++] = conditional.Test;
                        continue;
                    case LambdaExpression lambda:
                    {
                        if (Seen(node)) continue;
                        // One collection per lambda node, made once and kept by the node (there is no public reader without it).
                        var parameters = lambda.Parameters;
                        Head(node);
                        AddNumber(parameters.Count);
                        stack = Reserve(sp, parameters.Count + 1);
                        stack[sp++] = lambda.Body;
                        for (int k = parameters.Count - 1; k >= 0; k--) stack[sp++] = parameters[k];
                        continue;
                    }
                    case InvocationExpression invocation:
                    {
                        SawInvocation = true;
                        if (Seen(node)) continue;
                        var arguments = (IArgumentProvider)invocation;
                        int count = arguments.ArgumentCount;
                        Head(node);
                        AddNumber(count);
                        stack = Reserve(sp, count + 1);
                        for (int k = count - 1; k >= 0; k--) stack[sp++] = arguments.GetArgument(k);
                        stack[sp++] = invocation.Expression;
                        continue;
                    }
                    case NewArrayExpression array:
                    {
                        if (Seen(node)) continue;
                        var elements = array.Expressions;
                        Head(node);
                        AddNumber(elements.Count);
                        stack = Reserve(sp, elements.Count);
                        for (int k = elements.Count - 1; k >= 0; k--) stack[sp++] = elements[k];
                        continue;
                    }
                    case IndexExpression index:
                    {
                        if (Seen(node)) continue;
                        var arguments = (IArgumentProvider)index;
                        int count = arguments.ArgumentCount;
                        stack = PushInvocation(node, index.Indexer, index.Object, arguments, count, ref sp);
                        continue;
                    }
                    case TypeBinaryExpression typeTest:
                        if (!IsLeaf(typeTest.Expression) && Seen(node)) continue;
                        Head(node);
                        AddReference(typeTest.TypeOperand);
                        stack = Reserve(sp, 1);
                        stack[sp++] = typeTest.Expression;
                        continue;
                    case DefaultExpression:
                        Head(node);
                        continue;
                }
                // Node kinds whose every field is not encoded would make distinct lambdas share a key: not cached.
                Cacheable = false;
                break;
            }
        }

        /// <summary>Encodes a call or indexer (its head, member and argument count) and pushes its operands: arguments, then the instance on top.</summary>
        private Expression?[] PushInvocation(Expression node, System.Reflection.MemberInfo? member, Expression? instance, IArgumentProvider arguments, int count, ref int sp)
        {
            Head(node);
            AddReference(member);
            // A method with a user-defined derivative (AD.Define) keys its definition too: a lambda compiled after the
            // method is defined again gets the new definition, not a kernel cached with the old one.
            AddNumber(member is System.Reflection.MethodInfo method ? (uint)count | (long)Rules.CustomRules.NumberOf(method) << 32 : count);
            var stack = Reserve(sp, count + 1);
            for (int k = count - 1; k >= 0; k--) stack[sp++] = arguments.GetArgument(k);
            stack[sp++] = instance;
            return stack;
        }

        /// <summary>Makes room for <paramref name="more"/> entries above <paramref name="sp"/>; returns the (possibly new) stack.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private Expression?[] Reserve(int sp, int more)
        {
            int needed = sp + more;
            if (needed > _stackHigh) _stackHigh = needed;
            if (needed > _stack.Length) Array.Resize(ref _stack, Math.Max(needed, 2 * _stack.Length));
            return _stack;
        }

        private void Head(Expression node)
        {
            AddNumber((long)node.NodeType);
            AddReference(node.Type);
        }

        private static bool IsLeaf(Expression? node) => node is null or ParameterExpression or ConstantExpression or DefaultExpression;

        private static bool IsSmall(Expression? target, IArgumentProvider arguments, int count)
        {
            if (count > 2 || !IsLeaf(target)) return false;
            for (int k = 0; k < count; k++)
                if (!IsLeaf(arguments.GetArgument(k))) return false;
            return true;
        }

        /// <summary>True when <paramref name="node"/> was walked before (its back-reference is then written); otherwise records it.</summary>
        private bool Seen(Expression node)
        {
            if (!_tracking) return false;
            var keys = _seenKeys;
            int mask = keys.Length - 1;
            int slot = RuntimeHelpers.GetHashCode(node) & mask;
            while (keys[slot] is { } key)
            {
                if (ReferenceEquals(key, node))
                {
                    AddNumber(-2 - _seenValues[slot]);
                    return true;
                }
                slot = (slot + 1) & mask;
            }
            keys[slot] = node;
            _seenValues[slot] = _seenCount++;
            if (2 * _seenCount > keys.Length) GrowSeen();
            return false;
        }

        private void GrowSeen()
        {
            var (oldKeys, oldValues) = (_seenKeys, _seenValues);
            _seenKeys = new Expression?[2 * oldKeys.Length];
            _seenValues = new int[2 * oldKeys.Length];
            int mask = _seenKeys.Length - 1;
            for (int k = 0; k < oldKeys.Length; k++)
            {
                if (oldKeys[k] is not { } key) continue;
                int slot = RuntimeHelpers.GetHashCode(key) & mask;
                while (_seenKeys[slot] is not null) slot = (slot + 1) & mask;
                _seenKeys[slot] = key;
                _seenValues[slot] = oldValues[k];
            }
        }

        private int ParameterNumber(ParameterExpression parameter)
        {
            if (_manyParameters is { } many)
            {
                if (!many.TryGetValue(parameter, out int k)) many.Add(parameter, k = many.Count);
                return k;
            }
            for (int k = 0; k < _parameterCount; k++)
                if (ReferenceEquals(_parameters[k], parameter)) return k;
            if (_parameterCount == _parameters.Length)
            {
                // Many lambdas (LINQ selectors, each with its own parameters): a table from here on.
                _manyParameters = new Dictionary<ParameterExpression, int>(ReferenceEqualityComparer.Instance);
                for (int k = 0; k < _parameterCount; k++) _manyParameters.Add(_parameters[k]!, k);
                _manyParameters.Add(parameter, _parameterCount);
                return _parameterCount;
            }
            _parameters[_parameterCount] = parameter;
            return _parameterCount++;
        }

        private void WriteConstant(ConstantExpression c)
        {
            var value = c.Value;
            var type = c.Type;
            // The common cases first, without asking the type anything (the type itself is in the key).
            if (value is double d && type == typeof(double)) AddNumber(BitConverter.DoubleToInt64Bits(d));
            else if (value is int i && type == typeof(int)) AddNumber(i);
            else if (value is null) AddNumber(0);
            // Whether a constant is baked into the kernel or read at call time follows its static type, exactly as
            // the translator decides (a boxed 2.5 typed object or double? is a runtime constant, not a baked double).
            else if (!RuntimeConstants.IsBaked(type)) AddNumber(1_000_000 + _constants.IndexOf(value));
            // Doubles by bit pattern: boxed 0.0 and -0.0 are Equal, but x / 0.0 and x / -0.0 differ.
            else if (value is double other) AddNumber(BitConverter.DoubleToInt64Bits(other));
            else if (value is float f) AddNumber(BitConverter.SingleToInt32Bits(f));
            else AddReference(value);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void AddNumber(long n)
        {
            if (NumberCount == Numbers.Length) Array.Resize(ref Numbers, 2 * Numbers.Length);
            Numbers[NumberCount++] = n;
            _hash = BitOperations.RotateLeft((_hash ^ (ulong)n) * 0x9E3779B97F4A7C15UL, 23);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void AddReference(object? r)
        {
            if (ReferenceCount == References.Length) Array.Resize(ref References, 2 * References.Length);
            References[ReferenceCount++] = r;
            _hash = BitOperations.RotateLeft((_hash ^ (uint)(r?.GetHashCode() ?? 0)) * 0xC2B2AE3D27D4EB4FUL, 29);
        }

        private static bool IsEncoded(ExpressionType t) => t switch
        {
            ExpressionType.Block or ExpressionType.Loop or ExpressionType.Goto or ExpressionType.Label or
            ExpressionType.Switch or ExpressionType.Try or ExpressionType.MemberInit or ExpressionType.ListInit or
            ExpressionType.Dynamic or ExpressionType.Extension or ExpressionType.RuntimeVariables or
            ExpressionType.DebugInfo or ExpressionType.New or ExpressionType.Assign or ExpressionType.Coalesce => false,
            _ => true,
        };
    }
}
