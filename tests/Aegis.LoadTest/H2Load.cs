using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;

namespace Aegis.LoadTest;

/// <summary>Runs h2load once and reads latencies from its per-request log.</summary>
internal static class H2Load
{
    public static async Task<Result> RunAsync(string h2load, string server, string scenario, string url, int clients, int streams, int rps, int duration, string body, string dir, IEnumerable<string> headers)
    {
        var log = Path.Combine(dir, $"{scenario}-{server}.tsv");
        var psi = new ProcessStartInfo(h2load) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-t", "1", "-c", clients.ToString(CultureInfo.InvariantCulture), "-m", streams.ToString(CultureInfo.InvariantCulture), "-D", duration.ToString(CultureInfo.InvariantCulture), "--warm-up-time", "2",
            "-d", body, "--log-file", log, url })
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var header in headers)
        {
            psi.ArgumentList.Add("-H");
            psi.ArgumentList.Add(header);
        }

        if (rps > 0)
        {
            // --rps is per client: clients x rps is the fixed total rate.
            psi.ArgumentList.Insert(0, "--rps=" + rps.ToString(CultureInfo.InvariantCulture));
        }

        using var process = Process.Start(psi)!;
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        var latencies = File.ReadLines(log).Select(l => l.Split('\t')).Where(c => c.Length >= 3).ToList();
        var ok = latencies.Where(c => c[1] == "200").Select(c => double.Parse(c[2], CultureInfo.InvariantCulture)).Order().ToArray();
        var failed = latencies.Count - ok.Length + Number(output, @"requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed");
        var perSecond = double.Parse(Regex.Match(output, @"finished in [\d.]+s, ([\d.]+) req/s").Groups[1].Value, CultureInfo.InvariantCulture);
        return new Result(scenario, server, latencies.Count, failed, perSecond, Percentile(ok, 0.50), Percentile(ok, 0.99), Percentile(ok, 0.999));

        static long Number(string text, string pattern) => Regex.Match(text, pattern) is { Success: true } m ? long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;

        static double Percentile(double[] sorted, double p) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];
    }
}
