namespace ExprAD.Optimization;

/// <summary>
/// The batches of a stochastic run: a permutation of the sample indices, shuffled afresh each epoch (Fisher–Yates, from a
/// generator seeded once per run, so a seed fixes every epoch's order), and two reused arrays the batches are copied
/// into: one of the batch size and one of the last, shorter batch's length. f therefore sees a plain array of exactly the
/// batch's samples, and a step allocates nothing.
/// </summary>
internal sealed class Minibatches<TSample>
{
    private readonly TSample[] _samples;
    private readonly int[] _order;
    private readonly Random _random;
    private readonly TSample[] _full, _last;

    public Minibatches(TSample[] samples, int batchSize, int seed)
    {
        _samples = samples;
        _order = new int[samples.Length];
        for (int i = 0; i < _order.Length; i++) _order[i] = i;
        _random = new Random(seed);
        int size = Math.Min(batchSize, samples.Length);
        _full = new TSample[size];
        int rest = samples.Length % size;
        _last = rest == 0 ? _full : new TSample[rest];
    }

    /// <summary>Batches per epoch.</summary>
    public int Count => (_samples.Length + _full.Length - 1) / _full.Length;

    /// <summary>Draws the next epoch's order: a uniformly random permutation.</summary>
    public void Shuffle()
    {
        for (int i = _order.Length - 1; i > 0; i--)
        {
            int j = _random.Next(i + 1);
            (_order[i], _order[j]) = (_order[j], _order[i]);
        }
    }

    /// <summary>Batch <paramref name="index"/> of the current epoch, copied into a reused array (overwritten by the next call).</summary>
    public TSample[] Batch(int index)
    {
        int start = index * _full.Length;
        var batch = start + _full.Length <= _samples.Length ? _full : _last;
        for (int k = 0; k < batch.Length; k++) batch[k] = _samples[_order[start + k]];
        return batch;
    }
}
