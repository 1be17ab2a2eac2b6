using BenchmarkDotNet.Attributes;

namespace ExprAD.Benchmarks;

/// <summary>(c) Squared-error loss of a 5 -> 20 (tanh) -> 4 MLP, 204 weights written with constant indices.</summary>
[MemoryDiagnoser]
[ThreeLaunches]
public class Mlp
{
    private readonly double[] _w = Functions.MlpWeights();
    private readonly double[] _g = new double[Functions.Weights];
    private readonly Functions.MlpData _data = Functions.MlpSample();
    private GradientFunc<Functions.MlpData> _gradient = null!;
    private GradientFunc _bakedGradient = null!;
    private Func<double[], Functions.MlpData, double> _compiled = null!;

    [GlobalSetup]
    public void Setup()
    {
        var withData = (System.Linq.Expressions.Expression<Func<double[], Functions.MlpData, double>>)Functions.Mlp(_data, baked: false);
        var baked = (System.Linq.Expressions.Expression<Func<double[], double>>)Functions.Mlp(_data, baked: true);
        _gradient = AD.Gradient(withData);
        _bakedGradient = AD.Gradient(baked);
        _compiled = withData.Compile();
        var expected = new double[Functions.Weights];
        double v = Functions.MlpGradient(_w, _data, expected);
        Functions.Check("mlp (data)", _gradient(_w, _data, _g), _g, v, expected);
        Functions.Check("mlp (baked)", _bakedGradient(_w, _g), _g, v, expected);
        Functions.Check("mlp compiled", _compiled(_w, _data), [], Functions.MlpValue(_w, _data), []);
    }

    [Benchmark(Baseline = true, Description = "hand-written backprop")]
    public double HandGradient() => Functions.MlpGradient(_w, _data, _g);

    [Benchmark(Description = "ExprAD gradient, data argument")]
    public double ExprADGradient() => _gradient(_w, _data, _g);

    [Benchmark(Description = "ExprAD gradient, input baked in")]
    public double ExprADBakedGradient() => _bakedGradient(_w, _g);

    [Benchmark(Description = "hand-written loss")]
    public double HandLoss() => Functions.MlpValue(_w, _data);

    [Benchmark(Description = "loss, Expression.Compile()")]
    public double CompiledLoss() => _compiled(_w, _data);
}
