using System.Text.RegularExpressions;
using Aegis.Policy.Conditions;
using Aegis.Policy.Matching;
using Aegis.Policy.Redaction;
using Aegis.Policy.Resources;
using Aegis.Policy.Values;

namespace Aegis.Policy.Loading;

/// <summary>Semantic checks on a bound object; each error names the field path and the reason.</summary>
public static partial class ResourceValidator
{
    [GeneratedRegex(ResourcePatterns.DnsLabel)]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex(ResourcePatterns.RuleName)]
    private static partial Regex RuleName();

    [GeneratedRegex(ResourcePatterns.Region)]
    private static partial Regex RegionName();

    [GeneratedRegex(ResourcePatterns.Approver)]
    private static partial Regex Approver();

    [GeneratedRegex(ResourcePatterns.Method)]
    private static partial Regex Method();

    [GeneratedRegex(ResourcePatterns.ServerUrl)]
    private static partial Regex ServerUrl();

    [GeneratedRegex(ResourcePatterns.ToolPrefix)]
    private static partial Regex ToolPrefix();

    [GeneratedRegex(ResourcePatterns.ToolName)]
    private static partial Regex ToolName();

    [GeneratedRegex(ResourcePatterns.Sha256Hex)]
    private static partial Regex Sha256Hex();

    /// <summary>Checks <paramref name="obj"/>; calls <paramref name="error"/>(fieldPath, reason) per problem.</summary>
    public static void Validate(AegisObject obj, Action<string, string> error)
    {
        ValidateMetadata(obj.Metadata, error);
        switch (obj)
        {
            case AgentPolicy p:
                ValidatePolicy(p.Spec, error);
                break;
            case AgentBudget b:
                ValidateBudget(b.Spec, error);
                break;
            case TenantRegion r:
                ValidateRegion(r.Spec, error);
                break;
            case ApprovalRequest a:
                ValidateApprovalRequest(a.Spec, error);
                break;
            case ToolServer t:
                ValidateToolServer(t, error);
                break;
        }
    }

    /// <summary>Checks name and namespace.</summary>
    public static void ValidateMetadata(ObjectMetadata metadata, Action<string, string> error)
    {
        if (string.IsNullOrEmpty(metadata.Name))
        {
            error("metadata.name", "is required");
        }
        else if (!DnsSubdomain().IsMatch(metadata.Name))
        {
            error("metadata.name", $"must be a DNS subdomain (lower-case letters, digits, '-', '.'), got \"{metadata.Name}\"");
        }

        if (metadata.Namespace is not null && !DnsLabel().IsMatch(metadata.Namespace))
        {
            error("metadata.namespace", $"must be a DNS label, got \"{metadata.Namespace}\"");
        }
    }

    private static void ValidateTenant(string tenant, Action<string, string> error)
    {
        if (string.IsNullOrEmpty(tenant))
        {
            error("spec.tenant", "is required");
        }
        else if (!DnsLabel().IsMatch(tenant))
        {
            error("spec.tenant", $"must be a DNS label (lower-case letters, digits, '-'), got \"{tenant}\"");
        }
    }

    private static void ValidatePolicy(AgentPolicySpec spec, Action<string, string> error)
    {
        ValidateTenant(spec.Tenant, error);
        ValidateGlobs(spec.Agents, "spec.agents", ignoreCase: false, error);
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < spec.Rules.Count; i++)
        {
            var rule = spec.Rules[i];
            var path = $"spec.rules[{i}]";
            if (string.IsNullOrEmpty(rule.Name))
            {
                error($"{path}.name", "is required");
            }
            else if (!RuleName().IsMatch(rule.Name))
            {
                error($"{path}.name", $"must be 1-63 letters, digits, '-', '_' or '.', got \"{rule.Name}\"");
            }
            else if (names.TryGetValue(rule.Name, out var first))
            {
                error($"{path}.name", $"duplicate rule name \"{rule.Name}\" (also spec.rules[{first}])");
            }
            else
            {
                names[rule.Name] = i;
            }

            ValidateMatch(rule.Match, $"{path}.match", error);
            if (rule.When is not null && !CelCondition.TryCompile(rule.When, out _, out var celError))
            {
                error($"{path}.when", celError);
            }

            if (rule.Effect == Effect.ApprovalNeeded)
            {
                if (rule.Approval is null)
                {
                    error($"{path}.approval", "is required when effect is approval_needed (who approves, and for how long)");
                }
                else
                {
                    ValidateApproval(rule.Approval, $"{path}.approval", error);
                }
            }
            else if (rule.Approval is not null)
            {
                error($"{path}.approval", "is only allowed when effect is approval_needed");
            }

            if (rule.Effect == Effect.Sanitize)
            {
                if (rule.Redact is null || rule.Redact.Count == 0)
                {
                    error($"{path}.redact", "must list at least one detector or pattern when effect is sanitize");
                }
                else
                {
                    for (var j = 0; j < rule.Redact.Count; j++)
                    {
                        ValidateRedaction(rule.Redact[j], $"{path}.redact[{j}]", error);
                    }
                }
            }
            else if (rule.Redact is not null)
            {
                error($"{path}.redact", "is only allowed when effect is sanitize");
            }
        }
    }

    private static void ValidateMatch(RuleMatch match, string path, Action<string, string> error)
    {
        if ((match.Tools is null || match.Tools.Count == 0) && match.Egress is null)
        {
            error(path, "must name tools or egress (use tools: [\"*\"] to match every tool)");
        }

        ValidateGlobs(match.Tools, $"{path}.tools", ignoreCase: false, error);
        if (match.Egress is { } egress)
        {
            if (egress.Hosts is null or { Count: 0 })
            {
                error($"{path}.egress.hosts", "must list at least one host (use \"*\" for every host)");
            }

            for (var i = 0; i < (egress.Hosts?.Count ?? 0); i++)
            {
                if (!HostPattern.TryCompile(egress.Hosts![i], out _, out var hostError))
                {
                    error($"{path}.egress.hosts[{i}]", hostError);
                }
            }

            for (var i = 0; i < (egress.Methods?.Count ?? 0); i++)
            {
                if (!Method().IsMatch(egress.Methods![i].ToUpperInvariant()))
                {
                    error($"{path}.egress.methods[{i}]", $"must be an HTTP method such as GET or POST, or \"*\", got \"{egress.Methods[i]}\"");
                }
            }

            ValidateGlobs(egress.Paths, $"{path}.egress.paths", ignoreCase: false, error);
            for (var i = 0; i < (egress.Paths?.Count ?? 0); i++)
            {
                if (egress.Paths![i] is { Length: > 0 } p && p[0] is not '/' and not '*')
                {
                    error($"{path}.egress.paths[{i}]", $"must start with '/' or '*', got \"{p}\"");
                }
            }
        }
    }

    private static void ValidateApproval(ApprovalSpec approval, string path, Action<string, string> error)
    {
        ValidateApprovers(approval.Approvers, $"{path}.approvers", error);
        if (approval.MaxBatch is < 1 or > 1000)
        {
            error($"{path}.maxBatch", $"must be 1 to 1000, got {approval.MaxBatch}");
        }

        if (approval.Ttl is not null && !GoDuration.TryParse(approval.Ttl, out _, out var ttlError))
        {
            error($"{path}.ttl", ttlError);
        }

        if (approval.Escalation is { } escalation)
        {
            if (!GoDuration.TryParse(escalation.After, out _, out var afterError))
            {
                error($"{path}.escalation.after", afterError);
            }

            ValidateApprovers(escalation.Approvers, $"{path}.escalation.approvers", error);
        }
    }

    private static void ValidateApprovers(List<string> approvers, string path, Action<string, string> error)
    {
        if (approvers.Count == 0)
        {
            error(path, "must list at least one approver (slack:<user id> or group:<name>)");
        }

        for (var i = 0; i < approvers.Count; i++)
        {
            if (!Approver().IsMatch(approvers[i]))
            {
                error($"{path}[{i}]", $"must be slack:<user id> (such as slack:U024BE7LH) or group:<name>, got \"{approvers[i]}\"");
            }
        }
    }

    private static void ValidateRedaction(RedactionSpec redaction, string path, Action<string, string> error)
    {
        if ((redaction.Detector is null ? 0 : 1) + (redaction.Pattern is null ? 0 : 1) + (redaction.Headers is null ? 0 : 1) != 1)
        {
            error(path, "must set exactly one of detector, pattern or headers");
            return;
        }

        if (redaction.Headers is { } headers)
        {
            if (headers.Count == 0)
            {
                error($"{path}.headers", "must list at least one header");
            }

            for (var i = 0; i < headers.Count; i++)
            {
                // The destination and Aegis's own credentials are not the rule's to rewrite.
                if (!HeaderName().IsMatch(headers[i]) || headers[i] is "host" || headers[i].StartsWith(':') || headers[i].StartsWith("x-aegis-", StringComparison.Ordinal))
                {
                    error($"{path}.headers[{i}]", $"must be a lower-case header name other than host, pseudo-headers and x-aegis-*; got \"{headers[i]}\"");
                }
            }
        }

        if (redaction.Detector is { } detector && !Detectors.Exists(detector))
        {
            error($"{path}.detector", $"must be one of {string.Join(", ", Detectors.Names)}; got \"{detector}\"");
        }

        if (redaction.Pattern is { } pattern && !Detectors.TryCreatePattern(pattern, redaction.Replacement, out _, out var patternError))
        {
            error($"{path}.pattern", patternError);
        }
    }

    [System.Text.RegularExpressions.GeneratedRegex("^[a-z0-9!#$%&'*+.^_`|~-]+$")]
    private static partial System.Text.RegularExpressions.Regex HeaderName();

    private static void ValidateBudget(AgentBudgetSpec spec, Action<string, string> error)
    {
        ValidateTenant(spec.Tenant, error);
        ValidateGlobs(spec.Agents, "spec.agents", ignoreCase: false, error);
        ValidateMoney(spec.Daily, "spec.daily", error);
        ValidateMoney(spec.Monthly, "spec.monthly", error);
        if (spec.Daily is null && spec.Monthly is null && spec.RateLimit is null)
        {
            error("spec", "must set daily, monthly or rateLimit (a budget with none of them limits nothing)");
        }

        if (spec.TimeZone is { } zone && !TimeZones.TryFind(zone, out _))
        {
            error("spec.timeZone", $"must be an IANA time zone such as \"Europe/Berlin\", got \"{zone}\"");
        }

        if (spec.OnExhausted == ExhaustedAction.Throttle && spec.Throttle is null)
        {
            error("spec.throttle", "is required when onExhausted is throttle");
        }

        if (spec.Throttle is { RequestsPerMinute: <= 0 })
        {
            error("spec.throttle.requestsPerMinute", "must be greater than zero");
        }

        if (spec.OnExhausted == ExhaustedAction.ApprovalNeeded)
        {
            if (spec.Approval is null)
            {
                error("spec.approval", "is required when onExhausted is approval_needed");
            }
            else
            {
                ValidateApproval(spec.Approval, "spec.approval", error);
            }
        }

        if (spec.RateLimit is { } rate)
        {
            if (rate.RequestsPerMinute <= 0)
            {
                error("spec.rateLimit.requestsPerMinute", "must be greater than zero");
            }

            if (rate.Burst is < 0)
            {
                error("spec.rateLimit.burst", "must not be negative");
            }
        }

        if (spec.Prices is not null)
        {
            error("spec.prices", "prices moved to ToolServer: list them under spec.prices of the ToolServer whose tools they price (docs/toolservers.md)");
        }
    }

    private static void ValidateToolServer(ToolServer server, Action<string, string> error)
    {
        var spec = server.Spec;
        ValidateTenant(spec.Tenant, error);
        if (string.IsNullOrEmpty(spec.Url))
        {
            error("spec.url", "is required (the upstream, such as https://mcp.example.com/mcp)");
        }
        else if (!Uri.TryCreate(spec.Url, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || !ServerUrl().IsMatch(spec.Url))
        {
            error("spec.url", $"must be an absolute http or https URL without user info, query or fragment, got \"{spec.Url}\"");
        }

        for (var i = 0; i < (spec.Hosts?.Count ?? 0); i++)
        {
            if (!HostPattern.TryCompile(spec.Hosts![i], out _, out var hostError))
            {
                error($"spec.hosts[{i}]", hostError);
            }
        }

        if (spec.ToolPrefix is { } prefix && !ToolPrefix().IsMatch(prefix))
        {
            error("spec.toolPrefix", $"must be at most 64 letters, digits, '_', '.' or '-', got \"{prefix}\"");
        }

        var llm = spec.Protocol is ToolProtocol.OpenAI or ToolProtocol.Anthropic;
        if (spec.Operations is not null && spec.Protocol != ToolProtocol.Http)
        {
            error("spec.operations", "are only allowed when protocol is http (the other protocols name their calls themselves)");
        }

        var operations = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < (spec.Operations?.Count ?? 0); i++)
        {
            var op = spec.Operations![i];
            var path = $"spec.operations[{i}]";
            if (!ToolName().IsMatch(op.Name))
            {
                error($"{path}.name", $"must be 1-128 letters, digits, '_', '.' or '-', got \"{op.Name}\"");
            }
            else if (operations.TryGetValue(op.Name, out var first))
            {
                error($"{path}.name", $"duplicate operation \"{op.Name}\" (also spec.operations[{first}])");
            }
            else
            {
                operations[op.Name] = i;
            }

            if (!Method().IsMatch(op.Method.ToUpperInvariant()) || op.Method == "*")
            {
                error($"{path}.method", $"must be an HTTP method such as GET or POST, got \"{op.Method}\"");
            }

            if (op.Path is not { Length: > 0 } opPath || opPath[0] != '/')
            {
                error($"{path}.path", $"must start with '/', got \"{op.Path}\"");
            }
            else if (!Glob.TryCompile(opPath, ignoreCase: false, out _, out var globError))
            {
                error($"{path}.path", $"\"{opPath}\" {globError}");
            }
        }

        for (var i = 0; i < (spec.Prices?.Count ?? 0); i++)
        {
            var price = spec.Prices![i];
            if (price.Tools.Count == 0)
            {
                error($"spec.prices[{i}].tools", "must list at least one tool");
            }

            ValidateGlobs(price.Tools, $"spec.prices[{i}].tools", ignoreCase: false, error);
            ValidateMoney(price.PerCall, $"spec.prices[{i}].perCall", error);
            foreach (var tool in price.Tools)
            {
                if (!tool.StartsWith(server.ToolPrefix, StringComparison.Ordinal) && !tool.StartsWith('*'))
                {
                    error($"spec.prices[{i}].tools", $"\"{tool}\" is not a tool of this server: its tools are named {server.ToolPrefix}<name>");
                }
            }
        }

        if (spec.Models is not null && !llm)
        {
            error("spec.models", "are only allowed when protocol is openai or anthropic");
        }

        for (var i = 0; i < (spec.Models?.Count ?? 0); i++)
        {
            var model = spec.Models![i];
            if (!Glob.TryCompile(model.Match, ignoreCase: false, out _, out var globError))
            {
                error($"spec.models[{i}].match", $"\"{model.Match}\" {globError}");
            }

            ValidateMoney(model.InputPer1M, $"spec.models[{i}].inputPer1M", error);
            ValidateMoney(model.OutputPer1M, $"spec.models[{i}].outputPer1M", error);
        }

        if (spec.MaxOutputTokens is { } max)
        {
            if (!llm)
            {
                error("spec.maxOutputTokens", "is only allowed when protocol is openai or anthropic");
            }
            else if (max < 1)
            {
                error("spec.maxOutputTokens", "must be at least 1");
            }
        }
    }

    private static void ValidateRegion(TenantRegionSpec spec, Action<string, string> error)
    {
        ValidateTenant(spec.Tenant, error);
        if (spec.AllowedRegions.Count == 0)
        {
            error("spec.allowedRegions", "must list at least one region");
        }

        for (var i = 0; i < spec.AllowedRegions.Count; i++)
        {
            if (!RegionName().IsMatch(spec.AllowedRegions[i]))
            {
                error($"spec.allowedRegions[{i}]", $"must be a region name such as eu-west-1, got \"{spec.AllowedRegions[i]}\"");
            }
        }

        foreach (var (region, hosts) in spec.RegionHosts ?? [])
        {
            if (!RegionName().IsMatch(region))
            {
                error($"spec.regionHosts.{region}", $"must be keyed by a region name such as eu-west-1, got \"{region}\"");
            }

            for (var i = 0; i < hosts.Count; i++)
            {
                if (!HostPattern.TryCompile(hosts[i], out _, out var hostError))
                {
                    error($"spec.regionHosts.{region}[{i}]", hostError);
                }
            }
        }
    }

    private static void ValidateApprovalRequest(ApprovalRequestSpec spec, Action<string, string> error)
    {
        ValidateTenant(spec.Tenant, error);
        if (string.IsNullOrEmpty(spec.AgentId))
        {
            error("spec.agentId", "is required");
        }

        if (string.IsNullOrEmpty(spec.Tool))
        {
            error("spec.tool", "is required");
        }

        if (!Sha256Hex().IsMatch(spec.ArgsDigest))
        {
            error("spec.argsDigest", "must be the lower-case hex sha-256 of the canonical JSON arguments (64 characters)");
        }

        ValidateApprovers(spec.Approvers, "spec.approvers", error);
        if (!DateTimeOffset.TryParse(spec.ExpiresAt, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out _))
        {
            error("spec.expiresAt", $"must be an RFC 3339 time such as 2026-01-02T15:04:05Z, got \"{spec.ExpiresAt}\"");
        }
    }

    private static void ValidateMoney(string? value, string path, Action<string, string> error)
    {
        if (value is not null && !Money.TryParse(value, out _, out var moneyError))
        {
            error(path, moneyError);
        }
    }

    private static void ValidateGlobs(List<string>? patterns, string path, bool ignoreCase, Action<string, string> error)
    {
        for (var i = 0; i < (patterns?.Count ?? 0); i++)
        {
            if (!Glob.TryCompile(patterns![i], ignoreCase, out _, out var globError))
            {
                error($"{path}[{i}]", $"\"{patterns[i]}\" {globError}");
            }
        }
    }
}
