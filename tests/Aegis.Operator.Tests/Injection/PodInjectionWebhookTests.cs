using System.Text;
using System.Text.Json.Nodes;
using Aegis.Operator.Injection;
using Aegis.Operator.Sidecar;
using Aegis.TestSupport.Admission;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests.Injection;

public class PodInjectionWebhookTests
{
    public static TheoryData<string, string> MalformedReviews => new()
    {
        { "{\"apiVersion\":", "the body is not JSON" },
        { "[1, 2]", "the body must be an AdmissionReview object" },
        { "{\"apiVersion\":\"admission.k8s.io/v1beta1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\"}}", "expected admission.k8s.io/v1 AdmissionReview, got \"admission.k8s.io/v1beta1\"" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\"}", "AdmissionReview request: required" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"kind\":{\"kind\":\"Pod\"}}}", "AdmissionReview request.uid: required" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":7}}", "AdmissionReview request.uid: required, a non-empty string" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":\"Pod\"}}", "request.kind must be an object" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"namespace\":\"agents\"}}", "request.object: required" },
        { "{\"apiVersion\":\"admission.k8s.io/v1\",\"kind\":\"AdmissionReview\",\"request\":{\"uid\":\"u\",\"kind\":{\"kind\":\"Pod\"},\"operation\":\"CREATE\",\"object\":{\"metadata\":{}}}}", "request.namespace: required" },
    };

    [Theory]
    [MemberData(nameof(MalformedReviews))]
    public async Task Review_Malformed_Answers400NamingTheField(string body, string expected)
    {
        var answer = await new WebhookHarness().Webhook.ReviewAsync(Encoding.UTF8.GetBytes(body), CancellationToken.None);

        Assert.Equal(400, answer.StatusCode);
        Assert.Contains(expected, answer.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Review_DryRun_AnswersTheSamePatchWithoutCountingAnInjection()
    {
        var harness = new WebhookHarness();
        var pod = AdmissionFixtures.RealisticPod();

        var dry = await harness.ReviewAsync(pod, dryRun: true);
        Assert.Equal(0, harness.Webhook.Injected);
        var real = await harness.ReviewAsync(pod);

        Assert.True(dry.Patched);
        Assert.True(JsonNode.DeepEquals(real.Response!["patch"], dry.Response!["patch"]));
        Assert.Equal(1, harness.Webhook.Injected);
    }

    [Theory]
    [InlineData("UPDATE", "Pod")]
    [InlineData("CREATE", "Deployment")]
    public async Task Review_NotAPodCreation_AllowedUnchanged(string operation, string kind)
    {
        var review = AdmissionFixtures.Review(AdmissionFixtures.RealisticPod(), operation: operation);
        review["request"]!["kind"]!["kind"] = kind;

        var answer = await new WebhookHarness().Webhook.ReviewAsync(Encoding.UTF8.GetBytes(review.ToJsonString()), CancellationToken.None);

        var response = JsonNode.Parse(answer.Body)!["response"]!;
        Assert.True(response["allowed"]!.GetValue<bool>());
        Assert.Null(response["patch"]);
    }

    [Fact]
    public async Task Review_NamespaceLabelsUnreadable_RefusesThePodWithTheReason()
    {
        var webhook = new PodInjectionWebhook(new PodInjector(new SidecarOptions(), "aegis-system", WebhookHarness.Trust), new UnreachableNamespaces(), NullLogger<PodInjectionWebhook>.Instance);
        var review = AdmissionFixtures.Review(AdmissionFixtures.RealisticPod());

        var answer = await webhook.ReviewAsync(Encoding.UTF8.GetBytes(review.ToJsonString()), CancellationToken.None);

        var response = JsonNode.Parse(answer.Body)!["response"]!;
        Assert.Equal(200, answer.StatusCode);
        Assert.False(response["allowed"]!.GetValue<bool>());
        Assert.Contains("the labels of namespace agents cannot be read: connection refused", response["status"]!["message"]!.ToString(), StringComparison.Ordinal);
    }

    private sealed class UnreachableNamespaces : INamespaceLabels
    {
        public ValueTask<NamespaceMetadata?> GetAsync(string ns, CancellationToken cancellationToken) =>
            throw new HttpRequestException("connection refused");
    }
}
