using System.CommandLine;
using Aegis.Policy.Identity;
using Aegis.Policy.Signing;
using Aegis.Policy.Values;

namespace Aegis.Cli.Commands;

/// <summary><c>aegis token --agent ID --tenant T</c>: a development agent token signed with the local token key.</summary>
internal static class TokenCommand
{
    public static Command Create(CliConsole console)
    {
        var agent = new Option<string>("--agent") { Description = "Agent id (sub and agent_id claims)", Required = true };
        var tenant = new Option<string>("--tenant") { Description = "Tenant the agent belongs to", Required = true };
        var org = new Option<string?>("--org") { Description = "Organisation claim" };
        var scopes = new Option<string[]>("--scope") { Description = "Scope (repeatable)", AllowMultipleArgumentsPerToken = true };
        var ttl = new Option<string>("--ttl") { Description = "Lifetime, at most 15m", DefaultValueFactory = _ => "15m" };
        var issuer = new Option<string>("--issuer") { Description = "iss claim (what 'aegis serve --manifests' expects by default)", DefaultValueFactory = _ => AgentTokens.DevelopmentIssuer };
        var audience = new Option<string>("--audience") { Description = "aud claim (the decision servers' --token-audience)", DefaultValueFactory = _ => AgentTokens.DefaultAudience };
        var key = new Option<FileInfo>("--key") { Description = "The token key (PKCS#8 PEM)", DefaultValueFactory = _ => new FileInfo(Path.Combine(ServeCommand.DefaultStateDir, "keys", KeysCommand.KeyFile(KeyPurpose.Token))) };
        var command = new Command("token", "Mint a development agent token (EdDSA JWT) with the local token key") { agent, tenant, org, scopes, ttl, issuer, audience, key };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!GoDuration.TryParse(parse.GetValue(ttl), out var lifetime, out var error) || lifetime > AgentToken.MaxLifetime)
            {
                console.Error.WriteLine($"--ttl: {(error.Length > 0 ? error : "must be at most 15m")}");
                return AegisCommand.BadInput;
            }

            using var signer = KeyFiles.LoadSigner(parse.GetValue(key)!, KeyPurpose.Token, null, console);
            if (signer is null)
            {
                console.Error.WriteLine("run 'aegis keys generate --out .aegis/keys' or 'aegis serve' first, or pass --key");
                return AegisCommand.BadInput;
            }

            var token = await AgentTokens.MintAsync(signer, new TokenGrant
            {
                Issuer = parse.GetValue(issuer)!,
                Audience = parse.GetValue(audience)!,
                Tenant = parse.GetValue(tenant)!,
                AgentId = parse.GetValue(agent)!,
                Org = parse.GetValue(org),
                Scopes = parse.GetValue(scopes) ?? [],
            }, DateTimeOffset.UtcNow, lifetime, cancellationToken).ConfigureAwait(false);
            console.Out.WriteLine(token);
            return 0;
        });
        return command;
    }
}
