using System.Text.Json.Nodes;
using Aegis.Operator.Approvals;
using Aegis.Operator.Caching;
using Aegis.Operator.Slack;
using Aegis.TestSupport;
using Aegis.TestSupport.Kubernetes;
using Aegis.TestSupport.Slack;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Operator.Tests.Approvals;

/// <summary>The ApprovalRequest lifecycle on a hand-moved clock: escalation and retention.</summary>
public sealed class ApprovalControllerTests : IAsyncLifetime
{
    private KubernetesTestServer _api = null!;
    private Kubernetes _client = null!;
    private SlackTestServer _slack = null!;
    private HttpClient _http = null!;
    private ManualTime _time = null!;
    private ApprovalController _controller = null!;
    private InformerCache _cache = null!;
    private CancellationTokenSource _stop = null!;
    private Task _informer = null!;

    public async ValueTask InitializeAsync()
    {
        _api = await KubernetesTestServer.StartAsync(Directory.GetFiles(Path.Combine(RepositoryPaths.Root, "crds"), "*.yaml"));
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _api.Url });
        _slack = await SlackTestServer.StartAsync();
        _slack.AddChannel("C0APPROVE", "approvals");
        _http = new HttpClient();
        _time = new ManualTime(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));
        _cache = new InformerCache(TimeProvider.System, NullLoggerFactory.Instance);
        _cache.AddAegis<Aegis.Policy.Resources.ApprovalRequest>(_client, "approvalrequests");
        _controller = new ApprovalController(_client, new ApprovalSettings(), new SlackClient(_http, _slack.ApiUrl, _slack.BotToken, _time), _cache, _time, NullLoggerFactory.Instance);
        _stop = new CancellationTokenSource();
        _informer = _cache.RunAsync(_stop.Token);
        await _cache.WaitForSyncAsync(CancellationToken.None);
    }

    private async Task CreateAsync(string name, JsonObject? status = null, JsonObject? escalation = null)
    {
        var spec = new JsonObject
        {
            ["tenant"] = "acme", ["agentId"] = "payments-bot", ["tool"] = "stripe.transfer", ["argsDigest"] = new string('a', 64),
            ["argsPreview"] = """{"amount":9000}""", ["policy"] = "fin/payments", ["rule"] = "large",
            ["approvers"] = new JsonArray("slack:U0ALICE"), ["expiresAt"] = ApprovalObjects.Format(_time.Now.AddHours(1)), ["channel"] = "#approvals",
        };
        if (escalation is not null)
        {
            spec["escalation"] = escalation;
        }

        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(new JsonObject
        {
            ["apiVersion"] = "aegis.dev/v1alpha1", ["kind"] = "ApprovalRequest", ["metadata"] = new JsonObject { ["name"] = name, ["namespace"] = "fin" }, ["spec"] = spec,
        }, "aegis.dev", "v1alpha1", "fin", "approvalrequests");
        if (status is not null)
        {
            await _client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch(new JsonObject { ["status"] = status }.ToJsonString(), V1Patch.PatchType.MergePatch),
                "aegis.dev", "v1alpha1", "fin", "approvalrequests", name);
        }

        var written = _api.Objects("aegis.dev", "approvalrequests", "fin").Single(o => o["metadata"]!["name"]!.ToString() == name)["metadata"]!["resourceVersion"]!.ToString();
        await Eventually.TrueAsync(() => Requests.Get("fin", name)?.Metadata.ResourceVersion == written, "the cache caught up");
    }

    private ResourceInformer<Aegis.Policy.Resources.ApprovalRequest> Requests => _cache.For<Aegis.Policy.Resources.ApprovalRequest>();

    private Task CaughtUpAsync(string name, Func<Aegis.Policy.Resources.ApprovalRequest?, bool> condition) =>
        Eventually.TrueAsync(() => condition(Requests.Get("fin", name)), "the cache caught up");

    [Fact]
    public async Task Reconcile_CacheBehindItsOwnStatusWrite_PostsToSlackOnce()
    {
        await CreateAsync("ar-lag");

        // The informer stops hearing from the server, as when its watch lags: the second pass still sees no ts.
        _api.HoldWatches();
        _api.CutWatches();
        await _controller.ReconcileAsync("fin/ar-lag");
        await _controller.ReconcileAsync("fin/ar-lag");
        _api.ReleaseWatches();

        Assert.Single(_slack.Messages);
        Assert.NotNull(_api.Objects("aegis.dev", "approvalrequests", "fin").Single()["status"]!["slackMessageTs"]);
        await CaughtUpAsync("ar-lag", o => o?.Status?.SlackMessageTs is not null);
        await _controller.ReconcileAsync("fin/ar-lag");
        Assert.Single(_slack.Messages);
    }

    [Fact]
    public async Task Reconcile_ResolvedPastRetention_Deleted()
    {
        await CreateAsync("ar-old", ApprovalObjects.Decision(Aegis.Policy.Resources.ApprovalPhase.Denied, "slack:U0ALICE", _time.Now, "no"));

        _time.Now += TimeSpan.FromHours(23);
        var wait = await _controller.ReconcileAsync("fin/ar-old");
        Assert.Equal(TimeSpan.FromHours(1), wait.RequeueAfter);
        Assert.Single(_api.Objects("aegis.dev", "approvalrequests", "fin"));

        _time.Now += TimeSpan.FromHours(1);
        await _controller.ReconcileAsync("fin/ar-old");
        Assert.Empty(_api.Objects("aegis.dev", "approvalrequests", "fin"));
    }

    [Fact]
    public async Task Reconcile_PendingPastEscalationDelay_AsksSecondListInThreadAndLetsThemDecide()
    {
        await CreateAsync("ar-slow", escalation: new JsonObject { ["after"] = "5m", ["approvers"] = new JsonArray("slack:U0CAROL") });

        // First pass posts the ask.
        await _controller.ReconcileAsync("fin/ar-slow");
        await CaughtUpAsync("ar-slow", o => o?.Status?.SlackMessageTs is not null);
        var before = Requests.Get("fin", "ar-slow")!;
        Assert.DoesNotContain("slack:U0CAROL", ApprovalController.Deciders(before));

        _time.Now += TimeSpan.FromMinutes(6);
        await _controller.ReconcileAsync("fin/ar-slow");
        await CaughtUpAsync("ar-slow", o => o?.Status?.EscalatedAt is not null);

        var after = Requests.Get("fin", "ar-slow")!;
        Assert.Contains("slack:U0CAROL", ApprovalController.Deciders(after));
        var reply = _slack.Messages[1];
        Assert.Equal(_slack.Messages[0].Ts, reply.ThreadTs);
        Assert.Contains("<@U0CAROL>", SlackText.Of(reply.Blocks), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Reconcile_SlackChannelMissing_ConditionSaysChannelNotFound()
    {
        await CreateAsync("ar-lost");
        var patch = new JsonObject { ["spec"] = new JsonObject { ["channel"] = "#nowhere" } };
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(patch.ToJsonString(), V1Patch.PatchType.MergePatch), "aegis.dev", "v1alpha1", "fin", "approvalrequests", "ar-lost");
        await CaughtUpAsync("ar-lost", o => o?.Spec.Channel == "#nowhere");

        await _controller.ReconcileAsync("fin/ar-lost");

        var condition = _api.Objects("aegis.dev", "approvalrequests", "fin").Single()["status"]!["conditions"]![0]!;
        Assert.Equal("False", condition["status"]!.ToString());
        Assert.Equal("channel_not_found", condition["reason"]!.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _informer;
        _stop.Dispose();
        _http.Dispose();
        await _slack.DisposeAsync();
        _client.Dispose();
        await _api.DisposeAsync();
    }
}
