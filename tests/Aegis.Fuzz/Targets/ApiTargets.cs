using Aegis.Decision.Api;
using Microsoft.AspNetCore.Http;

namespace Aegis.Fuzz.Targets;

/// <summary>
/// A <c>POST /v1/decide</c> body from an orchestrator, read and decided exactly as the endpoint does (400 with
/// <c>request_malformed</c> for what is not an input); no exception is named.
/// </summary>
internal static class ApiTargets
{
    public static void Decide(byte[] input)
    {
        var host = FuzzHost.Instance;
        var http = new DefaultHttpContext();
        http.Request.Body = new MemoryStream(input, writable: false);
        http.Request.ContentLength = input.Length;
        http.Request.Headers.Authorization = "Bearer " + host.AcmeToken;
        var (document, _) = DecisionApi.ReadJsonAsync(http.Request, CancellationToken.None).GetAwaiter().GetResult();
        if (document is null)
        {
            return;
        }

        using (document)
        {
            if (DecisionApi.TryRead(document.RootElement, http.Request, out var request, out _))
            {
                var outcome = host.Decisions.DecideAsync(request).GetAwaiter().GetResult();
                FuzzTarget.NoInternalError(outcome.Reason, outcome.Message);
                using (outcome.Call)
                {
                    _ = DecisionApi.OutcomeJson(outcome);
                }
            }
        }
    }
}
