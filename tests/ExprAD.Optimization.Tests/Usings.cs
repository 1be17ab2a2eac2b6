global using NUnit.Framework;
global using System.Linq.Expressions;
global using ExprAD;
global using ExprAD.Optimization;
