using System.Globalization;
using System.Text.Json.Nodes;
using Aegis.Operator.Sidecar;

namespace Aegis.Operator.Injection;

/// <summary>What the injector decided for one pod.</summary>
public enum InjectionOutcome
{
    /// <summary>Left alone: not opted in, a system namespace, host network, or nothing left to change.</summary>
    Skipped,

    /// <summary>Changed by <see cref="InjectionResult.Patch"/>.</summary>
    Injected,

    /// <summary>Refused admission, with the reason (e.g. which label to add).</summary>
    Rejected,
}

/// <summary>The injector's answer: the outcome, a reason for people, the RFC 6902 patch when injected, and warnings for kubectl.</summary>
public sealed record InjectionResult(InjectionOutcome Outcome, string Reason, JsonArray? Patch = null, IReadOnlyList<string>? Warnings = null);

/// <summary>
/// Decides whether and how a pod gets the Envoy sidecar, and builds the JSON Patch, in the manner of Istio's injector:
/// namespace opt-in, pod label (then annotation) overrides, never host-network pods, system namespaces or the
/// operator's own. Level-based: it patches only what is missing, so a second pass (reinvocation) changes nothing.
/// </summary>
public sealed class PodInjector(SidecarOptions options, string operatorNamespace)
{
    private static readonly string[] ProxyVariables = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
    private static readonly string[] NoProxyVariables = ["NO_PROXY", "no_proxy"];

    /// <param name="pod">The pod as the API server sent it.</param>
    /// <param name="ns">The pod's namespace.</param>
    /// <param name="namespaceLabels">The namespace's labels (empty when it has none).</param>
    public InjectionResult Decide(JsonObject pod, string ns, IReadOnlyDictionary<string, string> namespaceLabels)
    {
        if (InjectionLabels.SystemNamespaces.Contains(ns) || ns == operatorNamespace)
        {
            return new InjectionResult(InjectionOutcome.Skipped, $"namespace {ns} is never injected");
        }

        var labels = pod["metadata"]?["labels"] as JsonObject;
        var annotations = pod["metadata"]?["annotations"] as JsonObject;
        bool? podChoice;
        string? podChoiceSource = labels?[InjectionLabels.Inject] is not null ? "label" : annotations?[InjectionLabels.Inject] is not null ? "annotation" : null;
        var podChoiceText = (labels?[InjectionLabels.Inject] ?? annotations?[InjectionLabels.Inject])?.ToString();
        if (podChoiceText is null)
        {
            podChoice = null;
        }
        else if (ParseChoice(podChoiceText) is { } parsed)
        {
            podChoice = parsed;
        }
        else
        {
            return new InjectionResult(InjectionOutcome.Rejected,
                $"pod {podChoiceSource} {InjectionLabels.Inject}: \"{podChoiceText}\" is not one of true, false (also yes/no, on/off, y/n)");
        }

        var namespaceChoice = namespaceLabels.TryGetValue(InjectionLabels.Inject, out var nsValue) && nsValue == InjectionLabels.NamespaceEnabled;
        if (!(podChoice ?? namespaceChoice))
        {
            return new InjectionResult(InjectionOutcome.Skipped, podChoice is false
                ? $"pod {podChoiceSource} {InjectionLabels.Inject}={podChoiceText} opts out"
                : $"namespace {ns} is not labelled {InjectionLabels.Inject}={InjectionLabels.NamespaceEnabled}");
        }

        if (pod["spec"]?["hostNetwork"]?.GetValueKind() == System.Text.Json.JsonValueKind.True)
        {
            const string Reason = "host-network pods are never injected: a sidecar would intercept the node's traffic";
            return new InjectionResult(InjectionOutcome.Skipped, Reason, Warnings: [$"aegis: {Reason}"]);
        }

        var interception = annotations?[InjectionLabels.Interception]?.ToString() ?? "proxy";
        if (interception is not ("proxy" or "transparent"))
        {
            return new InjectionResult(InjectionOutcome.Rejected, $"pod annotation {InjectionLabels.Interception}: \"{interception}\" is not one of proxy, transparent");
        }

        if (pod["spec"]?["containers"] is not JsonArray containers)
        {
            return new InjectionResult(InjectionOutcome.Rejected, "pod spec.containers: required");
        }

        var patch = new JsonArray();
        var hasProxy = containers.Any(c => c?["name"]?.ToString() == SidecarOptions.ProxyContainerName);
        if (!hasProxy)
        {
            if (Identify(pod, ns, namespaceLabels, labels, out var identity) is { } error)
            {
                return new InjectionResult(InjectionOutcome.Rejected, error);
            }

            AddProxy(patch, pod, containers, identity, interception);
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
            : new InjectionResult(InjectionOutcome.Injected, hasProxy ? "proxy environment completed" : $"sidecar injected ({interception} mode)", patch);
    }

    /// <summary>Istio's spellings: true/yes/on/y and false/no/off/n, case-insensitively.</summary>
    private static bool? ParseChoice(string value) => value.ToLowerInvariant() switch
    {
        "true" or "yes" or "on" or "y" => true,
        "false" or "no" or "off" or "n" => false,
        _ => null,
    };

    /// <summary>Resolves the pod's tenant and agent id; returns why not when it cannot.</summary>
    private static string? Identify(JsonObject pod, string ns, IReadOnlyDictionary<string, string> namespaceLabels, JsonObject? labels, out SidecarIdentity identity)
    {
        identity = null!;
        namespaceLabels.TryGetValue(InjectionLabels.Tenant, out var namespaceTenant);
        var podTenant = labels?[InjectionLabels.Tenant]?.ToString();
        if (!string.IsNullOrEmpty(namespaceTenant) && !string.IsNullOrEmpty(podTenant) && namespaceTenant != podTenant)
        {
            // The namespace belongs to one tenant; a pod may not speak for another.
            return $"pod label {InjectionLabels.Tenant}=\"{podTenant}\" differs from its namespace {ns}'s label {InjectionLabels.Tenant}=\"{namespaceTenant}\"; remove the pod label or make them equal";
        }

        var tenant = string.IsNullOrEmpty(namespaceTenant) ? podTenant : namespaceTenant;
        if (string.IsNullOrEmpty(tenant))
        {
            return $"pod in namespace {ns} is opted in to Aegis but has no tenant: label the namespace (kubectl label namespace {ns} {InjectionLabels.Tenant}=<tenant>) or the pod ({InjectionLabels.Tenant}=<tenant>)";
        }

        var agent = labels?[InjectionLabels.AgentId]?.ToString();
        if (string.IsNullOrEmpty(agent))
        {
            agent = pod["spec"]?["serviceAccountName"]?.ToString() is { Length: > 0 } sa ? sa
                : pod["spec"]?["serviceAccount"]?.ToString() is { Length: > 0 } legacy ? legacy
                : "default";
        }

        identity = new SidecarIdentity(tenant, agent);
        return null;
    }

    private void AddProxy(JsonArray patch, JsonObject pod, JsonArray containers, SidecarIdentity identity, string interception)
    {
        var injectedInit = new JsonArray();
        if (interception == "transparent")
        {
            // Last, so the pod's own init containers run before the redirect exists (nothing listens on the proxy port yet).
            var init = pod["spec"]!["initContainers"] as JsonArray;
            if (init?.Any(c => c?["name"]?.ToString() == SidecarOptions.InitContainerName) != true)
            {
                Add(patch, init is null ? "/spec/initContainers" : "/spec/initContainers/-", init is null ? new JsonArray(InitContainer()) : InitContainer());
                injectedInit.Add(SidecarOptions.InitContainerName);
            }
        }

        Add(patch, "/spec/containers/-", ProxyContainer(identity));
        var status = new JsonObject
        {
            ["version"] = 1,
            ["mode"] = interception,
            ["tenant"] = identity.Tenant,
            ["agentId"] = identity.AgentId,
            ["containers"] = new JsonArray(SidecarOptions.ProxyContainerName),
            ["initContainers"] = injectedInit,
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

    private JsonObject ProxyContainer(SidecarIdentity identity) => new()
    {
        ["name"] = SidecarOptions.ProxyContainerName,
        ["image"] = options.EnvoyImage,
        ["imagePullPolicy"] = "IfNotPresent",
        ["command"] = new JsonArray("envoy"),
        // The bootstrap travels in the pod spec (JSON is YAML): no ConfigMap to create, so the webhook has no side effects.
        ["args"] = new JsonArray("--config-yaml", EnvoyBootstrap.Build(options, identity).ToJsonString(), "--log-level", options.LogLevel, "--disable-hot-restart"),
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
    };

    private JsonObject InitContainer()
    {
        var ports = string.Join(' ', options.TransparentPorts.Select(p => p.ToString(CultureInfo.InvariantCulture)));
        // Envoy's own traffic (its uid) and loopback are exempt, or the proxy would redirect to itself.
        var script = string.Join('\n',
            "set -eu",
            "iptables -t nat -N AEGIS_OUTPUT",
            $"iptables -t nat -A AEGIS_OUTPUT -m owner --uid-owner {SidecarOptions.ProxyUserId} -j RETURN",
            "iptables -t nat -A AEGIS_OUTPUT -d 127.0.0.1/32 -j RETURN",
            $"for port in {ports}; do iptables -t nat -A AEGIS_OUTPUT -p tcp --dport \"$port\" -j REDIRECT --to-ports {options.ProxyPort}; done",
            "iptables -t nat -A OUTPUT -p tcp -j AEGIS_OUTPUT");
        return new JsonObject
        {
            ["name"] = SidecarOptions.InitContainerName,
            ["image"] = options.InitImage,
            ["imagePullPolicy"] = "IfNotPresent",
            ["command"] = new JsonArray("sh", "-c", script),
            ["resources"] = new JsonObject
            {
                ["requests"] = new JsonObject { ["cpu"] = "10m", ["memory"] = "16Mi" },
                ["limits"] = new JsonObject { ["cpu"] = "100m", ["memory"] = "64Mi" },
            },
            ["securityContext"] = new JsonObject
            {
                // iptables needs root and NET_ADMIN in the pod's network namespace, and nothing else.
                ["runAsUser"] = 0,
                ["runAsNonRoot"] = false,
                ["readOnlyRootFilesystem"] = true,
                ["allowPrivilegeEscalation"] = false,
                ["privileged"] = false,
                ["capabilities"] = new JsonObject { ["add"] = new JsonArray("NET_ADMIN", "NET_RAW"), ["drop"] = new JsonArray("ALL") },
            },
        };
    }

    /// <summary>Aegis owns the proxy variables: a value the pod set for them is replaced, so traffic cannot be steered past the sidecar by accident.</summary>
    private void EnsureProxyEnvironment(JsonArray patch, string path, JsonObject container)
    {
        var wanted = ProxyVariables.Select(n => (Name: n, Value: options.ProxyUrl))
            .Concat(NoProxyVariables.Select(n => (Name: n, Value: string.Join(',', options.NoProxy))))
            .ToList();
        if (container["env"] is not JsonArray env)
        {
            Add(patch, path + "/env", new JsonArray([.. wanted.Select(w => (JsonNode)EnvVar(w.Name, w.Value))]));
            return;
        }

        foreach (var (name, value) in wanted)
        {
            var index = env.Select((e, i) => (e, i)).FirstOrDefault(p => p.e?["name"]?.ToString() == name, (null, -1)).Item2;
            if (index < 0)
            {
                Add(patch, path + "/env/-", EnvVar(name, value));
            }
            else if (!JsonNode.DeepEquals(env[index], EnvVar(name, value)))
            {
                patch.Add(new JsonObject { ["op"] = "replace", ["path"] = $"{path}/env/{index}", ["value"] = EnvVar(name, value) });
            }
        }
    }

    private static JsonObject EnvVar(string name, string value) => new() { ["name"] = name, ["value"] = value };

    private static JsonObject ToObject(Dictionary<string, string> entries) => new(entries.Select(e => KeyValuePair.Create(e.Key, (JsonNode?)JsonValue.Create(e.Value))));

    private static void Add(JsonArray patch, string path, JsonNode value) => patch.Add(new JsonObject { ["op"] = "add", ["path"] = path, ["value"] = value });

    /// <summary>RFC 6901: '~' and '/' in a key become ~0 and ~1.</summary>
    private static string Escape(string key) => key.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal);
}
