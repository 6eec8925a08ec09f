using Aegis.Operator.Certificates;
using Aegis.Operator.Injection;
using Aegis.Operator.Sidecar;
using Aegis.Operator.Slack;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Fuzz.Targets;

/// <summary>
/// What the operator is sent: AdmissionReviews from the API server (answered with an AdmissionReview, 400 for one
/// that is not), and Slack interaction payloads (form-encoded JSON; a refusal names what is wrong). No exception is named.
/// </summary>
internal static class OperatorTargets
{
    private static readonly PodInjectionWebhook Webhook = new(
        new PodInjector(new SidecarOptions(), "aegis-system", DecisionTrust.Of("-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n")),
        new EnforcedNamespaces(),
        NullLogger<PodInjectionWebhook>.Instance);

    public static void Admission(byte[] input) => _ = Webhook.ReviewAsync(input, CancellationToken.None).GetAwaiter().GetResult();

    public static void Slack(byte[] input) => _ = SlackInteractions.Parse(input, out _);

    /// <summary>Every namespace is enforced for tenant acme, so pods go the whole way through injection.</summary>
    private sealed class EnforcedNamespaces : INamespaceLabels
    {
        private static readonly NamespaceMetadata Enforced = new(
            new Dictionary<string, string>(StringComparer.Ordinal) { [InjectionLabels.Inject] = "enabled", [InjectionLabels.Tenant] = "acme" },
            new Dictionary<string, string>(StringComparer.Ordinal));

        public ValueTask<NamespaceMetadata?> GetAsync(string ns, CancellationToken cancellationToken) => ValueTask.FromResult<NamespaceMetadata?>(Enforced);
    }
}
