using Aegis.Operator.Injection;
using k8s.Models;

namespace Aegis.Operator.Certificates;

/// <summary>
/// The MutatingWebhookConfiguration for sidecar injection: one webhook for enforced namespaces that sees every pod
/// there (no object selector: a pod labelled out must still be refused, not admitted unasked), one for pods labelled
/// in elsewhere. Both fail closed, but only for those pods, so a webhook that is down never blocks the rest of the
/// cluster; system namespaces and the operator's never match.
/// </summary>
public static class WebhookRegistration
{
    public const string CertManagerInjectAnnotation = "cert-manager.io/inject-ca-from";

    private static readonly string[] Yes = ["true", "yes", "on", "y"];

    public static V1MutatingWebhookConfiguration Desired(WebhookTlsOptions options, byte[]? caBundle)
    {
        var excluded = Requirement("kubernetes.io/metadata.name", "NotIn", [.. InjectionLabels.SystemNamespaces.Order(StringComparer.Ordinal), options.Namespace]);
        var configuration = new V1MutatingWebhookConfiguration
        {
            ApiVersion = "admissionregistration.k8s.io/v1",
            Kind = "MutatingWebhookConfiguration",
            Metadata = new V1ObjectMeta
            {
                Name = options.ConfigurationName,
                Labels = new Dictionary<string, string> { ["app.kubernetes.io/managed-by"] = "aegis-operator" },
            },
            Webhooks =
            [
                Webhook("namespace.sidecar.aegis.dev", options, caBundle,
                    new V1LabelSelector { MatchExpressions = [Requirement(InjectionLabels.Inject, "In", [InjectionLabels.NamespaceEnabled]), excluded] },
                    null),
                Webhook("object.sidecar.aegis.dev", options, caBundle,
                    new V1LabelSelector { MatchExpressions = [Requirement(InjectionLabels.Inject, "NotIn", [InjectionLabels.NamespaceEnabled]), excluded] },
                    new V1LabelSelector { MatchExpressions = [Requirement(InjectionLabels.Inject, "In", Yes)] }),
            ],
        };
        if (options.Source == CertificateSource.CertManager)
        {
            configuration.Metadata.Annotations = new Dictionary<string, string> { [CertManagerInjectAnnotation] = options.CertManagerCertificate };
        }

        return configuration;
    }

    private static V1LabelSelectorRequirement Requirement(string key, string op, IList<string> values) => new() { Key = key, OperatorProperty = op, Values = values };

    private static V1MutatingWebhook Webhook(string name, WebhookTlsOptions options, byte[]? caBundle, V1LabelSelector namespaces, V1LabelSelector? objects) => new()
    {
        Name = name,
        ClientConfig = new Admissionregistrationv1WebhookClientConfig
        {
            Service = new Admissionregistrationv1ServiceReference { Name = options.ServiceName, NamespaceProperty = options.Namespace, Path = PodInjectionWebhook.Path, Port = options.ServicePort },
            CaBundle = caBundle,
        },
        Rules = [new V1RuleWithOperations { Operations = ["CREATE"], ApiGroups = [""], ApiVersions = ["v1"], Resources = ["pods"], Scope = "Namespaced" }],
        NamespaceSelector = namespaces,
        ObjectSelector = objects,
        FailurePolicy = "Fail",
        MatchPolicy = "Equivalent",
        SideEffects = "None",
        AdmissionReviewVersions = ["v1"],
        TimeoutSeconds = 5,
        // Safe: a second pass over an injected pod adds nothing but the proxy environment of containers added since.
        ReinvocationPolicy = "IfNeeded",
    };
}
