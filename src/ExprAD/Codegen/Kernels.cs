namespace ExprAD.Codegen;

// Compiled kernels take the lambda instance's runtime constants first, so one kernel serves every
// lambda of the same shape; BoundKernel subclasses pair a kernel with one instance's constants and
// expose the public delegate shapes.

internal delegate double ScalarKernel(object[] constants, double x);
internal delegate double GradientKernel(object[] constants, ReadOnlySpan<double> x, Span<double> gradient);
internal delegate double GradientKernel<TData>(object[] constants, ReadOnlySpan<double> x, TData data, Span<double> gradient);
internal delegate double ValueKernel(object[] constants, ReadOnlySpan<double> x);
internal delegate double ValueKernel<TData>(object[] constants, ReadOnlySpan<double> x, TData data);
internal delegate double DirectionalKernel(object[] constants, ReadOnlySpan<double> x, ReadOnlySpan<double> direction, out double derivative);
internal delegate void VectorValueKernel(object[] constants, ReadOnlySpan<double> x, Span<double> values);
internal delegate void VectorValueKernel<TData>(object[] constants, ReadOnlySpan<double> x, TData data, Span<double> values);
internal delegate void JacobianKernel(object[] constants, ReadOnlySpan<double> x, Span<double> values, Span<double> jacobian);
internal delegate void JacobianKernel<TData>(object[] constants, ReadOnlySpan<double> x, TData data, Span<double> values, Span<double> jacobian);
internal delegate (double, double) ScalarGradientKernel1(object[] constants, double x1);
internal delegate (double, double, double) ScalarGradientKernel2(object[] constants, double x1, double x2);
internal delegate (double, double, double, double) ScalarGradientKernel3(object[] constants, double x1, double x2, double x3);
internal delegate (double, double, double, double, double) ScalarGradientKernel4(object[] constants, double x1, double x2, double x3, double x4);

/// <summary>A kernel bound to the runtime constants of one lambda instance.</summary>
internal abstract class BoundKernel(object[] constants, CompilationInfo info)
{
    protected readonly object[] Constants = constants;
    public CompilationInfo Info { get; } = info;
}

internal sealed class BoundScalar(ScalarKernel k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public double Invoke(double x) => k(Constants, x);
}

internal sealed class BoundGradient(GradientKernel k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public double Invoke(ReadOnlySpan<double> x, Span<double> gradient) => k(Constants, x, gradient);
}

internal sealed class BoundGradient<TData>(GradientKernel<TData> k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public double Invoke(ReadOnlySpan<double> x, TData data, Span<double> gradient) => k(Constants, x, data, gradient);
}

internal sealed class BoundValue(ValueKernel k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public double Invoke(ReadOnlySpan<double> x) => k(Constants, x);
}

internal sealed class BoundValue<TData>(ValueKernel<TData> k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public double Invoke(ReadOnlySpan<double> x, TData data) => k(Constants, x, data);
}

internal sealed class BoundVectorValue(VectorValueKernel k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public void Invoke(ReadOnlySpan<double> x, Span<double> values) => k(Constants, x, values);
}

internal sealed class BoundVectorValue<TData>(VectorValueKernel<TData> k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public void Invoke(ReadOnlySpan<double> x, TData data, Span<double> values) => k(Constants, x, data, values);
}

internal sealed class BoundJacobian(JacobianKernel k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public void Invoke(ReadOnlySpan<double> x, Span<double> values, Span<double> jacobian) => k(Constants, x, values, jacobian);
}

internal sealed class BoundJacobian<TData>(JacobianKernel<TData> k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public void Invoke(ReadOnlySpan<double> x, TData data, Span<double> values, Span<double> jacobian) => k(Constants, x, data, values, jacobian);
}

internal sealed class BoundDirectional(DirectionalKernel k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public double Invoke(ReadOnlySpan<double> x, ReadOnlySpan<double> direction, out double derivative) => k(Constants, x, direction, out derivative);
}

internal sealed class BoundScalarGradient1(ScalarGradientKernel1 k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public (double, double) Invoke(double x1) => k(Constants, x1);
}

internal sealed class BoundScalarGradient2(ScalarGradientKernel2 k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public (double, double, double) Invoke(double x1, double x2) => k(Constants, x1, x2);
}

internal sealed class BoundScalarGradient3(ScalarGradientKernel3 k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public (double, double, double, double) Invoke(double x1, double x2, double x3) => k(Constants, x1, x2, x3);
}

internal sealed class BoundScalarGradient4(ScalarGradientKernel4 k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public (double, double, double, double, double) Invoke(double x1, double x2, double x3, double x4) => k(Constants, x1, x2, x3, x4);
}

internal delegate double HessianBlockKernel(object[] constants, ReadOnlySpan<double> x, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv);
internal delegate double HessianBlockKernel<TData>(object[] constants, ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv);

internal sealed class BoundHessianVector(HessianBlockKernel k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public double Invoke(ReadOnlySpan<double> x, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv) => k(Constants, x, v, gradient, hv);
}

internal sealed class BoundHessianVector<TData>(HessianBlockKernel<TData> k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public double Invoke(ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> v, Span<double> gradient, Span<double> hv) => k(Constants, x, data, v, gradient, hv);
}

internal delegate void ProductKernel(object[] constants, ReadOnlySpan<double> x, ReadOnlySpan<double> vector, Span<double> values, Span<double> product);
internal delegate void ProductKernel<TData>(object[] constants, ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> vector, Span<double> values, Span<double> product);

internal sealed class BoundProduct(ProductKernel k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public void Invoke(ReadOnlySpan<double> x, ReadOnlySpan<double> vector, Span<double> values, Span<double> product) => k(Constants, x, vector, values, product);
}

internal sealed class BoundProduct<TData>(ProductKernel<TData> k, object[] c, CompilationInfo i) : BoundKernel(c, i)
{
    public void Invoke(ReadOnlySpan<double> x, TData data, ReadOnlySpan<double> vector, Span<double> values, Span<double> product) => k(Constants, x, data, vector, values, product);
}
