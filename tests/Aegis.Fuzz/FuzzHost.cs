using Aegis.Contracts.State;
using Aegis.Decision;
using Aegis.Decision.Bundles;
using Aegis.Decision.Identity;
using Aegis.Decision.Telemetry;
using Aegis.Policy.Bundles;
using Aegis.Policy.Decisions;
using Aegis.Policy.Identity;
using Aegis.Policy.Loading;
using Aegis.Policy.Signing;
using Aegis.State;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Fuzz;

/// <summary>
/// What the targets decide against, built once per process: the samples/ manifests compiled and signed into bundles,
/// a decision service over them with in-memory stores, and agent tokens, all at one fixed instant so every run of an
/// input takes the same path (AFL's stability) and no token ever expires mid-campaign.
/// </summary>
public sealed class FuzzHost
{
    private static readonly Lazy<FuzzHost> Shared = new(() => new FuzzHost());

    private FuzzHost()
    {
        Time = new FixedTime(new DateTimeOffset(2026, 1, 15, 12, 0, 0, TimeSpan.Zero));
        Signer = LocalEd25519Signer.Generate(KeyPurpose.Bundle);
        TokenSigner = LocalEd25519Signer.Generate(KeyPurpose.Token);
        Keys = new JsonWebKeySet([Signer.PublicJwk, TokenSigner.PublicJwk]);
        var load = ManifestLoader.LoadPaths([Path.Combine(RepositoryRoot(), "samples")]);
        if (!load.Succeeded)
        {
            throw new InvalidOperationException("samples/ must load: " + string.Join("; ", load.Errors));
        }

        Bundles = new BundleStore(() => Keys, Time, NullLogger<BundleStore>.Instance);
        foreach (var tenant in BundleCompiler.Tenants(load))
        {
            var content = BundleCompiler.Compile(tenant, load.Objects);
            Policies[tenant] = PolicySet.From(content);
            var archive = BundleArchive.SignAndPackAsync(content, Signer).GetAwaiter().GetResult();
            Archives[tenant] = archive;
            var offer = Bundles.Offer(tenant, archive, "fuzz");
            if (!offer.Accepted)
            {
                throw new InvalidOperationException($"{tenant}: the sample bundle was refused: {offer.Reason}");
            }
        }

        var tokenIds = new InMemoryTokenIdStore(Time);
        var revocations = new RevocationList(tokenIds, Time, NullLogger<RevocationList>.Instance) { MaxStaleness = Timeout.InfiniteTimeSpan };
        if (!revocations.RefreshAsync().GetAwaiter().GetResult())
        {
            throw new InvalidOperationException("the in-memory revocation list could not be read");
        }

        Tokens = new TokenValidator(() => Keys, Expected, revocations, Time);
        Decisions = new DecisionService(Bundles, Tokens, new DecisionState(new InMemoryBudgetStore(), new InMemoryRateLimiter(), tokenIds),
            new DecisionTelemetry(), Time, "eu-west-1");
        AcmeToken = Mint("acme", "payments-bot");
        GlobexToken = Mint("globex", "support-bot");
    }

    public static FuzzHost Instance => Shared.Value;

    public FixedTime Time { get; }

    /// <summary>The bundle key.</summary>
    public LocalEd25519Signer Signer { get; }

    /// <summary>The token key (a key of its own, as in production).</summary>
    public LocalEd25519Signer TokenSigner { get; }

    /// <summary>What tokens must say: the development issuer and the default audience.</summary>
    public static TokenExpectations Expected { get; } = new() { Issuer = AgentTokens.DevelopmentIssuer, Audience = AgentTokens.DefaultAudience };

    public JsonWebKeySet Keys { get; }

    public BundleStore Bundles { get; }

    public TokenValidator Tokens { get; }

    public DecisionService Decisions { get; }

    /// <summary>Each sample tenant's compiled policies (their tool catalogs read the calls).</summary>
    public Dictionary<string, PolicySet> Policies { get; } = new(StringComparer.Ordinal);

    /// <summary>Each sample tenant's signed bundle, as the operator would publish it.</summary>
    public Dictionary<string, byte[]> Archives { get; } = new(StringComparer.Ordinal);

    /// <summary>A valid token of acme's payments-bot (MCP and OpenAI ToolServers).</summary>
    public string AcmeToken { get; }

    /// <summary>A valid token of globex's support-bot (OpenAI, Anthropic and HTTP ToolServers).</summary>
    public string GlobexToken { get; }

    private string Mint(string tenant, string agent) =>
        AgentTokens.MintAsync(TokenSigner, new TokenGrant { Issuer = Expected.Issuer, Audience = Expected.Audience, Tenant = tenant, AgentId = agent, Org = "org", Scopes = ["fuzz"] }, Time.GetUtcNow(), AgentToken.MaxLifetime)
            .GetAwaiter().GetResult();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Aegis.Operator.sln")))
            {
                return dir.FullName;
            }
        }

        // A copy run outside the repository (make fuzz's instrumented folder) is told where it is.
        return Environment.GetEnvironmentVariable("AEGIS_REPOSITORY") ?? throw new InvalidOperationException("Aegis.Operator.sln not found above " + AppContext.BaseDirectory + "; set AEGIS_REPOSITORY");
    }
}

/// <summary>A clock that never moves.</summary>
public sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
