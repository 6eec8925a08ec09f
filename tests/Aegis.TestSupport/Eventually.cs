using Xunit;

namespace Aegis.TestSupport;

/// <summary>Polls a condition until it holds, failing the test with what was awaited when it does not in time.</summary>
public static class Eventually
{
    private static readonly TimeSpan DefaultWithin = TimeSpan.FromSeconds(15);

    public static Task TrueAsync(Func<bool> condition, string what = "condition", TimeSpan? within = null) =>
        TrueAsync(() => Task.FromResult(condition()), what, within);

    public static async Task TrueAsync(Func<Task<bool>> condition, string what = "condition", TimeSpan? within = null)
    {
        var limit = within ?? DefaultWithin;
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"{what}: not met within {limit.TotalSeconds:0.#} s");
            await Task.Delay(25);
        }
    }
}
