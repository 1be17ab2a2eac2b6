using System.Linq.Expressions;
using System.Reflection;

namespace ExprAD.GradBench;

/// <summary>
/// The data of a hand-tracking problem (GradBench's ht, from ADBench): the skinned hand model and the correspondences.
/// Everything here is read at call time and never differentiated; the pose theta (and, for the complicated variant's
/// Jacobian, two offsets of the us) travel in x.
/// </summary>
public sealed class HtData
{
    /// <summary>Number of bones.</summary>
    public int Bones;
    /// <summary>Bone b's 4 x 4 base relative transform, row-major at 16 b; the same layout for the inverse base absolutes.</summary>
    public double[] BaseRelatives = [], InverseBaseAbsolutes = [];
    /// <summary>Vertex v's homogeneous base position (4 values) at 4 v.</summary>
    public double[] Positions = [];
    /// <summary>The skinning weight of bone b at vertex v, at v · Bones + b.</summary>
    public double[] Weights = [];
    /// <summary>
    /// -1 when the model is mirrored (its x coordinate negated before the global transform), else 1: a factor rather than
    /// a bool, because a choice on a data bool inside a loop makes FastExpressionCompiler decline the kernel, and the
    /// fallback compiler's large methods run unoptimised (MinOpts).
    /// </summary>
    public double MirrorSign = 1;
    /// <summary>Number of correspondences (the arrays below may be longer: padded to whole Jacobian blocks).</summary>
    public int Count;
    /// <summary>
    /// The model vertices each correspondence reads, <see cref="HtModel.Corners"/> of them per correspondence: its vertex
    /// (simple), or the three vertices of its triangle (complicated).
    /// </summary>
    public int[] Vertices = [];
    /// <summary>Correspondence i's observed point at 3 i.</summary>
    public double[] Points = [];
    /// <summary>Correspondence i's barycentric coordinates (u0, u1) at 2 i (complicated only).</summary>
    public double[] Us = [];
    /// <summary>The first correspondence of the residuals being computed (see <see cref="HtModel.Residuals"/>).</summary>
    public int First;
}

/// <summary>
/// The hand model of GradBench's ht as ExprAD expressions, built in C# for the model's bone hierarchy (22 bones: small
/// constants, unrolled, as lstm's layers are), following the suite's definition:
/// - the pose: theta = [global rotation (angle-axis, 3), translation (3), 4 angles per finger]; bone b's Euler angles
///   (x, z, y) are column 3 + b of GradBench's pose parameters (to_pose_params): fingers f = 0..4 give bones 2 + 4f
///   (angles x and z), 3 + 4f and 4 + 4f (angle x) from theta[6 + 4f ..]; the other bones are not posed;
/// - bone b's relative transform is base_relatives[b] · [R_z R_y R_x, 0; 0, 1], its absolute the parent's absolute
///   times it, its skinning transform the absolute times inverse_base_absolutes[b];
/// - a vertex is Σ_b weight[v][b] (T_b · base_position[v]), its x negated when mirrored, then R(angle-axis) · s +
///   translation, with R the identity when |rotation| &lt; 1e-4;
/// - residual = observed point - hand point; the complicated variant's hand point is u0 V0 + u1 V1 + (1 - u0 - u1) V2
///   over a triangle's vertices.
/// Only the rows 0-2 of the absolutes and skinning transforms are built: row 3 of a product is never read by rows 0-2
/// of the next, nor by the skinned positions (x, y, z), so nothing is assumed about the matrices' last rows.
/// Structural zeros and ones of the pose (an unposed bone's identity rotation, a missing angle's) are left out while
/// building, since they are known from the model's definition; every number of the data is read at call time.
/// </summary>
public sealed class HtModel
{
    /// <summary>Bones of the model GradBench's pose layout is written for.</summary>
    public const int BoneCount = 22;

    private static readonly Expression Zero = Expression.Constant(0.0), One = Expression.Constant(1.0);

    private readonly ParameterExpression _x, _d;
    private readonly int[] _parents;
    private readonly Expression[][,] _transforms;
    private readonly Expression[,] _rotation;
    private readonly Expression[] _translation;

    /// <summary>Vertices per correspondence: 1 (simple) or 3 (complicated).</summary>
    public int Corners { get; }

    /// <summary>Builds the pose-dependent part (bone transforms, global rotation) over x = theta [+ offsets].</summary>
    public HtModel(int[] parents, bool complicated)
    {
        if (parents.Length != BoneCount) throw new NotSupportedException($"ht: GradBench's pose layout needs {BoneCount} bones, the model has {parents.Length}");
        for (int b = 0; b < parents.Length; b++)
            if (parents[b] >= b) throw new NotSupportedException($"ht: bone {b}'s parent {parents[b]} comes after it");
        _parents = parents;
        Corners = complicated ? 3 : 1;
        _x = Expression.Parameter(typeof(double[]), "x");
        _d = Expression.Parameter(typeof(HtData), "d");
        _transforms = SkinningTransforms();
        (_rotation, _translation) = GlobalTransform();
    }

    /// <summary>Structural key of the model's shape, for caching the lambdas built from it.</summary>
    public static string Key(int[] parents, bool complicated) => string.Join(",", parents) + (complicated ? "c" : "s");

    private Expression Theta(int k) => Expression.ArrayIndex(_x, Expression.Constant(k));
    private Expression Data(string field, Expression index) => Expression.ArrayIndex(Expression.Field(_d, field), index);
    private Expression Data(string field, int index) => Data(field, Expression.Constant(index));

    // Products and sums that leave out the pose's structural zeros and ones (constants of the builder, never data).
    private static bool Is(Expression e, double value) => e is ConstantExpression { Value: double v } && v == value;
    private static Expression Mul(Expression a, Expression b) =>
        Is(a, 0) || Is(b, 0) ? Zero : Is(a, 1) ? b : Is(b, 1) ? a : Expression.Multiply(a, b);
    private static Expression Add(Expression a, Expression b) => Is(a, 0) ? b : Is(b, 0) ? a : Expression.Add(a, b);
    private static Expression Neg(Expression a) => Is(a, 0) ? Zero : Expression.Negate(a);
    private static Expression Call(string name, Expression a) => Expression.Call(typeof(Math).GetMethod(name, [typeof(double)])!, a);

    /// <summary>Rows 0 .. <paramref name="rows"/> - 1 of the product a · b.</summary>
    private static Expression[,] Product(Expression[,] a, Expression[,] b, int rows)
    {
        int inner = a.GetLength(1), columns = b.GetLength(1);
        var p = new Expression[rows, columns];
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < columns; c++)
            {
                var sum = Zero;
                for (int k = 0; k < inner; k++) sum = Add(sum, Mul(a[r, k], b[k, c]));
                p[r, c] = sum;
            }
        return p;
    }

    private static Expression[,] Identity(int n)
    {
        var m = new Expression[n, n];
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++) m[r, c] = r == c ? One : Zero;
        return m;
    }

    /// <summary>The rotation about axis <paramref name="axis"/> (0 = x, 1 = y, 2 = z) by theta[k]; the identity when k is null.</summary>
    private Expression[,] AxisRotation(int axis, int? k)
    {
        var m = Identity(3);
        if (k is not int index) return m;
        var cos = Call(nameof(Math.Cos), Theta(index));
        var sin = Call(nameof(Math.Sin), Theta(index));
        int a = (axis + 1) % 3, b = (axis + 2) % 3; // the plane rotated: (y, z) for x, (z, x) for y, (x, y) for z
        m[a, a] = cos; m[b, b] = cos;
        m[b, a] = sin; m[a, b] = Neg(sin);
        return m;
    }

    /// <summary>Bone b's pose angles (x, y, z) as indices into theta (null: not posed), as GradBench's to_pose_params lays them out.</summary>
    private static int?[,] PoseAngles()
    {
        var angles = new int?[BoneCount, 3];
        int theta = 6, bone = 2; // pose column 5 is bone 2
        for (int finger = 0; finger < 5; finger++)
        {
            for (int joint = 0; joint < 3; joint++, bone++)
            {
                angles[bone, 0] = theta++;                   // pose row 0: the x angle
                if (joint == 0) angles[bone, 2] = theta++;   // pose row 1 of the finger's base: the z angle (xzy order)
            }
            bone++; // the finger's last bone (and, after the pinky, the forearm) is not posed
        }
        return angles;
    }

    /// <summary>Rows 0-2 of every bone's skinning transform T_b = absolute_b · inverse_base_absolute_b (3 x 4 each).</summary>
    private Expression[][,] SkinningTransforms()
    {
        var angles = PoseAngles();
        var absolutes = new Expression[BoneCount][,];
        var transforms = new Expression[BoneCount][,];
        Expression[,] Matrix(string field, int b)
        {
            var m = new Expression[4, 4];
            for (int r = 0; r < 4; r++)
                for (int c = 0; c < 4; c++) m[r, c] = Data(field, 16 * b + 4 * r + c);
            return m;
        }
        for (int b = 0; b < BoneCount; b++)
        {
            var relative = Matrix(nameof(HtData.BaseRelatives), b);
            if (angles[b, 0] is not null || angles[b, 1] is not null || angles[b, 2] is not null)
            {
                // R = R_z R_y R_x, placed in the top-left block of a 4 x 4 identity.
                var rotation = Product(Product(AxisRotation(2, angles[b, 2]), AxisRotation(1, angles[b, 1]), 3), AxisRotation(0, angles[b, 0]), 3);
                var pose = Identity(4);
                for (int r = 0; r < 3; r++)
                    for (int c = 0; c < 3; c++) pose[r, c] = rotation[r, c];
                relative = Product(relative, pose, 4);
            }
            absolutes[b] = _parents[b] < 0 ? Product(Identity(4), relative, 3) : Product(absolutes[_parents[b]], relative, 3);
            transforms[b] = Product(absolutes[b], Matrix(nameof(HtData.InverseBaseAbsolutes), b), 3);
        }
        return transforms;
    }

    /// <summary>The global rotation (angle-axis theta[0..2], the identity below norm 1e-4) and translation theta[3..5].</summary>
    private (Expression[,] Rotation, Expression[] Translation) GlobalTransform()
    {
        var norm = Call(nameof(Math.Sqrt), Add(Add(Mul(Theta(0), Theta(0)), Mul(Theta(1), Theta(1))), Mul(Theta(2), Theta(2))));
        var small = Expression.LessThan(norm, Expression.Constant(1e-4));
        var (x, y, z) = (Expression.Divide(Theta(0), norm), Expression.Divide(Theta(1), norm), Expression.Divide(Theta(2), norm));
        var (s, c) = (Call(nameof(Math.Sin), norm), Call(nameof(Math.Cos), norm));
        var oneMinusC = Expression.Subtract(One, c);
        Expression Diagonal(Expression a) => Expression.Add(Expression.Multiply(a, a), Expression.Multiply(Expression.Subtract(One, Expression.Multiply(a, a)), c));
        Expression Off(Expression a, Expression b, Expression sign) => Expression.Add(Expression.Multiply(Expression.Multiply(a, b), oneMinusC), sign);
        var rodrigues = new Expression[,]
        {
            { Diagonal(x), Off(x, y, Expression.Negate(Expression.Multiply(z, s))), Off(x, z, Expression.Multiply(y, s)) },
            { Off(x, y, Expression.Multiply(z, s)), Diagonal(y), Off(y, z, Expression.Negate(Expression.Multiply(x, s))) },
            { Off(x, z, Expression.Negate(Expression.Multiply(y, s))), Off(z, y, Expression.Multiply(x, s)), Diagonal(z) },
        };
        var rotation = new Expression[3, 3];
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < 3; k++) rotation[r, k] = Expression.Condition(small, r == k ? One : Zero, rodrigues[r, k]);
        return (rotation, [Theta(3), Theta(4), Theta(5)]);
    }

    /// <summary>
    /// The skinned (and mirrored) position s of correspondence <paramref name="i"/>'s hand point, before the global
    /// transform. Each corner k has weight beta_k (1 for the simple variant); since skinning, mirroring and the global
    /// transform are linear and the betas sum to 1, the blend Σ_k beta_k V_k is Σ_b T_b q_b with
    /// q_b = Σ_k beta_k weight[v_k][b] base_position[v_k] (one pass over the bones instead of three).
    /// </summary>
    private Expression[] Skinned(Expression i, Expression[] betas)
    {
        var vertices = Enumerable.Range(0, Corners).Select(k =>
            (Expression)Data(nameof(HtData.Vertices), Expression.Add(Expression.Multiply(i, Expression.Constant(Corners)), Expression.Constant(k)))).ToArray();
        var s = new[] { Zero, Zero, Zero };
        for (int b = 0; b < BoneCount; b++)
        {
            var q = new Expression[4];
            for (int m = 0; m < 4; m++)
            {
                q[m] = Zero;
                for (int k = 0; k < Corners; k++)
                {
                    var weight = Data(nameof(HtData.Weights), Expression.Add(Expression.Multiply(vertices[k], Expression.Constant(BoneCount)), Expression.Constant(b)));
                    var position = Data(nameof(HtData.Positions), Expression.Add(Expression.Multiply(vertices[k], Expression.Constant(4)), Expression.Constant(m)));
                    q[m] = Add(q[m], Mul(Mul(betas[k], weight), position));
                }
            }
            for (int r = 0; r < 3; r++)
                for (int m = 0; m < 4; m++) s[r] = Add(s[r], Mul(_transforms[b][r, m], q[m]));
        }
        s[0] = Expression.Multiply(Expression.Field(_d, nameof(HtData.MirrorSign)), s[0]);
        return s;
    }

    /// <summary>The barycentric weights of correspondence i's corners: (u0, u1, 1 - u0 - u1) with u = us[i] + offsets, or (1).</summary>
    private Expression[] Betas(Expression i, Expression? offset0, Expression? offset1)
    {
        if (Corners == 1) return [One];
        Expression U(int k, Expression? offset)
        {
            var u = Data(nameof(HtData.Us), Expression.Add(Expression.Multiply(i, Expression.Constant(2)), Expression.Constant(k)));
            return offset is null ? u : Expression.Add(u, offset);
        }
        var (u0, u1) = (U(0, offset0), U(1, offset1));
        return [u0, u1, Expression.Subtract(Expression.Subtract(One, u0), u1)];
    }

    /// <summary>Observed point j of correspondence i minus the hand point: R (s) + t from the skinned s.</summary>
    private Expression Residual(Expression i, int j, Expression[] s) =>
        Expression.Subtract(Data(nameof(HtData.Points), Expression.Add(Expression.Multiply(i, Expression.Constant(3)), Expression.Constant(j))),
            Add(Add(Add(Mul(_rotation[j, 0], s[0]), Mul(_rotation[j, 1], s[1])), Mul(_rotation[j, 2], s[2])), _translation[j]));

    /// <summary>
    /// The residuals of the <paramref name="size"/> correspondences d.First .. d.First + size - 1, correspondence-major,
    /// as an array initializer. The skinned coordinates are three maps over those correspondences (loops: the bone
    /// transforms, computed once, are captured by their bodies); each residual applies the global transform to one
    /// map element. With <paramref name="offsets"/> (complicated variant) x = [theta, e0, e1] and correspondence i's us
    /// are us[i] + (e0, e1), evaluated at e = 0: residual i depends on no other correspondence's us, so d r_i / d e0 is
    /// exactly d r_i / d u_i0 (the us block of the Jacobian is block diagonal, and all its u_i0 columns share one
    /// direction, as in a compressed sparse Jacobian).
    /// </summary>
    /// <remarks>
    /// AD.Jacobian of this takes forward mode when 3 · size is at least x's 26 (28) elements: one sweep carries every
    /// input's tangent at once, and a tangent exists only where its input reaches (a finger's angles reach only that
    /// finger's bones). The residuals are written out rather than mapped because AD.Jacobian needs an array
    /// initializer, and because AD.Value of a kernel this long (lowered in chunks) cannot yet return a mapped array.
    /// </remarks>
    public Expression<Func<double[], HtData, double[]>> Residuals(int size, bool offsets)
    {
        if (offsets && Corners != 3) throw new ArgumentException("only the complicated variant has us offsets", nameof(offsets));
        var first = Expression.Field(_d, nameof(HtData.First));
        var (offset0, offset1) = offsets ? (Theta(26), Theta(27)) : ((Expression?)null, (Expression?)null);
        var range = Expression.Call(typeof(Enumerable).GetMethod(nameof(Enumerable.Range))!, first, Expression.Constant(size));
        var coordinates = new Expression[3];
        for (int j = 0; j < 3; j++)
        {
            var i = Expression.Parameter(typeof(int), "i");
            coordinates[j] = ToArray(range, Expression.Lambda<Func<int, double>>(Skinned(i, Betas(i, offset0, offset1))[j], i));
        }
        var residuals = new List<Expression>(3 * size);
        for (int k = 0; k < size; k++)
        {
            var s = coordinates.Select(a => (Expression)Expression.ArrayIndex(a, Expression.Constant(k))).ToArray();
            for (int j = 0; j < 3; j++) residuals.Add(Residual(Expression.Add(first, Expression.Constant(k)), j, s));
        }
        return Expression.Lambda<Func<double[], HtData, double[]>>(Expression.NewArrayInit(typeof(double), residuals), _x, _d);
    }

    private static Expression ToArray(Expression source, Expression<Func<int, double>> selector)
    {
        MethodInfo select = typeof(Enumerable).GetMethods().First(m => m.Name == nameof(Enumerable.Select)
            && m.GetParameters()[1].ParameterType.GetGenericArguments().Length == 2).MakeGenericMethod(typeof(int), typeof(double));
        return Expression.Call(typeof(Enumerable).GetMethod(nameof(Enumerable.ToArray))!.MakeGenericMethod(typeof(double)), Expression.Call(select, source, selector));
    }
}
