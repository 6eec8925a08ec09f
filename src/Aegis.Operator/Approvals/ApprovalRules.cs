using Aegis.Operator.Caching;
using Aegis.Operator.Tenants;
using Aegis.Policy.Loading;
using Aegis.Policy.Matching;
using Aegis.Policy.Resources;
using k8s.Models;

namespace Aegis.Operator.Approvals;

/// <summary>The approval a policy rule (or an AgentBudget's <c>onExhausted: approval_needed</c>) asks for.</summary>
public sealed record ApprovalRule(string Namespace, string Policy, string? Rule, ApprovalSpec Approval);

/// <summary>
/// Finds the approval a filed call refers to in the operator's own cache of policies and budgets, so the approvers,
/// TTL and channel come from the cluster and never from the caller; a rule that does not ask for approval of this
/// tool for this agent is refused, and so is a policy or budget its namespace does not bind to the agent's tenant.
/// </summary>
public sealed class ApprovalRules(InformerCache cache)
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
            if (Typed<AgentPolicy>(ns, name) is not { } agentPolicy || agentPolicy.Spec.Tenant != tenant)
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

        if (Typed<AgentBudget>(ns, name) is not { } budget || budget.Spec.Tenant != tenant)
        {
            error = $"AgentBudget {policy} of tenant \"{tenant}\" does not exist";
            return null;
        }

        error = budget.Spec.OnExhausted != ExhaustedAction.ApprovalNeeded || budget.Spec.Approval is null ? $"AgentBudget {policy} does not ask for approval"
            : !GlobSet.Of(budget.Spec.Agents).IsMatch(agentId) ? $"AgentBudget {policy} does not select agent \"{agentId}\""
            : "";
        return error.Length == 0 ? new ApprovalRule(ns, policy, null, budget.Spec.Approval!) : null;
    }

    /// <summary>The cached object when it is valid and its namespace binds it to the tenant it names; else null.</summary>
    private T? Typed<T>(string ns, string name)
        where T : AegisObject
    {
        var informer = cache.For<T>();
        if (informer.Get(ns, name) is not { } typed || informer.ReadError(ns, name) is not null
            || TenantBinding.Check(typed, cache.For<V1Namespace>().Get(null, ns)) is not null)
        {
            return null;
        }

        var valid = true;
        ResourceValidator.Validate(typed, (_, _) => valid = false);
        return valid ? typed : null;
    }
}
