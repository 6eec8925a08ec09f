using Aegis.TestSupport;

namespace Aegis.Cli.Tests;

public class OperatorSigningTests
{
    private static string Kubeconfig(TempDirectory dir) => dir.Write("kubeconfig", """
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "http://127.0.0.1:1"}}]
        users: [{name: u, user: {token: t}}]
        contexts: [{name: x, context: {cluster: c, user: u}}]
        current-context: x
        """);

    [Theory]
    [InlineData("--signer aws-kms --kms-key arn:k1 --kms-token-key arn:k1", "--kms-token-key: must be a different KMS key from --kms-key")]
    [InlineData("--kms-token-key arn:k2", "only with --signer aws-kms or gcp-kms")]
    [InlineData("--signer gcp-kms --kms-key projects/p --kms-token-key projects/q --token-key {dir}/token-key.pem", "give one token key, not two")]
    [InlineData("--key {dir}/bundle-key.pem --token-key {dir}/bundle-key.pem", "each purpose needs a key of its own")]
    [InlineData("--key {dir}/token-key.pem --token-key {dir}/token-key.pem", "each purpose needs a key of its own")]
    public async Task Operator_OneKeyForTwoPurposes_RefusedBeforeServing(string flags, string message)
    {
        using var dir = new TempDirectory();
        await CliRun.RunAsync("keys", "generate", "--out", dir.Path);

        var run = await CliRun.RunAsync(["operator", "--kubeconfig", Kubeconfig(dir), "--no-webhook", "--http-tls", "off", .. flags.Replace("{dir}", dir.Path, StringComparison.Ordinal).Split(' ')]);

        Assert.Equal(2, run.ExitCode);
        Assert.Contains(message, run.Error, StringComparison.Ordinal);
    }
}
