// A GradBench tool: speaks the suite's protocol on stdin/stdout (one JSON object a line) and
// writes nothing else to stdout. Start it with
//   dotnet run --project bench/ExprAD.GradBench -c Release --no-build
using ExprAD.GradBench;

var tool = new Tool();
string? line;
while ((line = Console.In.ReadLine()) is not null)
{
    if (line.Length == 0) continue;
    Console.Out.WriteLine(tool.Handle(line));
    Console.Out.Flush();
}
