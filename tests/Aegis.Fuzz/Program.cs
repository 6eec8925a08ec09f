using Aegis.Fuzz;

// aegis-fuzz TARGET                 run under afl-fuzz (SharpFuzz's out-of-process protocol; input on stdin or @@)
// aegis-fuzz TARGET --replay PATH.. run files or folders in process; exit 1 on the first crash, printing it
// aegis-fuzz --list                 the target names
// aegis-fuzz --write-seeds CORPUS   write the seeds built in code (protobuf, bundles, tokens, reviews) into CORPUS
if (args.Length == 1 && args[0] == "--list")
{
    foreach (var name in FuzzTargets.All.Keys)
    {
        Console.WriteLine(name);
    }

    return 0;
}

if (args.Length == 2 && args[0] == "--write-seeds")
{
    // One-off: regenerates the built seeds into corpus/ (the checked-in corpus is what the replay test reads).
    SeedCorpus.Write(args[1], Path.GetFullPath(Path.Combine(args[1], "..", "..", "..")));
    return 0;
}

if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    Console.Error.WriteLine($"usage: Aegis.Fuzz TARGET [--replay PATH...]; targets: {string.Join(", ", FuzzTargets.All.Keys)}");
    return 2;
}

if (args.Length >= 2 && args[1] == "--replay")
{
    var crashes = 0;
    foreach (var file in args.Skip(2).SelectMany<string, string>(p => Directory.Exists(p) ? Directory.EnumerateFiles(p, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal) : [p]))
    {
        if (target.Replay(File.ReadAllBytes(file)) is { } crash)
        {
            crashes++;
            Console.Error.WriteLine($"{file}: {crash}");
        }
    }

    return crashes == 0 ? 0 : 1;
}

// Instrumented code may only run inside the loop (its coverage map is AFL's shared memory, attached by Run), so the
// samples are compiled during the first input: AFL's generous -t covers that once.
SharpFuzz.Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target.Run(buffer.ToArray());
});
return 0;
