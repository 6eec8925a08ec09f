using Aegis.Policy.Conditions;

namespace Aegis.Policy.Tests.Conditions;

public class CelConditionTests
{
    [Fact]
    public void Evaluate_OneCompiledConditionOnFourThreads_AllResultsCorrect()
    {
        // Bundles share one compiled condition across request threads: evaluation must not share mutable state.
        Assert.True(CelCondition.TryCompile("args.amount > 5000.0 && args.currency in ['USD', 'EUR']", out var condition, out var error), error);
        var failures = 0;
        Parallel.For(0, 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, worker =>
        {
            for (var i = 0; i < 25_000; i++)
            {
                var amount = (long)((i * 7919) % 10_000);
                var currency = (i % 3) switch { 0 => "USD", 1 => "EUR", _ => "GBP" };
                var vars = new Dictionary<string, object?>
                {
                    ["args"] = new Dictionary<string, object?> { ["amount"] = amount, ["currency"] = currency },
                };
                var expected = amount > 5000 && currency != "GBP";
                var result = condition.Evaluate(vars);
                if (result.Failed || result.Value != expected)
                {
                    Interlocked.Increment(ref failures);
                }
            }
        });

        Assert.Equal(0, failures);
    }

    [Theory]
    [InlineData("has(args.amount) && args.amount > 1")]
    [InlineData("tool.startsWith('stripe.')")]
    [InlineData("now > timestamp('2020-01-01T00:00:00Z')")]
    [InlineData("request.headers['x-env'] == 'prod'")]
    public void TryCompile_UsesKnownVariables_Compiles(string expression)
    {
        Assert.True(CelCondition.TryCompile(expression, out _, out var error), error);
    }

    [Fact]
    public void Evaluate_MissingField_IsAnErrorNotFalse()
    {
        Assert.True(CelCondition.TryCompile("args.amount > 1.0", out var condition, out _));
        var result = condition.Evaluate(new Dictionary<string, object?> { ["args"] = new Dictionary<string, object?>() });
        Assert.True(result.Failed);
    }
}
