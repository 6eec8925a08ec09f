using System.Net;
using System.Text;
using Aegis.Decision.Hosting;
using Aegis.Decision.Protos.Envoy.Config.Core.V3;
using Aegis.Decision.Protos.Envoy.Service.ExtProc.V3;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace Aegis.Decision.Tests;

/// <summary>The drain of a running server: what is refused once it begins, and what is cut at its deadline.</summary>
public class ShutdownDrainTests
{
    [Fact]
    public async Task Drain_Begun_ReadinessFalseNewCallsRefusedProbesStillAnswer()
    {
        await using var f = await ServerFixture.StartAsync();
        var token = await f.TokenAsync();
        Assert.Equal(HttpStatusCode.OK, (await f.Http.GetAsync("/readyz")).StatusCode);

        f.Server.App.Services.GetRequiredService<ShutdownGate>().Begin();

        using var readyz = await f.Http.GetAsync("/readyz");
        Assert.Equal((HttpStatusCode.ServiceUnavailable, "not ready: shutting down\n"), (readyz.StatusCode, await readyz.Content.ReadAsStringAsync()));
        Assert.Equal(HttpStatusCode.OK, (await f.Http.GetAsync("/healthz")).StatusCode);
        using var decide = await f.Http.PostAsync("/v1/decide", new StringContent("""{"tool":"x"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, decide.StatusCode);
        Assert.Contains("\"reason\":\"shutting_down\"", await decide.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var refused = await Assert.ThrowsAsync<RpcException>(async () => await f.Client.CheckAsync(ServerFixture.Check(token, tool: "stripe.transfer", body: """{"amount":1}""")));
        Assert.Equal((StatusCode.Unavailable, ShutdownGate.ShuttingDown), (refused.StatusCode, refused.Status.Detail));
    }

    [Fact]
    public async Task DrainAsync_ExtProcStreamStillOpenAtTheDeadline_IsCutAndReportedNotDrained()
    {
        await using var f = await ServerFixture.StartAsync();
        using var call = f.ExtProc.Process();
        var headers = new HeaderMap();
        headers.Headers.Add(new HeaderValue { Key = ":method", Value = "GET" });
        headers.Headers.Add(new HeaderValue { Key = ":path", Value = "/" });
        await call.RequestStream.WriteAsync(new ProcessingRequest { RequestHeaders = new HttpHeaders { Headers = headers, EndOfStream = true } });
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None), "the stream is open and answering");

        var drained = await f.Server.DrainAsync(TimeSpan.FromMilliseconds(300));

        Assert.False(drained);
        await Assert.ThrowsAsync<RpcException>(async () => await call.ResponseStream.MoveNext(CancellationToken.None));
    }

    [Fact]
    public async Task DrainAsync_NothingInFlight_StopsAtOnceAndReportsDrained()
    {
        await using var f = await ServerFixture.StartAsync();

        var drain = f.Server.DrainAsync(TimeSpan.FromMinutes(5));

        Assert.True(await drain.WaitAsync(TimeSpan.FromSeconds(30)));
        await Assert.ThrowsAsync<HttpRequestException>(() => f.Http.GetAsync("/healthz"));
    }
}
