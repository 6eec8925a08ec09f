using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Loading;
using Aegis.Policy.Resources;
using Aegis.Policy.Signing;
using Aegis.TestSupport;
using BenchmarkDotNet.Attributes;

namespace Aegis.Benchmarks;

/// <summary>
/// The control-plane and bundle-load paths for 1,000 policies of 10 rules (with CEL conditions):
/// YAML load and validation, compile + sign + pack, verify, and compiling the verified bundle for evaluation.
/// </summary>
[MemoryDiagnoser]
[MedianColumn]
public class BundleBenchmarks
{
    private string _yaml = null!;
    private List<AegisObject> _objects = null!;
    private byte[] _archive = null!;
    private BundleVerifier _verifier = null!;
    private VerifiedBundle _verified = null!;
    private LocalEd25519Signer _signer = null!;

    [GlobalSetup]
    public void Setup()
    {
        _yaml = SyntheticPolicies.Yaml("bench", 1000, 10, withCel: true);
        _objects = PolicyFixtures.LoadValid(_yaml).Objects;
        _signer = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        _verifier = new BundleVerifier(new JsonWebKeySet([_signer.PublicJwk]));
        _archive = CompileAndSign();
        _verified = _verifier.Verify(_archive).Bundle ?? throw new InvalidOperationException("benchmark bundle does not verify");
    }

    [GlobalCleanup]
    public void Cleanup() => _signer.Dispose();

    [Benchmark(Description = "load+validate YAML, 1,000 policies")]
    public LoadResult LoadYaml() => ManifestLoader.LoadText(_yaml, "bench.yaml");

    [Benchmark(Description = "compile+sign+pack, 1,000 policies")]
    public byte[] CompileAndSign() =>
        BundleArchive.SignAndPackAsync(BundleCompiler.Compile("bench", _objects), _signer).GetAwaiter().GetResult();

    [Benchmark(Description = "verify bundle, 1,000 policies")]
    public BundleVerification Verify() => _verifier.Verify(_archive);

    [Benchmark(Description = "compile verified bundle for evaluation, 1,000 policies")]
    public PolicySet LoadPolicySet() => PolicySet.Load(_verified.Data, _verified.Revision);
}
