using System.Text.Json;
using Aegis.Policy.Decisions;
using Aegis.Policy.Redaction;

namespace Aegis.Decision.Audit;

/// <summary>The arguments an audit record may carry: none unless the deciding policy opted in, and then redacted.</summary>
public static class AuditArgs
{
    /// <summary>
    /// The redacted arguments as JSON text when policy <paramref name="policyId"/> of <paramref name="policies"/> has
    /// spec.audit.includeArgs; null otherwise. A sanitize decision's own redaction is used when there is one, else
    /// every redactor of the policy's sanitize rules is applied.
    /// </summary>
    public static string? ForPolicy(PolicySet? policies, string? policyId, JsonElement? args, Aegis.Policy.Decisions.Decision? decision)
    {
        if (policies is null || policyId is null || args is not { } value)
        {
            return null;
        }

        CompiledPolicy? policy = null;
        foreach (var p in policies.Policies)
        {
            if (p.Id == policyId)
            {
                policy = p;
                break;
            }
        }

        if (policy is not { AuditIncludesArgs: true })
        {
            return null;
        }

        if (decision?.RedactedArgs is { } redacted)
        {
            return redacted.ToJsonString();
        }

        var redactors = policy.Rules.Where(r => r.Redactor is not null).Select(r => r.Redactor!).ToList();
        return redactors.Count == 0
            ? value.GetRawText()
            : Redactor.RedactAll(value, redactors, "args", []) is { } node ? node.ToJsonString() : "null";
    }
}
