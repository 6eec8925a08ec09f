using Aegis.Cli;

return await AegisCommand.RunAsync(args, Console.Out, Console.Error).ConfigureAwait(false);
