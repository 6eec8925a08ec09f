using Aegis.Decision.Hosting;
using Aegis.Policy.Signing;
using Aegis.TestSupport;

namespace Aegis.Decision.Tests;

public class AuditKeyTests
{
    [Theory]
    [InlineData(KeyPurpose.Bundle)]
    [InlineData(KeyPurpose.Token)]
    public void Build_AuditSignerOfAnotherPurpose_Refused(KeyPurpose purpose)
    {
        using var dir = new TempDirectory();
        using var signer = LocalEd25519Signer.Generate(purpose);
        File.WriteAllText(Path.Combine(dir.Path, "jwks.json"), TestKeys.Jwks.ToJson());

        var e = Assert.Throws<ArgumentException>(() => DecisionServer.Build(new DecisionServerOptions
        {
            BundleDirectory = dir.Path,
            JwksPath = Path.Combine(dir.Path, "jwks.json"),
            Audit = new Aegis.Decision.Audit.DecisionAuditOptions { Log = new() { Directory = Path.Combine(dir.Path, "audit"), Replica = "r1", Signer = signer } },
            GrpcPort = 0,
            HttpPort = 0,
        }));

        Assert.Contains("must be an audit key", e.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, "audit")));
    }
}
