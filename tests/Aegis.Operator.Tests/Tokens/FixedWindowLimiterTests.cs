using Aegis.Operator.Tokens;
using Aegis.TestSupport;

namespace Aegis.Operator.Tests.Tokens;

public class FixedWindowLimiterTests
{
    [Fact]
    public void TryAcquire_BeyondThePermits_RefusesPerPartitionUntilTheWindowResets()
    {
        var time = new ManualTime(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        var limiter = new FixedWindowLimiter(2, TimeSpan.FromMinutes(1), time);

        Assert.True(limiter.TryAcquire("10.0.0.1", out _));
        Assert.True(limiter.TryAcquire("10.0.0.1", out _));
        time.Now += TimeSpan.FromSeconds(20);
        Assert.False(limiter.TryAcquire("10.0.0.1", out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(40), retryAfter);
        Assert.True(limiter.TryAcquire("10.0.0.2", out _));

        time.Now += TimeSpan.FromSeconds(40);
        Assert.True(limiter.TryAcquire("10.0.0.1", out _));
    }
}
