using System.Text;
using Aegis.TestSupport.Admission;

namespace Aegis.Operator.Tests.Injection;

/// <summary>AdmissionReviews found by fuzzing (tests/Aegis.Fuzz) that once threw: answered 400 with the reason.</summary>
public class WebhookMalformedReviewTests
{
    [Fact]
    public async Task ReviewAsync_InvalidUtf8InAString_Is400NotAnException()
    {
        var json = AdmissionFixtures.Review(AdmissionFixtures.RealisticPod()).ToJsonString().Replace("\"agents\"", "\"agents#\"", StringComparison.Ordinal);
        var body = Encoding.UTF8.GetBytes(json);
        body[Array.IndexOf(body, (byte)'#')] = 0xFF;

        var answer = await new WebhookHarness().Webhook.ReviewAsync(body, CancellationToken.None);

        Assert.Equal(400, answer.StatusCode);
        Assert.Contains("not valid UTF-8", answer.Body, StringComparison.Ordinal);
    }
}
