using System.Text;
using System.Text.Json.Nodes;
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

    [Theory]
    [InlineData("annotations", "must be objects")]
    [InlineData("spec", "must be objects")]
    [InlineData("twice", "not JSON")]
    [InlineData("securityContext", "not a well-formed Pod")]
    public async Task ReviewAsync_ObjectOfTheWrongShape_Is400NotAnException(string wrong, string reason)
    {
        var pod = AdmissionFixtures.RealisticPod();
        switch (wrong)
        {
            case "annotations":
                pod["metadata"]!["annotations"] = new JsonArray(1);
                break;
            case "spec":
                pod["spec"] = "none";
                break;
            case "securityContext":
                pod["spec"]!["securityContext"] = "root";
                break;
        }

        var json = AdmissionFixtures.Review(pod).ToJsonString();
        if (wrong == "twice")
        {
            json = json.Replace("\"kind\":\"AdmissionReview\"", "\"kind\":\"AdmissionReview\",\"kind\":\"AdmissionReview\"", StringComparison.Ordinal);
        }

        var answer = await new WebhookHarness().Webhook.ReviewAsync(Encoding.UTF8.GetBytes(json), CancellationToken.None);

        Assert.Equal(400, answer.StatusCode);
        Assert.Contains(reason, answer.Body, StringComparison.Ordinal);
    }
}
