namespace ExprAD.Examples;

/// <summary>A data set for the logistic regression example: rows of features and ±1 labels.</summary>
public sealed class Dataset
{
    /// <summary>The features, one row per example.</summary>
    public double[][] X = [];

    /// <summary>The labels, +1 or -1.</summary>
    public double[] Y = [];
}
