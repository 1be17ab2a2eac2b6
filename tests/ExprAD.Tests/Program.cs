namespace ExprAD.Tests;

/// <summary>
/// The test assembly's entry point (the project sets GenerateProgramFile to false; Microsoft.NET.Test.Sdk would
/// otherwise generate an empty one). <c>dotnet test</c> never calls it: the test host loads the assembly as a library.
/// <see cref="DeepExpressionTests"/> starts <c>dotnet ExprAD.Tests.dll deep-child &lt;scenario&gt;</c> to run a
/// scenario whose failure mode is a stack overflow in a process of its own.
/// </summary>
internal static class Program
{
    public static int Main(string[] args)
    {
        if (args is [DeepExpressionTests.ChildCommand, var scenario]) return DeepExpressionTests.RunChildScenario(scenario);
        Console.Error.WriteLine($"usage: dotnet ExprAD.Tests.dll {DeepExpressionTests.ChildCommand} <{string.Join(" | ", DeepExpressionTests.ChildScenarios.Keys)}>; run the tests with dotnet test");
        return 2;
    }
}
