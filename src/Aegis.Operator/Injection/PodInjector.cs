using System.Text.Json;
using System.Text.Json.Nodes;
using Aegis.Operator.Certificates;
using Aegis.Operator.Sidecar;

namespace Aegis.Operator.Injection;

/// <summary>What the injector decided for one pod.</summary>
public enum InjectionOutcome
{
    /// <summary>Left alone: not opted in, a system namespace, an exempt service account, or nothing left to change.</summary>
    Skipped,

    /// <summary>Changed by <see cref="InjectionResult.Patch"/>.</summary>
    Injected,

    /// <summary>Refused admission, with the reason (e.g. which label to add, which container to remove).</summary>
    Rejected,
}

/// <summary>The injector's answer: the outcome, a reason for people, the RFC 6902 patch when injected, and warnings for kubectl.</summary>
public sealed record InjectionResult(InjectionOutcome Outcome, string Reason, JsonArray? Patch = null, IReadOnlyList<string>? Warnings = null);

/// <summary>
/// Decides whether and how a pod gets the Envoy sidecar, and builds the JSON Patch. In a namespace labelled
/// <c>aegis.dev/inject=enabled</c> there is no way around it: a pod cannot opt out (only the namespace annotation
/// <see cref="InjectionLabels.ExemptServiceAccounts"/>, which cluster admins own, exempts a workload), and a pod that
/// brings what Aegis injects (its containers, volume or variables) in any other form than Aegis would, or that could
/// undo the interception (host network, NET_ADMIN, Envoy's uid, its own DNS servers), is refused with the field at
/// fault. Level-based: it patches only what is missing, so a second pass (reinvocation) changes nothing.
/// </summary>
public sealed class PodInjector(SidecarOptions options, string operatorNamespace, DecisionTrust decisionTrust)
{
    private static readonly string[] ProxyVariables = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
    private static readonly string[] NoProxyVariables = ["NO_PROXY", "no_proxy"];
    private static readonly string[] InterceptionCapabilities = ["NET_ADMIN", "SYS_ADMIN", "ALL"];
    private static readonly string[] ComparedContainerFields = ["image", "command", "args", "securityContext", "volumeMounts"];
    private const string AegisVariablePrefix = "AEGIS_";
    private const string AegisNamePrefix = "aegis-";

    /// <summary>The variables application containers get, in order.</summary>
    private IEnumerable<(string Name, string Value)> OwnedVariables() =>
        ProxyVariables.Select(n => (n, options.ProxyUrl)).Concat(NoProxyVariables.Select(n => (n, string.Join(',', options.NoProxy))));

    /// <param name="pod">The pod as the API server sent it.</param>
    /// <param name="ns">The pod's namespace.</param>
    /// <param name="namespaceMetadata">The namespace's labels and annotations (empty when it has none).</param>
    public InjectionResult Decide(JsonObject pod, string ns, NamespaceMetadata namespaceMetadata)
    {
        if (InjectionLabels.SystemNamespaces.Contains(ns) || ns == operatorNamespace)
        {
            return new InjectionResult(InjectionOutcome.Skipped, $"namespace {ns} is never injected");
        }

        var labels = pod["metadata"]?["labels"] as JsonObject;
        var annotations = pod["metadata"]?["annotations"] as JsonObject;
        var podChoiceSource = labels?[InjectionLabels.Inject] is not null ? "label" : annotations?[InjectionLabels.Inject] is not null ? "annotation" : null;
        var podChoiceText = (labels?[InjectionLabels.Inject] ?? annotations?[InjectionLabels.Inject])?.ToString();
        bool? podChoice = null;
        if (podChoiceText is not null)
        {
            podChoice = ParseChoice(podChoiceText);
            if (podChoice is null)
            {
                return Reject($"pod {podChoiceSource} {InjectionLabels.Inject}: \"{podChoiceText}\" is not one of true, false (also yes/no, on/off, y/n)");
            }
        }

        var enforced = namespaceMetadata.Labels.TryGetValue(InjectionLabels.Inject, out var nsValue) && nsValue == InjectionLabels.NamespaceEnabled;
        var serviceAccount = pod["spec"]?["serviceAccountName"]?.ToString() is { Length: > 0 } sa ? sa
            : pod["spec"]?["serviceAccount"]?.ToString() is { Length: > 0 } legacy ? legacy
            : "default";
        if (enforced)
        {
            if (podChoice is false)
            {
                return Reject($"pod {podChoiceSource} {InjectionLabels.Inject}={podChoiceText}: pods in namespace {ns} ({InjectionLabels.Inject}={InjectionLabels.NamespaceEnabled}) cannot opt out of the Aegis sidecar; "
                    + $"a cluster admin can exempt a service account with the namespace annotation {InjectionLabels.ExemptServiceAccounts}");
            }

            if (podChoice is null && Exempt(namespaceMetadata).Contains(serviceAccount))
            {
                var reason = $"service account {serviceAccount} is exempt in namespace {ns} (namespace annotation {InjectionLabels.ExemptServiceAccounts})";
                return new InjectionResult(InjectionOutcome.Skipped, reason, Warnings: [$"aegis: {reason}: this pod runs without the sidecar"]);
            }
        }
        else if (podChoice is not true)
        {
            return new InjectionResult(InjectionOutcome.Skipped, podChoice is false
                ? $"pod {podChoiceSource} {InjectionLabels.Inject}={podChoiceText} and namespace {ns} is not enforced"
                : $"namespace {ns} is not labelled {InjectionLabels.Inject}={InjectionLabels.NamespaceEnabled}");
        }

        if (!namespaceMetadata.Labels.TryGetValue(InjectionLabels.Tenant, out var tenant) || string.IsNullOrEmpty(tenant))
        {
            return Reject($"namespace {ns} has no label {InjectionLabels.Tenant}, so its pods have no tenant: a cluster admin labels it (kubectl label namespace {ns} {InjectionLabels.Tenant}=<tenant>); pod labels are not trusted for this");
        }

        if (pod["spec"] is not JsonObject spec || spec["containers"] is not JsonArray containers)
        {
            return Reject("pod spec.containers: required");
        }

        if (decisionTrust.Bundle is not { } caBundle)
        {
            return Reject("the operator has not published the decision server's CA yet; retry in a few seconds");
        }

        var agent = labels?[InjectionLabels.AgentId]?.ToString() is { Length: > 0 } agentLabel ? agentLabel : serviceAccount;
        var identity = new SidecarIdentity(tenant, agent);
        var proxy = ProxyContainer(identity, caBundle);
        var init = InitContainer();
        var initContainers = spec["initContainers"] as JsonArray;
        if (Refusal(spec, containers, initContainers, annotations, proxy, init) is { } refusal)
        {
            return Reject(refusal);
        }

        var warnings = new List<string>();
        if (labels?[InjectionLabels.Tenant]?.ToString() is { } podTenant && podTenant != tenant)
        {
            warnings.Add($"aegis: pod label {InjectionLabels.Tenant}=\"{podTenant}\" is ignored; the tenant is namespace {ns}'s: \"{tenant}\"");
        }

        var patch = new JsonArray();
        var hasProxy = containers.Any(c => c?["name"]?.ToString() == SidecarOptions.ProxyContainerName);
        if (initContainers?.FirstOrDefault()?["name"]?.ToString() != SidecarOptions.InitContainerName)
        {
            // First, so nothing in the pod (its own init containers included) runs before the redirect exists.
            Add(patch, initContainers is null ? "/spec/initContainers" : "/spec/initContainers/0", initContainers is null ? new JsonArray(init) : init);
        }

        if (spec["volumes"] is not JsonArray volumes)
        {
            Add(patch, "/spec/volumes", new JsonArray(RuntimeVolume()));
        }
        else if (!volumes.Any(v => v?["name"]?.ToString() == SidecarOptions.RuntimeVolumeName))
        {
            Add(patch, "/spec/volumes/-", RuntimeVolume());
        }

        if (!hasProxy)
        {
            Add(patch, "/spec/containers/-", proxy);
            AddAnnotations(patch, pod, containers, identity);
        }

        for (var i = 0; i < containers.Count; i++)
        {
            if (containers[i] is JsonObject container && container["name"]?.ToString() != SidecarOptions.ProxyContainerName)
            {
                EnsureProxyEnvironment(patch, $"/spec/containers/{i}", container);
            }
        }

        return patch.Count == 0
            ? new InjectionResult(InjectionOutcome.Skipped, "already injected")
            : new InjectionResult(InjectionOutcome.Injected, hasProxy ? "proxy environment completed" : "sidecar injected", patch, warnings.Count > 0 ? warnings : null);
    }

    private static InjectionResult Reject(string reason) => new(InjectionOutcome.Rejected, reason);

    private static HashSet<string> Exempt(NamespaceMetadata metadata) =>
        metadata.Annotations.TryGetValue(InjectionLabels.ExemptServiceAccounts, out var list)
            ? [.. list.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)]
            : [];

    /// <summary>
    /// Why the pod cannot be admitted in this namespace, naming the field, or null. What Aegis injects may already be
    /// there only as Aegis would inject it (a reinvocation of this webhook); anything else would let the pod run
    /// around the sidecar or change it.
    /// </summary>
    private string? Refusal(JsonObject spec, JsonArray containers, JsonArray? initContainers, JsonObject? annotations, JsonObject proxy, JsonObject init)
    {
        if (spec["hostNetwork"]?.GetValueKind() == JsonValueKind.True)
        {
            return "pod spec.hostNetwork: true is refused: a host-network pod is outside the pod network namespace the sidecar intercepts";
        }

        if (annotations?[InjectionLabels.Interception]?.ToString() is { } mode && mode != InjectionLabels.TransparentMode)
        {
            return $"pod annotation {InjectionLabels.Interception}: \"{mode}\" is refused: interception is always {InjectionLabels.TransparentMode} (remove the annotation)";
        }

        if (spec["dnsPolicy"]?.ToString() == "None" || spec["dnsConfig"]?["nameservers"] is JsonArray { Count: > 0 })
        {
            return "pod spec.dnsPolicy None / spec.dnsConfig.nameservers is refused: DNS to the pod's nameservers is the one thing that leaves the pod without the sidecar, so they must be the cluster's";
        }

        if (RunsAsProxyUser(spec["securityContext"]))
        {
            return $"pod spec.securityContext.runAsUser {SidecarOptions.ProxyUserId} is refused: it is the sidecar's uid, whose traffic is not intercepted";
        }

        foreach (var (list, field) in new[] { (containers, "containers"), (initContainers, "initContainers") })
        {
            for (var i = 0; i < (list?.Count ?? 0); i++)
            {
                if (list![i] is not JsonObject container)
                {
                    continue;
                }

                var name = container["name"]?.ToString() ?? "";
                var where = $"pod spec.{field}[{i}] ({name})";
                if (name == SidecarOptions.ProxyContainerName)
                {
                    if (field != "containers" || !SameContainer(container, proxy))
                    {
                        return $"{where}: a container named {SidecarOptions.ProxyContainerName} that Aegis did not inject is refused; remove it, Aegis injects its own";
                    }

                    continue;
                }

                if (name == SidecarOptions.InitContainerName)
                {
                    if (field != "initContainers" || i != 0 || !SameContainer(container, init))
                    {
                        return $"{where}: a container named {SidecarOptions.InitContainerName} that Aegis did not inject is refused; remove it, Aegis injects its own";
                    }

                    continue;
                }

                if (name.StartsWith(AegisNamePrefix, StringComparison.Ordinal))
                {
                    return $"{where}: container names starting with {AegisNamePrefix} are reserved for Aegis";
                }

                if (OwnVariableProblem(container, field == "containers") is { } variable)
                {
                    return $"{where}: {variable}";
                }

                if (container["securityContext"] is JsonObject security)
                {
                    if (security["privileged"]?.GetValueKind() == JsonValueKind.True)
                    {
                        return $"{where}: securityContext.privileged is refused: a privileged container can remove the interception";
                    }

                    if (security["capabilities"]?["add"] is JsonArray added && added.Select(c => c?.ToString()?.ToUpperInvariant().Replace("CAP_", "", StringComparison.Ordinal))
                        .FirstOrDefault(c => InterceptionCapabilities.Contains(c)) is { } capability)
                    {
                        return $"{where}: securityContext.capabilities.add {capability} is refused: it can change the pod's iptables rules";
                    }

                    if (RunsAsProxyUser(security))
                    {
                        return $"{where}: securityContext.runAsUser {SidecarOptions.ProxyUserId} is refused: it is the sidecar's uid, whose traffic is not intercepted";
                    }
                }

                if (container["volumeMounts"] is JsonArray mounts && mounts.FirstOrDefault(m => m?["name"]?.ToString()?.StartsWith(AegisNamePrefix, StringComparison.Ordinal) == true) is { } mount)
                {
                    return $"{where}: volumeMounts {mount["name"]}: volumes starting with {AegisNamePrefix} belong to the sidecar";
                }
            }
        }

        if (spec["volumes"] is JsonArray volumes && volumes.FirstOrDefault(v => v?["name"]?.ToString()?.StartsWith(AegisNamePrefix, StringComparison.Ordinal) == true
            && !JsonNode.DeepEquals(v, RuntimeVolume())) is { } volume)
        {
            return $"pod spec.volumes ({volume["name"]}): volume names starting with {AegisNamePrefix} are reserved for Aegis";
        }

        return null;
    }

    private static bool RunsAsProxyUser(JsonNode? securityContext) =>
        securityContext?["runAsUser"] is JsonValue user && user.GetValueKind() == JsonValueKind.Number && user.GetValue<long>() == SidecarOptions.ProxyUserId;

    /// <summary>An Aegis-owned variable set differently from what Aegis sets (any AEGIS_*; the proxy variables outside an application container or with another value).</summary>
    private string? OwnVariableProblem(JsonObject container, bool application)
    {
        if (container["env"] is not JsonArray env)
        {
            return null;
        }

        var owned = OwnedVariables().ToDictionary(v => v.Name, v => v.Value, StringComparer.Ordinal);
        foreach (var variable in env.OfType<JsonObject>())
        {
            var name = variable["name"]?.ToString() ?? "";
            if (name.StartsWith(AegisVariablePrefix, StringComparison.Ordinal))
            {
                return $"env {name}: variables starting with {AegisVariablePrefix} are reserved for Aegis";
            }

            if (owned.TryGetValue(name, out var value) && (!application || !JsonNode.DeepEquals(variable, EnvVar(name, value))))
            {
                return $"env {name}: Aegis sets this variable (to {(application ? value : "nothing in an init container")}); remove it from the pod";
            }
        }

        return null;
    }

    /// <summary>What decides a container's behaviour; fields the API server defaults (pull policy, termination message) are not compared.</summary>
    private static bool SameContainer(JsonObject existing, JsonObject ours) =>
        ComparedContainerFields.All(field => JsonNode.DeepEquals(existing[field], ours[field]));

    /// <summary>Istio's spellings: true/yes/on/y and false/no/off/n, case-insensitively.</summary>
    private static bool? ParseChoice(string value) => value.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" or "y" => true,
        "false" or "no" or "off" or "n" => false,
        _ => null,
    };

    private static void AddAnnotations(JsonArray patch, JsonObject pod, JsonArray containers, SidecarIdentity identity)
    {
        var status = new JsonObject
        {
            ["version"] = 2,
            ["mode"] = InjectionLabels.TransparentMode,
            ["tenant"] = identity.Tenant,
            ["agentId"] = identity.AgentId,
            ["containers"] = new JsonArray(SidecarOptions.ProxyContainerName),
            ["initContainers"] = new JsonArray(SidecarOptions.InitContainerName),
            ["volumes"] = new JsonArray(SidecarOptions.RuntimeVolumeName),
        };
        var metadata = pod["metadata"] as JsonObject;
        var entries = new Dictionary<string, string> { [InjectionLabels.Status] = status.ToJsonString() };
        if (containers.Count > 0 && metadata?["annotations"]?["kubectl.kubernetes.io/default-container"] is null)
        {
            // kubectl logs/exec keep going to the application, not to the sidecar appended after it.
            entries["kubectl.kubernetes.io/default-container"] = containers[0]?["name"]?.ToString() ?? "";
        }

        if (metadata is null)
        {
            Add(patch, "/metadata", new JsonObject { ["annotations"] = ToObject(entries) });
        }
        else if (metadata["annotations"] is not JsonObject)
        {
            Add(patch, "/metadata/annotations", ToObject(entries));
        }
        else
        {
            foreach (var (key, value) in entries)
            {
                Add(patch, "/metadata/annotations/" + Escape(key), value);
            }
        }
    }

    private JsonObject ProxyContainer(SidecarIdentity identity, string caBundle) => new()
    {
        ["name"] = SidecarOptions.ProxyContainerName,
        ["image"] = options.EnvoyImage,
        ["imagePullPolicy"] = "IfNotPresent",
        ["command"] = new JsonArray("envoy"),

        // The bootstrap travels in the pod spec (JSON is YAML): no ConfigMap to create, so the webhook has no side effects.
        ["args"] = new JsonArray("--config-yaml", EnvoyBootstrap.Build(options, identity, caBundle).ToJsonString(), "--log-level", options.LogLevel, "--disable-hot-restart"),
        ["resources"] = new JsonObject
        {
            ["requests"] = new JsonObject { ["cpu"] = options.CpuRequest, ["memory"] = options.MemoryRequest },
            ["limits"] = new JsonObject { ["cpu"] = options.CpuLimit, ["memory"] = options.MemoryLimit },
        },
        ["securityContext"] = new JsonObject
        {
            ["runAsNonRoot"] = true,
            ["runAsUser"] = SidecarOptions.ProxyUserId,
            ["runAsGroup"] = SidecarOptions.ProxyUserId,
            ["readOnlyRootFilesystem"] = true,
            ["allowPrivilegeEscalation"] = false,
            ["privileged"] = false,
            ["capabilities"] = new JsonObject { ["drop"] = new JsonArray("ALL") },
            ["seccompProfile"] = new JsonObject { ["type"] = "RuntimeDefault" },
        },
        ["volumeMounts"] = new JsonArray(new JsonObject { ["name"] = SidecarOptions.RuntimeVolumeName, ["mountPath"] = SidecarOptions.RuntimeDirectory }),
    };

    private JsonObject InitContainer() => new()
    {
        ["name"] = SidecarOptions.InitContainerName,
        ["image"] = options.InitImage,
        ["imagePullPolicy"] = "IfNotPresent",
        ["command"] = new JsonArray("sh", "-c", InterceptionRules.Script(options)),
        ["resources"] = new JsonObject
        {
            ["requests"] = new JsonObject { ["cpu"] = "10m", ["memory"] = "16Mi" },
            ["limits"] = new JsonObject { ["cpu"] = "100m", ["memory"] = "64Mi" },
        },
        ["securityContext"] = new JsonObject
        {
            // iptables needs root and NET_ADMIN (NET_RAW for some backends) in the pod's network namespace, and nothing else.
            ["runAsUser"] = 0,
            ["runAsNonRoot"] = false,
            ["readOnlyRootFilesystem"] = true,
            ["allowPrivilegeEscalation"] = false,
            ["privileged"] = false,
            ["capabilities"] = new JsonObject { ["add"] = new JsonArray("NET_ADMIN", "NET_RAW"), ["drop"] = new JsonArray("ALL") },
        },
    };

    private static JsonObject RuntimeVolume() => new() { ["name"] = SidecarOptions.RuntimeVolumeName, ["emptyDir"] = new JsonObject { ["medium"] = "Memory", ["sizeLimit"] = "1Mi" } };

    /// <summary>Application containers get the proxy variables (clients that honour them use the explicit listener); they were checked to be absent or Aegis's own.</summary>
    private void EnsureProxyEnvironment(JsonArray patch, string path, JsonObject container)
    {
        var wanted = OwnedVariables().ToList();
        if (container["env"] is not JsonArray env)
        {
            Add(patch, path + "/env", new JsonArray([.. wanted.Select(w => (JsonNode)EnvVar(w.Name, w.Value))]));
            return;
        }

        foreach (var (name, value) in wanted)
        {
            if (!env.Any(e => e?["name"]?.ToString() == name))
            {
                Add(patch, path + "/env/-", EnvVar(name, value));
            }
        }
    }

    private static JsonObject EnvVar(string name, string value) => new() { ["name"] = name, ["value"] = value };

    private static JsonObject ToObject(Dictionary<string, string> entries) => new(entries.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)JsonValue.Create(e.Value))));

    private static void Add(JsonArray patch, string path, JsonNode value) => patch.Add(new JsonObject { ["op"] = "add", ["path"] = path, ["value"] = value });

    /// <summary>RFC 6901: '~' and '/' in a key become ~0 and ~1.</summary>
    private static string Escape(string key) => key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
