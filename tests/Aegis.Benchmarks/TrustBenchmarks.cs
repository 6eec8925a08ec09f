using System.Text.Json;
using Aegis.Policy.Matching;
using Aegis.Policy.Redaction;
using BenchmarkDotNet.Attributes;

namespace Aegis.Benchmarks;

/// <summary>
/// What closing the matching and redaction holes costs per call: normalising an egress destination (once per
/// decision with a request), and redacting tool arguments with every built-in detector over folded text.
/// </summary>
[MemoryDiagnoser]
public class TrustBenchmarks
{
    private static readonly Redactor All = new(Detectors.Names.Select(n => Detectors.Create(n, null)));
    private JsonDocument _args = null!;

    [GlobalSetup]
    public void Setup() => _args = JsonDocument.Parse("""
        {"customer": {"name": "Jane Roe", "email": "jane.roe@example.com", "ssn": 123456789, "note": "card 4111.1111.1111.1111, call +1 415 555 2671"},
         "amount": 1200, "currency": "USD", "memo": "invoice 4411 for March", "tags": ["priority", "vip"]}
        """);

    [GlobalCleanup]
    public void Cleanup() => _args.Dispose();

    [Benchmark(Description = "egress target: api.stripe.com:443 /v1/transfers?x=1")]
    public EgressTarget PlainDestination() => EgressTarget.Parse("api.stripe.com:443", "/v1/transfers?expand=customer");

    [Benchmark(Description = "egress target: API.Stripe.COM. /v1/%2e%2e//admin/./x")]
    public EgressTarget TrickyDestination() => EgressTarget.Parse("API.Stripe.COM.", "/v1/%2e%2e//admin/./x");

    [Benchmark(Description = "redact 5-field args, 5 detectors")]
    public string RedactArgs() => All.Redact(_args.RootElement, "args", [])!.ToJsonString();
}
