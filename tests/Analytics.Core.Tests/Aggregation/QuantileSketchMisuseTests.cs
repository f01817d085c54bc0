using System.Buffers;

namespace Analytics.Core.Tests.Aggregation;

/// <summary>
/// What <see cref="QuantileSketch"/> says when misused (the exception type, the parameter and what is wrong, as its
/// XML docs promise), and the negative side's collapse flag through the binary form.
/// </summary>
public class QuantileSketchMisuseTests
{
    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(double.NegativeInfinity)]
    public void Add_NonFiniteValue_ThrowsSayingItMustBeFinite(double value)
    {
        var sketch = new QuantileSketch();
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => sketch.Add(value));
        Assert.Equal("value", e.ParamName);
        Assert.Contains("must be finite", e.Message, StringComparison.Ordinal);
        Assert.Equal(0, sketch.Count);
    }

    [Fact]
    public void Merge_Null_ThrowsArgumentNullForOther()
    {
        var sketch = new QuantileSketch();
        sketch.Add(1);
        var e = Assert.Throws<ArgumentNullException>(() => sketch.Merge(null!));
        Assert.Equal("other", e.ParamName);
        Assert.Equal(1, sketch.Count);
    }

    [Theory]
    [InlineData(0.02, 2048)]
    [InlineData(0.01, 1024)]
    public void Merge_DifferentAccuracyOrBound_ThrowsNamingTheDifference(double alpha, int maxBins)
    {
        var sketch = new QuantileSketch();
        sketch.Add(1);
        var other = new QuantileSketch(alpha, maxBins);
        other.Add(2);
        var e = Assert.Throws<ArgumentException>(() => sketch.Merge(other));
        Assert.Equal("other", e.ParamName);
        Assert.Contains("different accuracies or bin bounds", e.Message, StringComparison.Ordinal);
        Assert.Equal(1, sketch.Count);
    }

    [Theory]
    [InlineData(-0.01)]
    [InlineData(1.01)]
    [InlineData(double.NaN)]
    public void GetQuantile_OutsideZeroToOne_ThrowsSayingTheRange(double q)
    {
        var sketch = new QuantileSketch();
        sketch.Add(1);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => sketch.GetQuantile(q));
        Assert.Equal("q", e.ParamName);
        Assert.Contains("between 0 and 1", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void IsCollapsed_OfTheNegativeSide_SurvivesTheBinaryForm()
    {
        // 40 distinct negative bins with MaxBins = 16: the negative store collapses, the positive one does not.
        var options = AggregatorOptions.Default with { MaxBins = 16 };
        var aggregate = new MetricAggregate(options);
        for (int i = 0; i < 40; i++)
        {
            aggregate.Add(-Math.Pow(1.05, i));
        }

        aggregate.Add(7);
        Assert.True(aggregate.Sketch.Negative.IsCollapsed);
        Assert.False(aggregate.Sketch.Positive.IsCollapsed);

        var buffer = new ArrayBufferWriter<byte>();
        aggregate.WriteTo(buffer);
        var read = new MetricAggregate(options);
        Assert.True(read.TryReadFrom(buffer.WrittenSpan, out int bytesRead));
        Assert.Equal(buffer.WrittenCount, bytesRead);
        Assert.True(read.IsCollapsed);
        Assert.True(read.Sketch.Negative.IsCollapsed);
        Assert.False(read.Sketch.Positive.IsCollapsed);
        Assert.True(read.Sketch.ContentEquals(aggregate.Sketch));
    }
}
