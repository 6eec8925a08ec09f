using System.Text.Json;
using Aegis.Policy.Decisions;
using Aegis.TestSupport;
using BenchmarkDotNet.Attributes;

namespace Aegis.Benchmarks;

/// <summary>
/// One decision against a tenant with 10 / 100 / 1,000 glob-matched rules (10 rules per policy), with and
/// without CEL conditions. The call matches the last rule of the last policy. <see cref="ColdTool"/> gives every
/// call a tool name never seen before, so the per-tool candidate list is computed by a scan of every rule
/// (what the first call of a new tool pays); otherwise the steady state of an agent calling its tools is measured.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class DecisionBenchmarks
{
    private const int ColdNames = 1_000_000;
    private PolicySet _set = null!;
    private DecisionInput _input = null!;
    private DecisionInput[] _coldInputs = [];
    private int _next;

    [Params(false, true)]
    public bool ColdTool { get; set; }

    [Params(10, 100, 1000)]
    public int Rules { get; set; }

    [Params(false, true)]
    public bool Cel { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var policies = Math.Max(1, Rules / 10);
        _set = PolicyFixtures.SetFor("bench", SyntheticPolicies.Yaml("bench", policies, Rules / policies, Cel));
        using var args = JsonDocument.Parse("""{"amount": 5, "currency": "USD", "memo": "invoice 4411"}""");
        _input = new DecisionInput
        {
            Tenant = "bench",
            Agent = new AgentIdentity("agent-1", "org", ["payments"]),
            Tool = $"svc{policies - 1}-{(Rules / policies) - 1}.call",
            Args = args.RootElement.Clone(),
            Region = "eu-west-1",
        };
        if (ColdTool)
        {
            // Far more distinct names than the memo keeps (10,000), so nearly every call scans.
            _coldInputs = [.. Enumerable.Range(0, ColdNames).Select(i => _input with { Tool = $"{_input.Tool}-{i}" })];
        }

        var check = DecisionEngine.Decide(_set, _input);
        if (check.Effect != Aegis.Policy.Resources.Effect.Allow || check.Rule is null)
        {
            throw new InvalidOperationException($"benchmark input does not reach its rule: {check.Effect} {check.Reason} {check.Message}");
        }
    }

    [Benchmark]
    public Decision Decide() => DecisionEngine.Decide(_set, ColdTool ? _coldInputs[_next++ % ColdNames] : _input);
}
