// ExprAD examples: the paper's evaluation traces, gradient descent on Rosenbrock, logistic regression
// on 100,000 rows, your own [Differentiable] functions (OwnFunctions.cs), the GMM and LSTM objectives
// of GradBench, why finite differences are no substitute for AD, and learning with ExprAD.Optimization: a network
// trained by Adam then L-BFGS, Newton-CG on logistic regression, total-variation denoising by sparse Newton, SMD
// against SGD (DigitsTraining.cs, LogisticNewton.cs, Denoising.cs, MetaDescent.cs; their PNG plots go to ./output/).
// Run with:
//   dotnet run -c Release --project examples/ExprAD.Examples
// the learning examples alone with "-- learning", or some of them by name: "-- digits-training logistic-newton denoising meta-descent".
using System.Globalization;
using System.Linq.Expressions;
using ExprAD;
using ExprAD.Examples;
using ExprAD.GradBench;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

string dataFolder = Path.Combine(AppContext.BaseDirectory, "data");
string[] learning = ["digits-training", "logistic-newton", "denoising", "meta-descent"];
var chosen = args.Length == 0 ? null : args.SelectMany(a => a == "learning" ? learning : [a]).ToHashSet();
if (chosen?.Except(learning).FirstOrDefault() is { } unknown)
{
    Console.Error.WriteLine($"Unknown example '{unknown}': give none (all examples), 'learning', or some of {string.Join(", ", learning)}.");
    return 1;
}
if (chosen is null)
{
    Basics();
    chosen = [.. learning];
}
string output = Plots.Prepare(Plots.DefaultFolder);
if (chosen.Contains("digits-training"))
{
    Heading($"Training a network on the digits: Adam over minibatches, then L-BFGS (plots into {output})");
    DigitsTraining.Run(dataFolder, output);
}
if (chosen.Contains("logistic-newton"))
{
    Heading($"Logistic regression on the breast cancer data: Newton-CG with exact Hv, L-BFGS, gradient descent (plots into {output})");
    LogisticNewton.Run(dataFolder, output);
}
if (chosen.Contains("denoising"))
{
    Heading($"Total-variation denoising: sparse Newton and L-BFGS on an energy over 16,384 pixels (plots into {output})");
    Denoising.Run(output);
}
if (chosen.Contains("meta-descent"))
{
    Heading($"Stochastic meta-descent against SGD on ill-conditioned least squares (plots into {output})");
    MetaDescent.Run(output);
}
return 0;

// The sections that show ExprAD itself: traces, derivatives, compiled objectives, nested AD.
static void Basics()
{
    string dataFolder = Path.Combine(AppContext.BaseDirectory, "data");
    PaperTables();
    RosenbrockDescent();
    NewtonOnRosenbrock();
    LogisticRegression();
    OwnFunctions.Run();
    GaussianMixture();
    Lstm();
    FiniteDifferenceError();
    Heading("A two-layer network on the digits data set, written with [Differentiable] helpers and LINQ over Sample[]");
    ExprAD.Examples.Digits.Run(dataFolder);
    Heading("Hyperparameter optimisation: d(validation loss)/dλ through 50 steps of gradient descent (AD.Grad inside an Aggregate)");
    ExprAD.Examples.Hyperparameters.Run(dataFolder);
}

// Tables 1 and 2 of Baydin & Pearlmutter: f(x1, x2) = ln x1 + x1 x2 - sin x2 at (2, 5).
static void PaperTables()
{
    Expression<Func<double, double, double>> f = (x1, x2) => Math.Log(x1) + x1 * x2 - Math.Sin(x2);
    var trace = AD.Trace(f);
    Heading("The evaluation trace of f(x1, x2) = ln x1 + x1 x2 - sin x2");
    Console.WriteLine(trace);
    Heading("Table 1: forward mode at (x1, x2) = (2, 5), seeded with ẋ1 = 1, ẋ2 = 0");
    Console.WriteLine(trace.ForwardTable([2, 5], [1, 0]));
    Heading("Table 2: reverse mode at (x1, x2) = (2, 5), seeded with ȳ = 1");
    Console.WriteLine(trace.ReverseTable([2, 5]));

    var compiled = AD.Gradient(f);
    var (y, dx1, dx2) = compiled(2, 5);
    Console.WriteLine();
    Console.WriteLine($"Compiled delegate: y = {y:F4}, ∂y/∂x1 = {dx1:F4}, ∂y/∂x2 = {dx2:F4}   ({AD.GetCompilationInfo(compiled)})");
}

// Minimises the Rosenbrock function with gradient descent and a backtracking (Armijo) line search.
static void RosenbrockDescent()
{
    Heading("Gradient descent on Rosenbrock f(x) = Σ 100 (x[i+1] - x[i]²)² + (1 - x[i])², n = 4");
    var gradient = AD.Gradient(x =>
        100 * (x[1] - x[0] * x[0]) * (x[1] - x[0] * x[0]) + (1 - x[0]) * (1 - x[0]) +
        100 * (x[2] - x[1] * x[1]) * (x[2] - x[1] * x[1]) + (1 - x[1]) * (1 - x[1]) +
        100 * (x[3] - x[2] * x[2]) * (x[3] - x[2] * x[2]) + (1 - x[2]) * (1 - x[2]));

    double[] x = [-1.2, 1.0, -1.2, 1.0], g = new double[4], trial = new double[4], gTrial = new double[4];
    double step = 1e-3;
    double fx = gradient(x, g);
    const int iterations = 20_000;
    for (int iteration = 0; iteration <= iterations; iteration++)
    {
        if (iteration % 2_000 == 0)
            Console.WriteLine($"  iteration {iteration,6}: f = {fx,11:0.0000E+00}, |∇f| = {Norm(g),10:0.000E+00}, x = [{string.Join(", ", x.Select(v => v.ToString("F5")))}]");
        if (Norm(g) < 1e-10) break;
        // Armijo backtracking: shrink the step until f decreases enough, then let it grow again.
        step *= 2;
        while (true)
        {
            for (int i = 0; i < 4; i++) trial[i] = x[i] - step * g[i];
            double fTrial = gradient(trial, gTrial);
            if (fTrial <= fx - 1e-4 * step * Dot(g, g)) { fx = fTrial; break; }
            step /= 2;
        }
        (x, trial) = (trial, x);
        (g, gTrial) = (gTrial, g);
    }
    Console.WriteLine($"  minimum found at [{string.Join(", ", x.Select(v => v.ToString("F6")))}] (the exact minimum is [1, 1, 1, 1])");

    // The same function handed to ExprAD.Optimization: L-BFGS with a strong-Wolfe line search, one call.
    var lbfgs = ExprAD.Optimization.Minimize.Lbfgs(gradient, [-1.2, 1.0, -1.2, 1.0], new ExprAD.Optimization.MinimizeOptions { GradientTolerance = 1e-10 });
    Console.WriteLine($"  Minimize.Lbfgs: [{string.Join(", ", lbfgs.X.Select(v => v.ToString("F6")))}] after {lbfgs.Iterations} iterations, {lbfgs.Evaluations} calls of f ({lbfgs.Reason})");
}

// Newton's method with exact second derivatives: the dense Hessian (forward over reverse, several directions per sweep)
// gives the step, and a Hessian-vector product checks it (H · step = -∇f). Converges in a few dozen steps where gradient
// descent above needs thousands. From this start it reaches the local minimum near x0 = -1 that the extended Rosenbrock
// function has for n >= 4 (f ≈ 3.97), not the global one at [1, ..., 1].
static void NewtonOnRosenbrock()
{
    Heading("Newton's method on the LINQ Rosenbrock function, n = 6, with AD.Hessian and AD.HessianVector");
    Expression<Func<double[], double>> f = x => Enumerable.Range(0, x.Length - 1)
        .Sum(i => 100 * (x[i + 1] - x[i] * x[i]) * (x[i + 1] - x[i] * x[i]) + (1 - x[i]) * (1 - x[i]));
    var hessian = AD.Hessian(f);
    var hvp = AD.HessianVector(f);
    int n = 6;
    var x = Enumerable.Range(0, n).Select(i => i % 2 == 0 ? -1.2 : 1.0).ToArray();
    var g = new double[n];
    var h = new double[n * n];
    var hStep = new double[n];
    for (int iteration = 0; iteration < 100; iteration++)
    {
        double fx = hessian(x, g, h);
        if (Norm(g) < 1e-10)
        {
            Console.WriteLine($"  converged after {iteration} Newton steps to the local minimum f = {fx:0.000E+00} at x = [{string.Join(", ", x.Select(v => v.ToString("F6")))}]");
            return;
        }
        // Solve (H + μI) step = -g by Gaussian elimination, with μ raised until the step decreases f (a damped Newton step).
        for (double mu = 0; ; mu = Math.Max(1e-3, mu * 10))
        {
            var step = Solve(h, g, n, mu);
            var trial = x.Select((v, i) => v + step[i]).ToArray();
            if (AD.Value(f)(trial) < fx)
            {
                hvp(x, step, g, hStep);
                double residual = Enumerable.Range(0, n).Max(i => Math.Abs(hStep[i] + mu * step[i] + g[i]));
                if (iteration % 5 == 0)
                    Console.WriteLine($"  step {iteration,3}: f = {fx,11:0.0000E+00}, |∇f| = {Norm(g),10:0.000E+00}, damping {mu:0.0E+00}, |(H + μI)·step + ∇f| = {residual:0.0E+00}");
                x = trial;
                break;
            }
        }
    }
}

static double[] Solve(double[] h, double[] g, int n, double mu)
{
    var a = new double[n, n + 1];
    for (int i = 0; i < n; i++)
    {
        for (int j = 0; j < n; j++) a[i, j] = h[i * n + j] + (i == j ? mu : 0);
        a[i, n] = -g[i];
    }
    for (int c = 0; c < n; c++)
    {
        int pivot = Enumerable.Range(c, n - c).MaxBy(r => Math.Abs(a[r, c]));
        for (int j = 0; j <= n; j++) (a[c, j], a[pivot, j]) = (a[pivot, j], a[c, j]);
        for (int r = c + 1; r < n; r++)
        {
            double factor = a[r, c] / a[c, c];
            for (int j = c; j <= n; j++) a[r, j] -= factor * a[c, j];
        }
    }
    var step = new double[n];
    for (int i = n - 1; i >= 0; i--)
    {
        double sum = a[i, n];
        for (int j = i + 1; j < n; j++) sum -= a[i, j] * step[j];
        step[i] = sum / a[i, i];
    }
    return step;
}

// Trains a regularised logistic regression on 100,000 generated rows by full-batch gradient
// descent. The model is a LINQ lambda over the data: it compiles to loops, not to 2 million terms.
static void LogisticRegression()
{
    const int rows = 100_000, features = 20;
    Heading($"Logistic regression: {rows:N0} rows x {features} features, gradient descent");
    var random = new Random(7);
    var truth = Enumerable.Range(0, features).Select(_ => random.NextDouble() * 2 - 1).ToArray();
    var data = new Dataset { X = new double[rows][], Y = new double[rows] };
    for (int i = 0; i < rows; i++)
    {
        data.X[i] = Enumerable.Range(0, features).Select(_ => random.NextDouble() * 2 - 1).ToArray();
        double margin = data.X[i].Zip(truth, (p, q) => p * q).Sum();
        data.Y[i] = random.NextDouble() < 1 / (1 + Math.Exp(-4 * margin)) ? 1 : -1;
    }

    var clock = System.Diagnostics.Stopwatch.StartNew();
    var loss = AD.Gradient<Dataset>((w, d) => Enumerable.Range(0, d.Y.Length).Sum(i =>
            Math.Log(1 + Math.Exp(-d.Y[i] * Enumerable.Range(0, w.Length).Sum(j => w[j] * d.X[i][j]))))
        + 0.01 * w.Sum(v => v * v));
    Console.WriteLine($"  compiled in {clock.Elapsed.TotalMilliseconds:F0} ms ({AD.GetCompilationInfo(loss)})");

    double[] w = new double[features], g = new double[features];
    const double rate = 4.0;
    clock.Restart();
    for (int epoch = 1; epoch <= 30; epoch++)
    {
        double value = loss(w, data, g) / rows;
        for (int j = 0; j < features; j++) w[j] -= rate * g[j] / rows;
        if (epoch % 5 == 0 || epoch == 1)
            Console.WriteLine($"  epoch {epoch,3}: mean loss {value:F5}, |∇| {Norm(g) / rows:0.000E+00}  [{new string('#', epoch * 40 / 30),-40}]");
    }
    double perGradient = clock.Elapsed.TotalMilliseconds / 30;
    int correct = Enumerable.Range(0, rows).Count(i => Math.Sign(data.X[i].Zip(w, (p, q) => p * q).Sum()) == (int)data.Y[i]);
    Console.WriteLine($"  {perGradient:F1} ms per gradient over all rows; training accuracy {100.0 * correct / rows:F1}%; " +
        $"cosine(w, truth) = {Dot(w, truth) / (Norm(w) * Norm(truth)):F3}");
}

// The Gaussian mixture log-posterior of GradBench (bench/ExprAD.GradBench/Gmm.cs: beta(i, k) as a lambda,
// each point's log-sum-exp over components as an Aggregate), on generated points.
static void GaussianMixture()
{
    const int d = 10, k = 25, n = 1000;
    Heading($"Gaussian mixture objective: d = {d}, k = {k}, n = {n:N0} points");
    var random = new Random(3);
    var data = new GmmData { D = d, K = k, N = n, M = 0, Gamma = 1, X = new double[n][] };
    for (int i = 0; i < n; i++) data.X[i] = Enumerable.Range(0, d).Select(_ => random.NextDouble() * 2 - 1).ToArray();
    var w = Enumerable.Range(0, k + 2 * k * d + k * data.LCount).Select(_ => random.NextDouble() * 0.2 - 0.1).ToArray();
    Compare("GMM", AD.Value(Gmm.Objective), AD.Gradient(Gmm.Objective), w, data, index: data.QOffset + 3);
}

// GradBench's LSTM (bench/ExprAD.GradBench/Lstm.cs: the cell as lambdas, the characters one fold) on a
// generated sequence: the gradient goes back through 499 steps without unrolling them.
static void Lstm()
{
    const int layers = 2, lanes = 14, characters = 500;
    Heading($"LSTM objective: {layers} layers x {lanes} lanes over {characters} characters");
    var random = new Random(5);
    double[] Row() => Enumerable.Range(0, lanes).Select(_ => random.NextDouble() * 2 - 1).ToArray();
    var data = new LstmData
    {
        State = Enumerable.Range(0, 2 * layers).Select(_ => Row()).ToArray(),
        Sequence = Enumerable.Range(0, characters).Select(_ => Row()).ToArray(),
    };
    var w = Enumerable.Range(0, 8 * layers * lanes + 3 * lanes).Select(_ => random.NextDouble() * 0.2 - 0.1).ToArray();
    var objective = ExprAD.GradBench.Lstm.Objective(layers, lanes);
    Compare("LSTM", AD.Value(objective), AD.Gradient(objective), w, data, index: 8 * layers * lanes + lanes + 3);
}

// Times an objective and its gradient, and checks one partial against a central difference.
static void Compare<TData>(string name, ValueFunc<TData> value, GradientFunc<TData> gradient, double[] w, TData data, int index)
{
    Console.WriteLine($"  compiled: value {AD.GetCompilationInfo(value)}; gradient {AD.GetCompilationInfo(gradient)}");
    var g = new double[w.Length];
    double Best(Action run)
    {
        double best = double.MaxValue;
        for (int r = 0; r < 10; r++)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            run();
            best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
        }
        return best;
    }
    double f = value(w, data);
    double valueTime = Best(() => value(w, data)), gradientTime = Best(() => gradient(w, data, g));
    Console.WriteLine($"  {name} objective {f:F6}: {valueTime:F2} ms; value and gradient of {w.Length} parameters: {gradientTime:F2} ms ({gradientTime / valueTime:F1}x)");
    const double h = 1e-5;
    var plus = (double[])w.Clone();
    var minus = (double[])w.Clone();
    plus[index] += h;
    minus[index] -= h;
    double central = (value(plus, data) - value(minus, data)) / (2 * h);
    Console.WriteLine($"  ∂f/∂w[{index}]: AD {g[index]:E10}, central difference {central:E10}");
}

// Central differences against the exact AD derivative: truncation error falls as h², round-off grows as 1/h.
static void FiniteDifferenceError()
{
    Heading("Central finite differences vs AD for f(x) = exp(x) sin(x) / (1 + x²) at x = 1.5");
    Expression<Func<double, double>> f = x => Math.Exp(x) * Math.Sin(x) / (1 + x * x);
    var plain = f.Compile();
    double exact = AD.Derivative(f)(1.5);
    Console.WriteLine($"  AD derivative: {exact:R}");
    Console.WriteLine($"  {"h",8}  {"(f(x+h) - f(x-h)) / 2h",24}  {"error",10}");
    for (int e = 1; e <= 13; e++)
    {
        double h = Math.Pow(10, -e);
        double estimate = (plain(1.5 + h) - plain(1.5 - h)) / (2 * h);
        Console.WriteLine($"  {h,8:0E+00}  {estimate,24:R}  {Math.Abs(estimate - exact),10:0.00E+00}");
    }
    Console.WriteLine("  The error first falls with h (truncation, O(h²)), then rises again (round-off, O(ε/h)):");
    Console.WriteLine("  no step size gives more than about 11 correct digits, while AD is exact to rounding.");
}

static void Heading(string title)
{
    Console.WriteLine();
    Console.WriteLine(title);
    Console.WriteLine(new string('-', Math.Min(title.Length, 100)));
}

static double Dot(double[] a, double[] b) => a.Zip(b, (p, q) => p * q).Sum();

static double Norm(double[] a) => Math.Sqrt(Dot(a, a));
