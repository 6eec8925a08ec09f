using System.Text.Json.Nodes;
using Aegis.Policy.Loading;
using Aegis.Policy.Matching;
using Aegis.Policy.Resources;

namespace Aegis.Operator.Approvals;

/// <summary>The approval a policy rule (or an AgentBudget's <c>onExhausted: approval_needed</c>) asks for.</summary>
public sealed record ApprovalRule(string Namespace, string Policy, string? Rule, ApprovalSpec Approval);

/// <summary>
/// Finds the approval a filed call refers to in the operator's own cache of policies and budgets, so the approvers,
/// TTL and channel come from the cluster and never from the caller; a rule that does not ask for approval of this
/// tool for this agent is refused.
/// </summary>
public sealed class ApprovalRules(Func<string, IReadOnlyList<JsonObject>> snapshot)
{
    /// <summary>The rule, or null with the reason it cannot be used.</summary>
    public ApprovalRule? Find(string tenant, string agentId, string tool, string policy, string? rule, out string error)
    {
        var parts = policy.Split('/');
        if (parts is not [{ Length: > 0 } ns, { Length: > 0 } name])
        {
            error = $"policy \"{policy}\" is not namespace/name";
            return null;
        }

        if (rule is not null)
        {
            if (Typed<AgentPolicy>("agentpolicies", ns, name) is not { } agentPolicy || agentPolicy.Spec.Tenant != tenant)
            {
                error = $"AgentPolicy {policy} of tenant \"{tenant}\" does not exist";
                return null;
            }

            var found = agentPolicy.Spec.Rules.FirstOrDefault(r => r.Name == rule);
            error = found is null ? $"AgentPolicy {policy} has no rule \"{rule}\""
                : found.Effect != Effect.ApprovalNeeded || found.Approval is null ? $"rule \"{rule}\" of AgentPolicy {policy} does not ask for approval"
                : !GlobSet.Of(agentPolicy.Spec.Agents).IsMatch(agentId) ? $"AgentPolicy {policy} does not select agent \"{agentId}\""
                : found.Match.Tools is not { Count: > 0 } tools || !GlobSet.Of(tools).IsMatch(tool) ? $"rule \"{rule}\" of AgentPolicy {policy} does not match tool \"{tool}\""
                : "";
            return error.Length == 0 ? new ApprovalRule(ns, policy, rule, found!.Approval!) : null;
        }

        if (Typed<AgentBudget>("agentbudgets", ns, name) is not { } budget || budget.Spec.Tenant != tenant)
        {
            error = $"AgentBudget {policy} of tenant \"{tenant}\" does not exist";
            return null;
        }

        error = budget.Spec.OnExhausted != ExhaustedAction.ApprovalNeeded || budget.Spec.Approval is null ? $"AgentBudget {policy} does not ask for approval"
            : !GlobSet.Of(budget.Spec.Agents).IsMatch(agentId) ? $"AgentBudget {policy} does not select agent \"{agentId}\""
            : "";
        return error.Length == 0 ? new ApprovalRule(ns, policy, null, budget.Spec.Approval!) : null;
    }

    private T? Typed<T>(string plural, string ns, string name)
        where T : AegisObject
    {
        var json = snapshot(plural).FirstOrDefault(o => o["metadata"]?["namespace"]?.ToString() == ns && o["metadata"]?["name"]?.ToString() == name);
        if (json is null)
        {
            return null;
        }

        var load = ManifestLoader.LoadText(json.ToJsonString(), $"{plural} {ns}/{name}");
        return load.Succeeded && load.Objects is [T typed] ? typed : null;
    }
}
