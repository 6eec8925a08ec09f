using Aegis.Decision.Audit;
using Aegis.Decision.Audit.Archive;
using Aegis.Policy.Audit;
using Aegis.TestSupport;
using Aegis.TestSupport.Storage;
using Amazon.Runtime;
using Amazon.S3;
using Google.Apis.Auth.OAuth2;
using Google.Cloud.Storage.V1;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aegis.Decision.Tests.Audit;

/// <summary>Closed segments uploaded through the real AWS SDK and Google client to the in-process S3 and GCS fakes.</summary>
public class AuditArchiveTests
{
    private static readonly AuditKeys Keys = AuditKeys.Parse(AuditKeys.Jwks(TestKeys.AuditSigner.PublicJwk));

    private static IAmazonS3 S3(S3TestServer server) => new AmazonS3Client(
        new BasicAWSCredentials(server.AccessKey, server.SecretKey),
        new AmazonS3Config { ServiceURL = server.Url, ForcePathStyle = true, AuthenticationRegion = "eu-west-1", MaxErrorRetry = 0 });

    private static async Task<StorageClient> GcsAsync(GcsTestServer server) =>
        await new StorageClientBuilder { BaseUri = server.Url + "/storage/v1/", Credential = GoogleCredential.FromAccessToken(server.AccessToken) }.BuildAsync();

    /// <summary>Runs a replica that rotates every 4 KiB through 40 decisions and stops; returns its folder's segment paths.</summary>
    private static async Task<(List<string> Segments, AuditArchiveStatus Status)> RunAsync(string dir, IAuditArchive archive, string replica = "decision-0")
    {
        AuditArchiveStatus status;
        await using (var pipeline = AuditPipeline.Start(new DecisionAuditOptions
        {
            Log = new() { Directory = dir, Replica = replica, Signer = TestKeys.AuditSigner, SegmentMaxBytes = 4096 },
            Archive = archive,
            Retention = TimeSpan.FromDays(30),
            ArchiveDrainTimeout = TimeSpan.FromSeconds(2),
        }, TimeProvider.System, NullLoggerFactory.Instance))
        {
            for (var i = 0; i < 40; i++)
            {
                await pipeline.Log.AppendAsync(new AuditEntry { Time = DateTimeOffset.UnixEpoch, DecisionId = $"{replica}-d{i}", Effect = "allow", Reason = "rule_matched", Tool = "stripe.transfer" });
            }

            await Eventually.TrueAsync(() => pipeline.Archive!.Status is { Pending: 0, Uploaded: > 0 } or { Failures: > 0 }, "the closed segments uploaded, or refused");
            status = pipeline.Archive!.Status;
        }

        return ([.. Directory.GetFiles(dir, "*.jsonl").Order(StringComparer.Ordinal)], status);
    }

    [Fact]
    public async Task S3_ClosedSegments_AreUploadedOnceUnderComplianceObjectLock_AndVerifyFromTheBucket()
    {
        await using var server = await S3TestServer.StartAsync();
        server.CreateBucket("audit", versioned: true, objectLock: true);
        var archive = new S3AuditArchive(S3(server), "audit", "aegis/", ObjectLockMode.Compliance);
        using var dir = new TempDirectory();

        var (segments, _) = await RunAsync(dir.Path, archive);

        // Every segment, the one closed at shutdown included, is in the bucket under Object Lock.
        Assert.True(segments.Count >= 3, $"{segments.Count} segments");
        Assert.All(segments, s => Assert.True(File.Exists(s + ".uploaded"), s));
        var stored = await archive.ListAsync("", CancellationToken.None);
        Assert.Equal(segments.Select(s => "aegis/decision-0/" + Path.GetFileName(s)), stored.Select(o => o.Key));
        foreach (var segment in segments)
        {
            var key = "aegis/decision-0/" + Path.GetFileName(segment);
            Assert.Equal(File.ReadAllBytes(segment), await archive.GetAsync(key, CancellationToken.None));
            var (mode, until) = server.Lock("audit", key)!.Value;
            Assert.Equal("COMPLIANCE", mode);
            Assert.InRange(until, DateTimeOffset.UtcNow.AddDays(29), DateTimeOffset.UtcNow.AddDays(31));
        }

        var sources = new List<AuditSource>();
        foreach (var o in stored)
        {
            sources.Add(new AuditSource("s3://audit/" + o.Key, (await archive.GetAsync(o.Key, CancellationToken.None))!));
        }

        var report = AuditVerifier.Verify(sources, Keys);
        Assert.True(report.Valid, string.Join("\n", report.Problems));
        Assert.Equal((40L, true), (report.Replicas.Single().Records, report.Replicas.Single().Closed));
    }

    [Fact]
    public async Task S3_BucketWithoutObjectLock_IsRefusedAndRetried_NothingMarkedUploaded()
    {
        await using var server = await S3TestServer.StartAsync();
        server.CreateBucket("audit", versioned: true);
        var archive = new S3AuditArchive(S3(server), "audit", "aegis/", ObjectLockMode.Compliance);

        var error = await Assert.ThrowsAsync<AuditArchiveException>(() => archive.PutOnceAsync("aegis/x/a.jsonl", "{}\n"u8.ToArray(), DateTimeOffset.UtcNow.AddDays(1), CancellationToken.None));

        Assert.Contains("Bucket is missing Object Lock Configuration", error.Message, StringComparison.Ordinal);
        using var dir = new TempDirectory();
        var (segments, status) = await RunAsync(dir.Path, archive);
        Assert.True(status.Failures > 0);
        Assert.All(segments, s => Assert.False(File.Exists(s + ".uploaded"), s));
    }

    [Fact]
    public async Task S3_SameKeyTwice_IsWrittenOnce()
    {
        await using var server = await S3TestServer.StartAsync();
        server.CreateBucket("audit", versioned: true, objectLock: true);
        var archive = new S3AuditArchive(S3(server), "audit", "", ObjectLockMode.Governance);

        Assert.True(await archive.PutOnceAsync("r/a.jsonl", "{\"a\":1}\n"u8.ToArray(), DateTimeOffset.UtcNow.AddDays(1), CancellationToken.None));
        Assert.False(await archive.PutOnceAsync("r/a.jsonl", "{\"a\":2}\n"u8.ToArray(), DateTimeOffset.UtcNow.AddDays(1), CancellationToken.None));

        Assert.Single(server.Versions("audit", "r/a.jsonl"));
        Assert.Equal("GOVERNANCE", server.Lock("audit", "r/a.jsonl")!.Value.Mode);
    }

    [Fact]
    public async Task Gcs_ClosedSegments_AreHeldByTheBucketsLockedRetention_AndVerifyFromTheBucket()
    {
        await using var server = await GcsTestServer.StartAsync();
        server.CreateBucket("audit", retention: TimeSpan.FromDays(400));
        var archive = new GcsAuditArchive(await GcsAsync(server), "audit", "aegis/");
        using var dir = new TempDirectory();

        var (segments, _) = await RunAsync(dir.Path, archive, "decision-1");

        Assert.All(segments, s => Assert.True(File.Exists(s + ".uploaded"), s));
        var stored = await archive.ListAsync("decision-1/", CancellationToken.None);
        Assert.Equal(segments.Count, stored.Count);
        var sources = new List<AuditSource>();
        foreach (var o in stored)
        {
            sources.Add(new AuditSource("gs://audit/" + o.Key, (await archive.GetAsync(o.Key, CancellationToken.None))!));
        }

        Assert.True(AuditVerifier.Verify(sources, Keys).Valid);

        // Write-once: the same name is not written again, and the retention policy refuses replacing it.
        Assert.False(await archive.PutOnceAsync(stored[0].Key, "{}\n"u8.ToArray(), DateTimeOffset.UtcNow.AddDays(30), CancellationToken.None));
        Assert.Single(server.Generations("audit", stored[0].Key));
    }

    [Fact]
    public async Task Gcs_BucketWithoutRetention_IsRefusedAsNotWriteOnce()
    {
        await using var server = await GcsTestServer.StartAsync();
        server.CreateBucket("audit");
        var archive = new GcsAuditArchive(await GcsAsync(server), "audit", "");

        var error = await Assert.ThrowsAsync<AuditArchiveException>(() => archive.PutOnceAsync("r/a.jsonl", "{}\n"u8.ToArray(), DateTimeOffset.UtcNow.AddDays(30), CancellationToken.None));

        Assert.Contains("give the bucket a locked retention policy", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("s3://audit-bucket/aegis", "s3", "audit-bucket", "aegis/")]
    [InlineData("gs://audit-bucket", "gs", "audit-bucket", "")]
    [InlineData("gs://audit-bucket/a/b/", "gs", "audit-bucket", "a/b/")]
    public void ArchiveAddress_Valid_Splits(string url, string scheme, string bucket, string prefix)
    {
        Assert.True(ArchiveAddress.TryParse(url, out var s, out var b, out var p, out var error), error);
        Assert.Equal((scheme, bucket, prefix), (s, b, p));
    }

    [Theory]
    [InlineData("https://bucket/x")]
    [InlineData("s3://UPPER/x")]
    [InlineData("s3://")]
    public void ArchiveAddress_Invalid_SaysWhy(string url)
    {
        Assert.False(ArchiveAddress.TryParse(url, out _, out _, out _, out var error));
        Assert.Contains(url.Contains("://", StringComparison.Ordinal) && url.StartsWith("s3", StringComparison.Ordinal) ? "is not a bucket name" : "is not an s3://", error, StringComparison.Ordinal);
    }
}
