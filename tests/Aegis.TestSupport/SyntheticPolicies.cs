using System.Globalization;
using System.Text;

namespace Aegis.TestSupport;

/// <summary>Generates large, realistic policy sets for benchmarks and scale tests.</summary>
public static class SyntheticPolicies
{
    /// <summary>
    /// YAML for <paramref name="policies"/> AgentPolicies of tenant <paramref name="tenant"/>, each with
    /// <paramref name="rulesPerPolicy"/> rules matching tools "svc{policy}-{rule}.*" (prefix globs) and, when
    /// <paramref name="withCel"/>, a condition on args.amount. Agent "agent-1" is selected by every policy.
    /// </summary>
    public static string Yaml(string tenant, int policies, int rulesPerPolicy, bool withCel)
    {
        var sb = new StringBuilder();
        for (var p = 0; p < policies; p++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"""
                apiVersion: aegis.dev/v1alpha1
                kind: AgentPolicy
                metadata:
                  name: policy-{p:D4}
                  namespace: bench
                spec:
                  tenant: {tenant}
                  agents: ["agent-*"]
                  defaultEffect: deny
                  rules:

                """);
            for (var r = 0; r < rulesPerPolicy; r++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"""
                        - name: rule-{r:D4}
                          match:
                            tools: ["svc{p}-{r}.*"]

                    """);
                if (withCel)
                {
                    sb.Append(CultureInfo.InvariantCulture, $"      when: \"args.amount <= {r * 10}.0 && args.currency in ['USD', 'EUR']\"\n");
                }

                sb.Append(CultureInfo.InvariantCulture, $"      effect: {(r % 7 == 3 ? "deny" : "allow")}\n");
            }

            sb.Append("---\n");
        }

        return sb.ToString();
    }
}
