using System.Text.Json.Nodes;
using ExprAD.GradBench;
using NUnit.Framework;

namespace ExprAD.Tests;

/// <summary>
/// The GradBench tool against the suite's golden outputs (reference outputs of the suite's own implementation),
/// copied unchanged into tests/data/gradbench (see its README), compared by the suite's rule: same structure,
/// integers equal, floats equal when |x - y| / max(1, |x| + |y|) &lt;= 1e-4. Also the protocol's other messages.
/// </summary>
[TestFixture]
public class GradBenchToolTests
{
    /// <summary>
    /// The golden cases in the repository: 58 files (ba1-ba3 and the ba fixture give 8 of them; ht_simple, ht_complicated
    /// and kmeans 2 each, det 6).
    /// </summary>
    private const int GoldenCount = 58, BaGoldenCount = 8;

    /// <summary>
    /// tests/data/gradbench of this repository: the repository root is the first folder above the test assembly that
    /// holds ExprAD.sln. Nothing outside the repository is read.
    /// </summary>
    private static string BenchData()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ExprAD.sln"))) directory = directory.Parent;
        if (directory is null) throw new DirectoryNotFoundException($"No folder above {AppContext.BaseDirectory} holds ExprAD.sln.");
        var data = Path.Combine(directory.FullName, "tests", "data", "gradbench");
        if (!Directory.Exists(data)) throw new DirectoryNotFoundException($"The GradBench test data is missing: {data}");
        return data;
    }

    public static IEnumerable<TestCaseData> Goldens()
    {
        var data = BenchData();
        foreach (var module in new[] { "lse", "llsq", "gmm", "lstm", "ode", "ba", "ht_simple", "ht_complicated", "kmeans", "det" })
            foreach (var golden in Directory.GetFiles(Path.Combine(data, module), "*.golden.json").Order())
                yield return new TestCaseData(golden).SetName($"{module}: {Path.GetFileName(golden)}");
        foreach (var module in new[] { "gmm", "ba" })
            foreach (var golden in Directory.GetFiles(Path.Combine(data, "fixtures"), module + "_*.golden.json").Order())
                yield return new TestCaseData(golden).SetName($"fixtures: {Path.GetFileName(golden)}");
    }

    [Test]
    public void TheVisibleGoldensExist()
    {
        var goldens = Goldens().Select(c => (string)c.Arguments[0]!).ToList();
        Assert.That(goldens, Has.Count.EqualTo(GoldenCount), "golden files in tests/data/gradbench");
        Assert.That(goldens.Count(g => Path.GetFileName(g).StartsWith("ba")), Is.EqualTo(BaGoldenCount), "ba1-ba3 and the fixture, objective and jacobian each");
        foreach (var golden in goldens)
        {
            var name = Path.GetFileName(golden);
            Assert.That(File.Exists(Path.Combine(Path.GetDirectoryName(golden)!, name[..name.IndexOf('.')] + ".input.json")), $"the input of {name}");
        }
    }

    [TestCaseSource(nameof(Goldens))]
    public void MatchesTheGolden(string goldenPath)
    {
        var golden = JsonNode.Parse(File.ReadAllText(goldenPath))!.AsObject();
        var name = Path.GetFileName(goldenPath);
        var caseName = name[..name.IndexOf('.')];
        var input = JsonNode.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(goldenPath)!, caseName + ".input.json")))!;
        var tool = new Tool();
        var message = new JsonObject
        {
            ["id"] = 7, ["kind"] = "evaluate", ["module"] = (string)golden["module"]!, ["function"] = (string)golden["function"]!,
            ["input"] = input, ["description"] = caseName,
        };
        var reply = JsonNode.Parse(tool.Handle(message.ToJsonString()))!.AsObject();
        Assert.That((int)reply["id"]!, Is.EqualTo(7));
        Assert.That((bool)reply["success"]!, Is.True, (string?)reply["error"]);
        Assert.That(reply["timings"]!.AsArray().Count(t => (string)t!["name"]! == "evaluate"), Is.GreaterThanOrEqualTo(1));
        Assert.That(reply["timings"]!.AsArray().Count(t => (string)t!["name"]! == "compile"), Is.EqualTo(1), "the compile time is a timing of its own");
        AssertSame(golden["output"]!, reply["output"]!, "output");
    }

    /// <summary>The suite's rule for comparing outputs.</summary>
    private static void AssertSame(JsonNode expected, JsonNode actual, string path)
    {
        switch (expected)
        {
            case JsonArray e:
                var a = actual.AsArray();
                Assert.That(a.Count, Is.EqualTo(e.Count), $"{path}: length");
                for (int i = 0; i < e.Count; i++) AssertSame(e[i]!, a[i]!, $"{path}[{i}]");
                break;
            case JsonObject e:
                var o = actual.AsObject();
                Assert.That(o.Select(p => p.Key).Order(), Is.EqualTo(e.Select(p => p.Key).Order()), $"{path}: keys");
                foreach (var (key, value) in e) AssertSame(value!, o[key]!, $"{path}.{key}");
                break;
            case JsonValue e when e.GetValueKind() == System.Text.Json.JsonValueKind.Number && e.TryGetValue(out long integer):
                // An integer of the golden (an index or a count: ba's CSR columns, row pointers, repeat counts) must be
                // the same integer; the float tolerance would let an index 1 off pass once it exceeds 5,000.
                Assert.That(actual.AsValue().TryGetValue(out long actualInteger) ? actualInteger : (long?)null, Is.EqualTo(integer), $"{path}: {actual} vs golden {integer}");
                break;
            default:
                double x = (double)expected, y = (double)actual;
                Assert.That(Math.Abs(x - y) / Math.Max(1, Math.Abs(x) + Math.Abs(y)), Is.LessThanOrEqualTo(1e-4), $"{path}: {y} vs golden {x}");
                break;
        }
    }

    [Test]
    public void TheProtocolsOtherMessages()
    {
        var tool = new Tool();
        Assert.That(JsonNode.Parse(tool.Handle("""{"id":0,"kind":"start","eval":"lse"}"""))!["tool"]!.ToString(), Is.EqualTo("exprad"));
        Assert.That((bool)JsonNode.Parse(tool.Handle("""{"id":1,"kind":"define","module":"llsq"}"""))!["success"]!, Is.True);
        var missing = JsonNode.Parse(tool.Handle("""{"id":2,"kind":"define","module":"nosuch"}"""))!;
        Assert.That((bool)missing["success"]!, Is.False);
        Assert.That(JsonNode.Parse(tool.Handle("""{"id":3,"kind":"analysis","of":2,"valid":true}"""))!.ToJsonString(), Is.EqualTo("""{"id":3}"""));
        var hello = JsonNode.Parse(tool.Handle("""{"id":4,"kind":"evaluate","module":"hello","function":"double","input":3.5}"""))!;
        Assert.That((double)hello["output"]!, Is.EqualTo(7.0));
        var unknown = JsonNode.Parse(tool.Handle("""{"id":5,"kind":"evaluate","module":"lse","function":"nosuch","input":{"x":[1.0]}}"""))!;
        Assert.That((bool)unknown["success"]!, Is.False);
    }
}
